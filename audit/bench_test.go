package audit_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	k8saudit "k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericfilters "k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/plugin/pkg/audit/buffered"
	pluginlog "k8s.io/apiserver/plugin/pkg/audit/log"

	"github.com/aggauth/aggauth/audit"
)

// discardWriter is the cheapest ResponseWriter, the same for every
// implementation.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

var okBody = []byte(`{"kind":"WidgetList","items":[]}`)

func okHandler(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(okBody) }

// benchRequest is a request as the audit step sees it: resolved, authenticated,
// received, carrying the aggregator's Audit-ID.
func benchRequest(b *testing.B) (*http.Request, *request.RequestInfo) {
	r := httptest.NewRequest(http.MethodGet, widgets+"?limit=500", nil)
	r.RemoteAddr = "10.0.0.1:443"
	r.Header.Set("X-Forwarded-For", "192.0.2.7")
	r.Header.Set("User-Agent", "kubectl/v1.37.2 (linux/amd64) kubernetes/abcdef")
	r.Header.Set("Audit-ID", auditID)
	info := infoOf(b, r)
	ctx := request.WithRequestInfo(r.Context(), info)
	ctx = request.WithUser(ctx, alice)
	ctx = request.WithReceivedTimestamp(ctx, received)
	return r.WithContext(ctx), info
}

// ours is the audit step as the pipeline runs it around the handler.
func oursStep(a *audit.Auditor, info *request.RequestInfo) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, err := a.Begin(r, info, alice, auditID, received, false)
		if rec == nil { // audit off, or level None: the one check the pipeline makes
			if err != nil {
				panic(err)
			}
			okHandler(w, r)
			return
		}
		w = rec.Writer(w)
		defer rec.End()
		rec.Authorized(authorizer.DecisionAllow, `RBAC: allowed by ClusterRoleBinding "widgets"`, nil)
		okHandler(w, r)
	})
}

// k8sStep is Kubernetes' WithAudit (with WithAuditInit, which makes its
// audit context) around the handler, the authorization filter's annotations
// included.
func k8sStep(sink k8saudit.Sink, eval k8saudit.PolicyRuleEvaluator) http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k8saudit.AddAuditAnnotations(r.Context(), "authorization.k8s.io/decision", "allow",
			"authorization.k8s.io/reason", `RBAC: allowed by ClusterRoleBinding "widgets"`)
		okHandler(w, r)
	})
	return genericfilters.WithAuditInit(genericfilters.WithAudit(h, sink, eval, nil))
}

// BenchmarkAudit measures the audit step per request, beside Kubernetes'
// WithAudit doing the same (the same Metadata policy, a log backend writing
// JSON to io.Discard), in blocking and batch modes; "off" is audit turned
// off, "none" the handler alone.
func BenchmarkAudit(b *testing.B) {
	r, info := benchRequest(b)
	kp, err := policy.LoadPolicyFromBytes([]byte(metadataPolicy))
	require.NoError(b, err)
	eval := policy.NewPolicyRuleEvaluator(kp)
	logBackend := pluginlog.NewBackend(io.Discard, pluginlog.FormatJson, auditv1.SchemeGroupVersion)
	batch := buffered.NewBackend(logBackend, buffered.BatchConfig{BufferSize: 10000, MaxBatchSize: 1})
	stop := make(chan struct{})
	require.NoError(b, batch.Run(stop))
	defer func() { close(stop); batch.Shutdown() }()
	newOurs := func(mode string) http.Handler {
		return oursStep(newAuditor(b, metadataPolicy, io.Discard, audit.Options{Mode: mode}), info)
	}
	var nilAuditor *audit.Auditor
	impls := []struct {
		name string
		h    http.Handler
	}{
		{"audit=none/impl=none", http.HandlerFunc(okHandler)},
		{"audit=off/impl=aggauth", oursStep(nilAuditor, info)},
		{"audit=metadata/impl=aggauth", newOurs(audit.ModeBlocking)},
		{"audit=metadata/impl=kubernetes", k8sStep(logBackend, eval)},
		{"audit=metadata-batch/impl=aggauth", newOurs(audit.ModeBatch)},
		{"audit=metadata-batch/impl=kubernetes", k8sStep(batch, eval)},
	}
	for _, im := range impls {
		b.Run(im.name, func(b *testing.B) {
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				im.h.ServeHTTP(w, r)
			}
		})
	}
}
