package audit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/internal/logs"
)

// ErrNotStored is returned by Begin in ModeBlockingStrict when the
// RequestReceived event could not be written: the request must then fail
// with 500, as Kubernetes fails it ("failed to store audit event").
var ErrNotStored = errors.New("failed to store audit event")

// Auditor writes the audit events of requests, from one policy to one log.
// Build it with New; a nil *Auditor is audit off, and all its methods (and
// those of the nil *Record it returns) do nothing. It is safe for concurrent
// use.
type Auditor struct {
	policy       *evaluator
	sink         sink
	m            *metrics
	log          *logs.Limited
	clock        func() time.Time
	legacy       bool
	truncate     bool
	maxEvent     int64
	recordBodies bool
	maxBody      int
}

// New returns the Auditor opts describe, or nil (and no error) when they turn
// audit off: no policy or no log. It reads the policy, opens the log and, in
// ModeBatch, starts the goroutine that writes it: Close stops it.
func New(opts Options) (*Auditor, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if !opts.enabled() {
		return nil, nil
	}
	o := opts.withDefaults()
	var p *auditinternal.Policy
	if o.Policy != nil {
		var err error
		if p, err = convertPolicy(o.Policy); err != nil {
			return nil, fmt.Errorf("audit: invalid policy: %w", err)
		}
	} else {
		var err error
		if p, err = loadPolicyFile(o.PolicyFile, o.Logger); err != nil {
			return nil, fmt.Errorf("loading audit policy file: %w", err)
		}
	}
	w, closer, err := openLog(o)
	if err != nil {
		return nil, err
	}
	a := &Auditor{policy: newEvaluator(p), m: newMetrics(), log: logs.NewLimited(o.Logger), clock: o.Clock,
		legacy: o.Format == FormatLegacy, truncate: o.Truncate.Enabled, maxEvent: o.Truncate.MaxEventSize,
		recordBodies: o.RecordBodies, maxBody: o.MaxBodyBytes}
	out := output{out: w, closer: closer, m: a.m, log: a.log}
	if o.Mode == ModeBatch {
		a.sink = newBatchSink(out, o.Batch)
	} else {
		a.sink = newBlockingSink(out, o.Mode == ModeBlockingStrict)
	}
	return a, nil
}

// Collectors returns Kubernetes' audit metrics, for the caller to register:
// apiserver_audit_event_total, apiserver_audit_error_total{plugin} (log: a
// write failed; buffered: the batch buffer was full or shut down; truncate:
// an event too large), apiserver_audit_level_total{level} and
// apiserver_audit_requests_rejected_total.
func (a *Auditor) Collectors() []prometheus.Collector {
	if a == nil {
		return nil
	}
	return a.m.collectors()
}

// Shutdown stops taking events, writes those taken (waiting for the writer as
// long as ctx allows: a stalled disk can hold it forever) and closes the log
// file. Events that come later are dropped and counted. It may be called more
// than once. (lumberjack, which rotates the file, leaves a goroutine of its
// own behind: natefinch/lumberjack#56; one per Auditor, as in Kubernetes.)
func (a *Auditor) Shutdown(ctx context.Context) error {
	if a == nil {
		return nil
	}
	return a.sink.shutdown(ctx)
}

// Close is Shutdown without a deadline.
func (a *Auditor) Close() error { return a.Shutdown(context.Background()) }

// Begin starts the audit of a request, where Kubernetes' WithAudit filter
// does: after authentication (u is the authenticated user, before any
// impersonation), before impersonation and authorization. It evaluates the
// policy for u and info and returns nil when the level is None: nothing else
// is then done for the request. Otherwise it writes the RequestReceived event
// and returns the request's Record.
//
// r gives the requestURI, the User-Agent and the sourceIPs (X-Forwarded-For,
// X-Real-Ip, RemoteAddr); info (required) the verb and objectRef. auditID is
// the request's Audit-ID (kube-apiserver's, so that both events share it),
// received the time the request was received (zero: now), longRunning
// whether it is (a watch, say): its ResponseStarted event is then written
// when the response starts.
//
// In ModeBlockingStrict, ErrNotStored says the RequestReceived event was not
// written and the request must fail with 500.
func (a *Auditor) Begin(r *http.Request, info *request.RequestInfo, u user.Info, auditID string,
	received time.Time, longRunning bool) (*Record, error) {
	if a == nil {
		return nil, nil
	}
	rec := a.newRecord(r, info, u, auditID, received, longRunning)
	if rec == nil {
		return nil, nil
	}
	rec.mu.Lock()
	ok := rec.process(auditv1.StageRequestReceived)
	rec.mu.Unlock()
	if !ok {
		a.m.rejected.Inc()
		return nil, ErrNotStored
	}
	return rec, nil
}

// FailedAuthentication starts the audit of a request refused by
// authentication, as Kubernetes' WithFailedAuthenticationAudit: the policy is
// evaluated without a user, and the only event is ResponseStarted, written
// when the 401 response starts (through Writer or ResponseStarted), with the
// Status the pipeline answers (SetResponseStatus). It returns nil when the
// level is None. Call it before the refusal is written, with the request as
// it came (its credentials name the methods that were tried).
func (a *Auditor) FailedAuthentication(r *http.Request, info *request.RequestInfo, auditID string, received time.Time) *Record {
	if a == nil {
		return nil
	}
	rec := a.newRecord(r, info, nil, auditID, received, true)
	if rec == nil {
		return nil
	}
	rec.failedAuthn = true
	rec.status = metav1.Status{Message: authMethods(r)}
	rec.ev.ResponseStatus = &rec.status
	return rec
}

// newRecord evaluates the policy and, unless the level is None, returns the
// record of the request, its metadata filled in.
func (a *Auditor) newRecord(r *http.Request, info *request.RequestInfo, u user.Info, auditID string, received time.Time,
	longRunning bool) *Record {
	if info == nil {
		panic("audit: a request without a RequestInfo")
	}
	if received.IsZero() { // as Kubernetes, without a received time in the context
		received = a.clock()
	}
	cfg := a.policy.evaluate(u, info)
	a.m.level[cfg.level].Inc()
	if cfg.level == auditv1.LevelNone {
		return nil
	}
	rec := &Record{a: a, cfg: cfg, longRunning: longRunning, bounded: unauthenticated(u)}
	rec.ev.Level = cfg.level
	rec.ev.AuditID = types.UID(auditID)
	fillMetadata(rec, r, info, u, received)
	if a.recordBodies && cfg.level != auditv1.LevelMetadata && !rec.bounded {
		rec.capture = &capture{max: a.maxBody, response: cfg.level == auditv1.LevelRequestResponse && !longRunning}
	}
	return rec
}

// emit encodes ev and hands it to the sink, truncating it first as
// Kubernetes' truncate plugin when enabled. It reports false only when the
// sink asks the request to fail.
func (a *Auditor) emit(ev *auditv1.Event, ann annotations) bool {
	bp := bufPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledBuf {
			bufPool.Put(bp)
		}
	}()
	line := appendEvent((*bp)[:0], ev, ann)
	if a.truncate && int64(len(line)) > a.maxEvent {
		if ordLevel(ev.Level) >= ordLevel(auditv1.LevelRequest) {
			ev, ann = truncated(ev, ann)
			line = appendEvent(line[:0], ev, ann)
		}
		if int64(len(line)) > a.maxEvent {
			*bp = line
			(&output{m: a.m, log: a.log}).fail(pluginTruncate, errors.New("event is too large even after truncating"))
			return true
		}
	}
	if a.legacy {
		line = appendLegacy(line[:0], ev)
	}
	*bp = line
	return a.sink.write(line)
}

// truncated returns a copy of ev without its objects, annotated
// audit.k8s.io/truncated=true. (Kubernetes' truncate plugin also writes the
// annotation into the original event's map, so that the request's later
// events carry it too; this copy has annotations of its own.)
func truncated(ev *auditv1.Event, ann annotations) (*auditv1.Event, annotations) {
	c := *ev
	c.RequestObject, c.ResponseObject = nil, nil
	if ann == nil {
		ann = annotationsOf(ev.Annotations)
	}
	c.Annotations = nil
	return &c, slices.Clone(ann).add(annotationTruncated, "true")
}

const annotationTruncated = "audit.k8s.io/truncated"

const maxPooledBuf = 64 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func ordLevel(l auditv1.Level) int {
	switch l {
	case auditv1.LevelMetadata:
		return 1
	case auditv1.LevelRequest:
		return 2
	case auditv1.LevelRequestResponse:
		return 3
	}
	return 0
}

// authMethods is Kubernetes' getAuthMethods: the Status message of a
// request refused by authentication, naming the credentials it carried.
func authMethods(r *http.Request) string {
	var methods []string
	if _, _, ok := r.BasicAuth(); ok {
		methods = append(methods, "basic")
	}
	// Kubernetes splits the header at every space; only the first counts.
	if scheme, _, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " "); ok && strings.EqualFold(scheme, "bearer") {
		methods = append(methods, "bearer")
	}
	if strings.TrimSpace(r.URL.Query().Get("access_token")) != "" {
		methods = append(methods, "access_token")
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		methods = append(methods, "x509")
	}
	if len(methods) > 0 {
		return "Authentication failed, attempted: " + strings.Join(methods, ", ")
	}
	return "Authentication failed, no credentials provided"
}
