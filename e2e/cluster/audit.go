package cluster

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AuditSubjectAccessReviews is an audit policy (Options.AuditPolicy) that
// records every SubjectAccessReview with its request and response bodies, and
// nothing else: who asked kube-apiserver to authorize whom.
const AuditSubjectAccessReviews = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: RequestResponse
  resources:
  - group: authorization.k8s.io
    resources: ["subjectaccessreviews"]
- level: None
`

// AuditEvent is the part of a kube-apiserver audit event (audit.k8s.io/v1
// Event) that tests read.
type AuditEvent struct {
	// AuditID is the request's audit ID, which kube-apiserver also sends
	// an aggregated apiserver (Audit-ID header) and its client.
	AuditID    string `json:"auditID"`
	Stage      string `json:"stage"`
	RequestURI string `json:"requestURI"`
	Verb       string `json:"verb"`
	User       struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"user"`
	ObjectRef *struct {
		Resource  string `json:"resource"`
		APIGroup  string `json:"apiGroup"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus *metav1.Status `json:"responseStatus"`
	// RequestObject and ResponseObject are the bodies, as JSON, when the
	// policy's level records them.
	RequestObject  json.RawMessage  `json:"requestObject"`
	ResponseObject json.RawMessage  `json:"responseObject"`
	Received       metav1.MicroTime `json:"requestReceivedTimestamp"`
	// Annotations are the event's annotations (the authorization decision).
	Annotations map[string]string `json:"annotations"`
}

func (c *Cluster) auditArgs() []string {
	if c.opts.AuditPolicy == "" {
		return nil
	}
	return []string{
		"--audit-policy-file=" + filepath.Join(c.dir, "audit-policy.yaml"),
		"--audit-log-path=" + c.AuditLogPath(),
		"--audit-log-format=json",
	}
}

// writeAuditPolicy writes Options.AuditPolicy where auditArgs points kube-apiserver.
func (c *Cluster) writeAuditPolicy() error {
	if c.opts.AuditPolicy == "" {
		return nil
	}
	return os.WriteFile(filepath.Join(c.dir, "audit-policy.yaml"), []byte(c.opts.AuditPolicy), 0o600)
}

// AuditLogPath is the file kube-apiserver writes its audit events to, one
// JSON object a line, when Options.AuditPolicy is set.
func (c *Cluster) AuditLogPath() string { return filepath.Join(c.LogDir(), "audit.log") }

// AuditEvents reads every audit event kube-apiserver has written so far, in
// the order written. A last line still being written is left out.
func (c *Cluster) AuditEvents() ([]AuditEvent, error) {
	if c.opts.AuditPolicy == "" {
		return nil, errors.New("cluster: no audit policy: set Options.AuditPolicy")
	}
	data, err := os.ReadFile(c.AuditLogPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1]
	} else {
		return nil, nil
	}
	var events []AuditEvent
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var e AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("cluster: audit log line %d: %w", n, err)
		}
		events = append(events, e)
	}
	return events, sc.Err()
}
