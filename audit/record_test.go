package audit_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/aggauth/aggauth/audit"
)

func events(t testing.TB, log *syncBuffer) []auditv1.Event {
	t.Helper()
	var out []auditv1.Event
	for _, l := range lines(log.take()) {
		var ev auditv1.Event
		require.NoError(t, json.Unmarshal([]byte(l), &ev))
		out = append(out, ev)
	}
	return out
}

func begin(t testing.TB, a *audit.Auditor, method, path, body string) (*audit.Record, *http.Request) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	rec, err := a.Begin(r, infoOf(t, r), alice, auditID, received, false)
	require.NoError(t, err)
	return rec, r
}

func TestNilRecord(t *testing.T) {
	var rec *audit.Record
	w := httptest.NewRecorder()
	assert.Same(t, w, rec.Writer(w))
	assert.Equal(t, http.NoBody, rec.Body(http.NoBody))
	assert.Equal(t, auditv1.LevelNone, rec.Level())
	rec.Annotate("k", "v")
	rec.Authorized(authorizer.DecisionAllow, "", nil)
	rec.SetImpersonatedUser(alice, "")
	rec.SetResponseStatus(&metav1.Status{})
	rec.ResponseStarted(200)
	rec.Panic("x")
	rec.End()
	ctx := context.Background()
	assert.Equal(t, ctx, audit.WithRecord(ctx, nil))
	assert.Nil(t, audit.RecordFrom(ctx))
	audit.RecordFrom(ctx).Annotate("k", "v")
}

// TestLevelNone: a request the policy does not audit gets no record, and is
// counted at level None.
func TestLevelNone(t *testing.T) {
	var log syncBuffer
	a := newAuditor(t, "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n", &log, audit.Options{})
	rec, _ := begin(t, a, "GET", widgets, "")
	assert.Nil(t, rec)
	assert.Empty(t, log.take())
	assert.Equal(t, 1.0, metric(t, a, "apiserver_audit_level_total", "level", "None"))
	assert.Equal(t, 0.0, metric(t, a, "apiserver_audit_event_total"))
}

func TestAuthorized(t *testing.T) {
	tests := []struct {
		name     string
		decision authorizer.Decision
		reason   string
		err      error
		want     map[string]string
	}{
		{"allow", authorizer.DecisionAllow, "RBAC: yes", nil, map[string]string{audit.AnnotationDecision: "allow", audit.AnnotationReason: "RBAC: yes"}},
		{"allow without a reason", authorizer.DecisionAllow, "", nil, map[string]string{audit.AnnotationDecision: "allow", audit.AnnotationReason: ""}},
		{"allow despite an error", authorizer.DecisionAllow, "r", errors.New("partial"), map[string]string{audit.AnnotationDecision: "allow", audit.AnnotationReason: "r"}},
		{"deny", authorizer.DecisionDeny, "no", nil, map[string]string{audit.AnnotationDecision: "forbid", audit.AnnotationReason: "no"}},
		{"no opinion", authorizer.DecisionNoOpinion, "", nil, map[string]string{audit.AnnotationDecision: "forbid", audit.AnnotationReason: ""}},
		{"error", authorizer.DecisionNoOpinion, "ignored", errors.New("down"), map[string]string{audit.AnnotationReason: "internal error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log syncBuffer
			a := newAuditor(t, metadataPolicy, &log, audit.Options{})
			rec, _ := begin(t, a, "GET", widgets, "")
			rec.Authorized(tt.decision, tt.reason, tt.err)
			rec.End()
			evs := events(t, &log)
			require.Len(t, evs, 2)
			assert.Equal(t, tt.want, evs[1].Annotations)
		})
	}
}

// TestConstrainedImpersonation records the constraint as Kubernetes'
// constrained impersonation does.
func TestConstrainedImpersonation(t *testing.T) {
	var log syncBuffer
	a := newAuditor(t, metadataPolicy, &log, audit.Options{})
	rec, _ := begin(t, a, "GET", widgets, "")
	rec.SetImpersonatedUser(&user.DefaultInfo{Name: "system:node:n1", Groups: []string{"system:nodes"},
		Extra: map[string][]string{"k": {"v"}}}, "impersonate-on:node:get")
	rec.End()
	ev := events(t, &log)[1]
	require.NotNil(t, ev.ImpersonatedUser)
	assert.Equal(t, "system:node:n1", ev.ImpersonatedUser.Username)
	assert.Equal(t, []string{"v"}, []string(ev.ImpersonatedUser.Extra["k"]))
	assert.Equal(t, &auditv1.AuthenticationMetadata{ImpersonationConstraint: "impersonate-on:node:get"}, ev.AuthenticationMetadata)
}

// TestOnce: the first status code counts, End and Panic write once, and
// nothing is written after them.
func TestOnce(t *testing.T) {
	var log syncBuffer
	a := newAuditor(t, metadataPolicy, &log, audit.Options{})
	rec, _ := begin(t, a, "GET", widgets, "")
	rec.ResponseStarted(http.StatusAccepted)
	rec.ResponseStarted(http.StatusOK)
	rec.End()
	rec.End()
	rec.Panic("late")
	rec.Annotate("late", "x")
	evs := events(t, &log)
	require.Len(t, evs, 2)
	assert.EqualValues(t, http.StatusAccepted, evs[1].ResponseStatus.Code)

	rec, _ = begin(t, a, "GET", widgets, "")
	rec.Panic(errors.New("boom"))
	rec.End()
	evs = events(t, &log)
	require.Len(t, evs, 2)
	assert.Equal(t, auditv1.StagePanic, evs[1].Stage)
	assert.Equal(t, "APIServer panic'd: boom", evs[1].ResponseStatus.Message)
}

// hijackable is a ResponseWriter that can be hijacked.
type hijackable struct {
	*httptest.ResponseRecorder
	hijacked bool
}

func (h *hijackable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h.hijacked = true
	return nil, nil, nil
}

// TestWriter: Flush and Hijack pass through; Hijack records 101 as
// Kubernetes does; a flush alone records nothing; http.ResponseController
// reaches the writer underneath.
func TestWriter(t *testing.T) {
	var log syncBuffer
	a := newAuditor(t, metadataPolicy, &log, audit.Options{})

	rec, _ := begin(t, a, "GET", widgets, "")
	h := &hijackable{ResponseRecorder: httptest.NewRecorder()}
	w := rec.Writer(h)
	_, _, err := http.NewResponseController(w).Hijack()
	require.NoError(t, err)
	assert.True(t, h.hijacked)
	rec.End()
	assert.EqualValues(t, http.StatusSwitchingProtocols, events(t, &log)[1].ResponseStatus.Code)

	rec, _ = begin(t, a, "GET", widgets, "")
	inner := httptest.NewRecorder()
	w = rec.Writer(inner)
	w.(http.Flusher).Flush()
	assert.True(t, inner.Flushed)
	assert.Same(t, inner, w.(interface{ Unwrap() http.ResponseWriter }).Unwrap())
	rec.End()
	assert.Equal(t, "Connection closed early", events(t, &log)[1].ResponseStatus.Message)

	rec, _ = begin(t, a, "GET", widgets, "")
	w1, w2 := rec.Writer(httptest.NewRecorder()), rec.Writer(httptest.NewRecorder())
	assert.NotSame(t, w1, w2)
	_, _ = w2.Write([]byte("x"))
	rec.End()
	assert.EqualValues(t, http.StatusOK, events(t, &log)[1].ResponseStatus.Code)
}

// TestLongRunning: the ResponseStarted event is written when the response
// starts, before the handler is done.
func TestLongRunning(t *testing.T) {
	var log syncBuffer
	a := newAuditor(t, metadataPolicy, &log, audit.Options{})
	r := httptest.NewRequest("GET", widgets+"?watch=true", nil)
	rec, err := a.Begin(r, infoOf(t, r), alice, auditID, received, true)
	require.NoError(t, err)
	assert.Len(t, lines(log.take()), 1)
	rec.Writer(httptest.NewRecorder()).WriteHeader(http.StatusOK)
	evs := events(t, &log)
	require.Len(t, evs, 1, "ResponseStarted, at once")
	assert.Equal(t, auditv1.StageResponseStarted, evs[0].Stage)
	rec.End()
	assert.Equal(t, auditv1.StageResponseComplete, events(t, &log)[0].Stage)
}

func TestContext(t *testing.T) {
	var log syncBuffer
	a := newAuditor(t, metadataPolicy, &log, audit.Options{})
	rec, _ := begin(t, a, "GET", widgets, "")
	ctx := audit.WithRecord(context.Background(), rec)
	assert.Same(t, rec, audit.RecordFrom(ctx))
	audit.RecordFrom(ctx).Annotate("example.com/k", "v")
	assert.Equal(t, auditv1.LevelMetadata, rec.Level())
	rec.End()
	assert.Equal(t, "v", events(t, &log)[1].Annotations["example.com/k"])
}

const bodiesPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitManagedFields: true
rules:
- level: Metadata
  verbs: ["list"]
- level: Request
  verbs: ["update"]
- level: RequestResponse
`

const managed = `{"kind":"Widget","metadata":{"name":"w1","managedFields":[{"manager":"kubectl"}]},"spec":{"color":"<blue>"}}`

// TestRecordBodies: with RecordBodies, the JSON bodies the handler read and
// wrote are the event's objects at the levels that record them, managed
// fields omitted as the policy says; bodies too long or not JSON are left
// out; a Status recorded by the pipeline wins over the body.
func TestRecordBodies(t *testing.T) {
	tests := []struct {
		name, method, path, body, response string
		status                             *metav1.Status
		wantRequest, wantResponse          string
		truncated                          bool
	}{
		{name: "RequestResponse", method: "POST", path: widgets, body: managed, response: `{"kind":"Widget", "metadata":{"name":"w1"}}`,
			wantRequest:  `{"kind":"Widget","metadata":{"name":"w1"},"spec":{"color":"\u003cblue\u003e"}}`,
			wantResponse: `{"kind":"Widget","metadata":{"name":"w1"}}`},
		{name: "Request", method: "PUT", path: widgets + "/w1", body: `{"kind":"Widget"}`, response: `{"kind":"Widget"}`,
			wantRequest: `{"kind":"Widget"}`},
		{name: "Metadata", method: "GET", path: widgets, response: `{"kind":"WidgetList"}`},
		{name: "not JSON", method: "POST", path: widgets, body: "kind: Widget", response: "ok"},
		{name: "too long", method: "POST", path: widgets, body: `{"x":"` + strings.Repeat("a", 200) + `"}`,
			response: `{"x":"` + strings.Repeat("a", 200) + `"}`, truncated: true},
		{name: "a Status wins", method: "POST", path: widgets, body: `{}`, response: `{"kind":"Status"}`,
			status:      &metav1.Status{Status: metav1.StatusFailure, Code: 409, Reason: metav1.StatusReasonAlreadyExists},
			wantRequest: `{}`, wantResponse: `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","reason":"AlreadyExists","code":409}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log syncBuffer
			a := newAuditor(t, bodiesPolicy, &log, audit.Options{RecordBodies: true, MaxBodyBytes: 150})
			rec, r := begin(t, a, tt.method, tt.path, tt.body)
			body := rec.Body(r.Body)
			_, _ = io.Copy(io.Discard, body)
			require.NoError(t, body.Close())
			rec.SetResponseStatus(tt.status)
			w := rec.Writer(httptest.NewRecorder())
			_, _ = io.WriteString(w, tt.response)
			rec.End()
			ev := events(t, &log)[1]
			raw := func(o any) string {
				if o == nil {
					return ""
				}
				b, err := json.Marshal(o)
				require.NoError(t, err)
				return string(b)
			}
			if tt.wantRequest == "" {
				assert.Nil(t, ev.RequestObject)
			} else {
				assert.Equal(t, tt.wantRequest, raw(ev.RequestObject))
			}
			if tt.wantResponse == "" {
				assert.Nil(t, ev.ResponseObject)
			} else {
				assert.Equal(t, tt.wantResponse, raw(ev.ResponseObject))
			}
			_, cut := ev.Annotations["audit.k8s.io/truncated"]
			assert.Equal(t, tt.truncated, cut)
		})
	}
}

// TestConcurrentUse: a record is annotated and answered from several
// goroutines, and requests are audited while the Auditor shuts down (run
// with -race).
func TestConcurrentUse(t *testing.T) {
	for _, mode := range []string{audit.ModeBlocking, audit.ModeBatch} {
		t.Run(mode, func(t *testing.T) {
			var log syncBuffer
			a := newAuditor(t, bodiesPolicy, &log, audit.Options{Mode: mode, RecordBodies: true})
			rec, r := begin(t, a, "POST", widgets, `{"kind":"Widget"}`)
			body := rec.Body(r.Body)
			w := rec.Writer(httptest.NewRecorder())
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					rec.Annotate(fmt.Sprintf("example.com/k%d", i), "v")
					rec.SetResponseStatus(&metav1.Status{Code: 201})
					rec.ResponseStarted(http.StatusCreated)
					_ = audit.RecordFrom(audit.WithRecord(context.Background(), rec)).Level()
				})
			}
			wg.Go(func() { _, _ = io.Copy(io.Discard, body) })
			wg.Go(func() { _, _ = w.Write([]byte(`{}`)) })
			wg.Wait()
			rec.End()
			var evs []auditv1.Event
			require.Eventually(t, func() bool { evs = append(evs, events(t, &log)...); return len(evs) >= 2 },
				5*time.Second, time.Millisecond) // batch mode writes a little later
			require.Len(t, evs, 2)
			assert.Len(t, evs[1].Annotations, 8)

			for range 4 {
				wg.Go(func() {
					for range 50 {
						_ = serve(a, alice, widgets)
					}
				})
			}
			wg.Go(func() { _ = a.Shutdown(context.Background()) })
			wg.Wait()
		})
	}
}
