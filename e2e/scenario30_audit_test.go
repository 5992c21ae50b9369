package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aggauth/aggauth/e2e/cluster"
	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// TestScenario30AuditThroughTheAggregator: the example server runs with
// --audit-policy-file and --audit-log-path. A kubectl create through
// kube-apiserver appears in the extension's own audit log with the audit ID
// kube-apiserver gave the request (its own log has the same), the caller as
// kube-apiserver authenticated it, the authorization decision and the
// response code, which kube-apiserver's log cannot record for an aggregated
// request (it never sees the extension's response).
func TestScenario30AuditThroughTheAggregator(t *testing.T) {
	dir := t.TempDir()
	policy, logPath := filepath.Join(dir, "policy.yaml"), filepath.Join(dir, "audit.log")
	require.NoError(t, os.WriteFile(policy, []byte(demoapi.AuditPolicy), 0o600))
	e := newEnvOf(t, "nethttp", "--audit-policy-file="+policy, "--audit-log-path="+logPath)
	ctx := testContext(t)
	c := e.c
	const ns = "scenario30"
	createNamespace(ctx, t, c, ns)
	ada := newUser(t, c, "ada", "auditors")
	grantWidgets(ctx, t, c, ns, "scenario30-widgets", ada.Name, "create")

	out, _ := kubectl(ctx, t, c, ada.Kubeconfig, "create", "-f", writeFile(t, "w.yaml", demoapi.WidgetYAML(ns, "audited", "blue")))
	require.Equal(t, "widget.demo.aggauth.io/audited created", strings.TrimSpace(out))

	var apiserverID string
	events, err := c.AuditEvents()
	require.NoError(t, err)
	for _, ev := range events {
		if ev.Verb == "create" && ev.User.Username == "ada" && ev.ObjectRef != nil && ev.ObjectRef.Resource == "widgets" {
			apiserverID = ev.AuditID
		}
	}
	require.NotEmpty(t, apiserverID, "kube-apiserver audited the create")

	var got cluster.AuditEvent // the extension writes audit.k8s.io/v1 Events, as kube-apiserver
	eventually(ctx, t, 10*time.Second, "an event of the extension with kube-apiserver's audit ID "+apiserverID, func(context.Context) error {
		data, err := os.ReadFile(logPath)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if json.Unmarshal([]byte(line), &got) == nil && got.AuditID == apiserverID && got.Stage == "ResponseComplete" {
				return nil
			}
		}
		return fmt.Errorf("%d bytes of log, no such event", len(data))
	})
	assert.Equal(t, "ada", got.User.Username)
	assert.Contains(t, got.User.Groups, "auditors")
	assert.Equal(t, "create", got.Verb)
	assert.Equal(t, "widgets", got.ObjectRef.Resource)
	assert.Equal(t, ns, got.ObjectRef.Namespace)
	assert.Equal(t, int32(201), got.ResponseStatus.Code)
	assert.Equal(t, "allow", got.Annotations["authorization.k8s.io/decision"])
}
