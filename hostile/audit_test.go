//go:build hostile

package hostile

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/sets"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	k8saudit "k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericfilters "k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/plugin/pkg/audit/buffered"
	pluginlog "k8s.io/apiserver/plugin/pkg/audit/log"

	"github.com/aggauth/aggauth/audit"
	"github.com/aggauth/aggauth/requestinfo"
)

const (
	auditPolicy = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"
	// auditRequests is the number of requests of the stalled-disk attack,
	// each with a path of auditPathBytes.
	auditRequests  = 3000
	auditPathBytes = 16 << 10
	// auditBufferBytes is aggauth's batch buffer (--audit-log-batch-buffer-bytes)
	// in the attack, and auditHeapBound what the heap may grow while the disk
	// is stalled.
	auditBufferBytes = 4 << 20
	auditHeapBound   = 12 << 20
	// auditEventBound bounds the bytes of an event of an unauthenticated
	// request.
	auditEventBound = 64 << 10
)

// stalledLog blocks every Write until released, counting the events it took.
type stalledLog struct {
	release chan struct{}
	once    sync.Once
	events  atomic.Int64
}

func (l *stalledLog) Write(p []byte) (int, error) {
	<-l.release
	l.events.Add(int64(strings.Count(string(p), "\n")))
	return len(p), nil
}

func (l *stalledLog) free() { l.once.Do(func() { close(l.release) }) }

// auditedAs is the audit step of the pipeline, after authentication (as
// alice) and before the handler.
func auditedAs(a *audit.Auditor, u user.Info, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, _ := requestinfo.New(r)
		rec, err := a.Begin(r, info, u, r.Header.Get("Audit-ID"), time.Now(), false)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer rec.End()
		rec.Authorized(authorizer.DecisionAllow, "", nil)
		next.ServeHTTP(rec.Writer(w), r)
	})
}

// TestAuditStalledDisk drives the rule "every queue is bounded in entries and
// bytes": the audit log's disk stalls (its writer blocks) in batch mode while
// 3,000 requests with 16 KiB paths are audited at Metadata level (two events
// each). aggauth's batch buffer holds at most 10,000 events and 4 MiB: the
// requests do not wait, the heap grows by at most 12 MiB, and every event
// dropped is counted in apiserver_audit_error_total{plugin="buffered"}.
// Kubernetes' buffered backend, the control, bounds its buffer in events only
// (10,000): it keeps every event of the attack.
func TestAuditStalledDisk(t *testing.T) {
	p := thePKI()
	path := resourcePath + "/" + strings.Repeat("w", auditPathBytes)
	alice := &user.DefaultInfo{Name: "alice", Groups: []string{"devs", user.AllAuthenticated}}
	grown := map[string]float64{}
	for _, name := range []string{"aggauth", "kubernetes"} {
		t.Run(name, func(t *testing.T) {
			log := &stalledLog{release: make(chan struct{})}
			defer log.free()
			var h http.Handler
			var a *audit.Auditor
			var dropped func() float64
			switch name {
			case "aggauth":
				var err error
				a, err = audit.New(audit.Options{Policy: metadataPolicy(), Writer: log, Mode: audit.ModeBatch,
					Batch: audit.BatchOptions{BufferBytes: auditBufferBytes}, Logger: slog.New(slog.DiscardHandler)})
				require.NoError(t, err)
				defer func() { log.free(); _ = a.Close() }()
				h = auditedAs(a, alice, okHandler)
				dropped = func() float64 { return counter(t, a.Collectors(), "apiserver_audit_error_total") }
			case "kubernetes":
				backend := buffered.NewBackend(pluginlog.NewBackend(log, pluginlog.FormatJson, auditv1.SchemeGroupVersion),
					buffered.BatchConfig{BufferSize: 10000, MaxBatchSize: 1})
				stop := make(chan struct{})
				require.NoError(t, backend.Run(stop))
				defer func() { log.free(); close(stop); backend.Shutdown() }()
				h = k8sAudited(t, backend, alice)
			}
			s := serve(t, p, h)
			tr := transport(p, nil, true)
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			require.Equal(t, http.StatusOK, mustSend(t, c, s.URL+resourcePath)) // warm up
			base := heapInUse()
			start := time.Now()
			run(auditRequests, 8, func(int) {
				if code := mustSend(t, c, s.URL+path); code != http.StatusOK {
					t.Errorf("got %d; want 200", code)
				}
			})
			took := time.Since(start)
			grown[name] = float64(int64(heapInUse())-int64(base)) / mib
			t.Logf("%s: %d requests in %v with the disk stalled, heap grown %.1f MiB", name, auditRequests, took.Round(time.Millisecond), grown[name])
			if name == "aggauth" {
				assert.LessOrEqual(t, grown[name], float64(auditHeapBound)/mib, "heap grown while the disk is stalled")
				events := 2 * (auditRequests + 1)
				held := events - int(dropped())
				assert.LessOrEqual(t, held*auditPathBytes, auditBufferBytes+2*auditPathBytes, "events held: %d", held)
				log.free()
				require.NoError(t, a.Shutdown(context.Background()))
				assert.EqualValues(t, held, log.events.Load(), "every event held is written once the disk is back")
				t.Logf("aggauth: %d events, %d held and written, %d dropped and counted", events, held, int(dropped()))
			}
		})
	}
	t.Logf("heap grown while the disk is stalled: aggauth %.1f MiB, kubernetes %.1f MiB (bound %d MiB)",
		grown["aggauth"], grown["kubernetes"], auditHeapBound/mib)
}

// k8sAudited is Kubernetes' WithAuditInit and WithAudit around the handler,
// the request authenticated as u.
func k8sAudited(t testing.TB, sink k8saudit.Sink, u user.Info) http.Handler {
	kp, err := policy.LoadPolicyFromBytes([]byte(auditPolicy))
	require.NoError(t, err)
	resolver := &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}
	h := genericfilters.WithAudit(okHandler, sink, policy.NewPolicyRuleEvaluator(kp), nil)
	inner := h
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r.WithContext(request.WithUser(r.Context(), u)))
	})
	return genericfilters.WithAuditInit(genericfilters.WithRequestInfo(h, resolver))
}

// TestAuditUnauthenticatedEvents drives the rule "logs carry no unbounded
// client-controlled text" for the audit log: 200 requests without
// credentials, each as large as net/http lets a client make it (300 KB of
// path escaped six times over by JSON, a 200 KB User-Agent, 300 KB of
// forwarded addresses), refused with 401 and audited at Metadata level.
// aggauth writes at most 64 KiB per event; Kubernetes'
// WithFailedAuthenticationAudit, the control, writes the whole request.
func TestAuditUnauthenticatedEvents(t *testing.T) {
	p := thePKI()
	seg := strings.Repeat("%3C%FF", 100<<10/6)
	path := "/apis/" + seg + "/v1/namespaces/" + seg + "/" + seg + "?q=" + strings.Repeat("&", 100<<10)
	var ips []string
	for i := 0; len(ips)*40 < 300<<10; i++ {
		ips = append(ips, fmt.Sprintf("2001:db8:ffff:ffff:ffff:ffff:%04x:%04x", i>>16, i&0xffff))
	}
	const requests = 200
	perEvent := map[string]int{}
	for _, name := range []string{"aggauth", "kubernetes"} {
		t.Run(name, func(t *testing.T) {
			sink := &logSink{}
			var h http.Handler
			switch name {
			case "aggauth":
				a, err := audit.New(audit.Options{Policy: metadataPolicy(), Writer: sink, Logger: slog.New(slog.DiscardHandler)})
				require.NoError(t, err)
				defer a.Close()
				h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { // authentication refuses
					info, _ := requestinfo.New(r)
					rec := a.FailedAuthentication(r, info, r.Header.Get("Audit-ID"), time.Now())
					defer rec.End()
					http.Error(rec.Writer(w), "Unauthorized", http.StatusUnauthorized)
				})
			case "kubernetes":
				kp, err := policy.LoadPolicyFromBytes([]byte(auditPolicy))
				require.NoError(t, err)
				eval := policy.NewPolicyRuleEvaluator(kp)
				backend := pluginlog.NewBackend(sink, pluginlog.FormatJson, auditv1.SchemeGroupVersion)
				refuse := authenticator.RequestFunc(func(*http.Request) (*authenticator.Response, bool, error) { return nil, false, nil })
				failed := genericfilters.WithFailedAuthenticationAudit(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					http.Error(w, "Unauthorized", http.StatusUnauthorized)
				}), backend, eval)
				resolver := &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}
				h = genericfilters.WithAuditInit(genericfilters.WithRequestInfo(
					genericfilters.WithAuthentication(okHandler, refuse, failed, nil, nil), resolver))
			}
			s := serve(t, p, h)
			tr := transport(p, nil, false)
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			run(requests, 4, func(int) {
				req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
				require.NoError(t, err)
				req.Header.Set("User-Agent", strings.Repeat("<&>", 200<<10/3))
				req.Header.Set("X-Forwarded-For", strings.Join(ips, ","))
				resp, err := c.Do(req)
				if err != nil {
					t.Errorf("request: %v", err)
					return
				}
				drain(resp)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("got %d; want 401", resp.StatusCode)
				}
			})
			size, events := sink.size()
			require.Equal(t, requests, events, "one event per refusal")
			most := 0
			for _, line := range strings.Split(strings.TrimSuffix(sink.buf.String(), "\n"), "\n") {
				most = max(most, len(line)+1)
			}
			perEvent[name] = most
			t.Logf("%s: %d refusals, %.1f MiB of audit log, the largest event %d bytes", name, requests, float64(size)/mib, most)
			if name == "aggauth" {
				assert.LessOrEqual(t, most, auditEventBound, "bytes per event")
			}
		})
	}
	t.Logf("largest event of an unauthenticated request: aggauth %d bytes, kubernetes %d bytes (bound %d)",
		perEvent["aggauth"], perEvent["kubernetes"], auditEventBound)
}

func metadataPolicy() *auditv1.Policy {
	return &auditv1.Policy{Rules: []auditv1.PolicyRule{{Level: auditv1.LevelMetadata}}}
}

func mustSend(t testing.TB, c *http.Client, url string) int {
	code, err := send(context.Background(), c, url, "")
	if err != nil {
		t.Errorf("request: %v", err)
	}
	return code
}

// counter sums the values of the counter family name among cs.
func counter(t testing.TB, cs []prometheus.Collector, name string) float64 {
	reg := prometheus.NewPedanticRegistry()
	for _, c := range cs {
		require.NoError(t, reg.Register(c))
	}
	families, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
