package serving

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/waitgroup"
	genericapifilters "k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/request"
	genericfilters "k8s.io/apiserver/pkg/server/filters"

	"github.com/aggauth/aggauth/pipeline"
	"github.com/aggauth/aggauth/requestinfo"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })

// drainingServer is a Server, without a listener, that no longer takes
// requests.
func drainingServer(sendRetryAfter bool) *Server {
	s := &Server{opts: Options{ShutdownSendRetryAfter: sendRetryAfter}.withDefaults()}
	s.inflight.drained = make(chan struct{})
	s.draining, s.drain = context.WithCancel(context.Background())
	s.phase.Store(phaseDraining)
	s.inflight.close()
	s.drain()
	return s
}

var shutdownPaths = []string{"/", "/apis/g/v1/things", "/livez", "/healthz", "/healthz/ping", "/metrics", "/metricsx", "/livezz"}

func serveRec(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

// With --shutdown-send-retry-after, a draining server answers as Kubernetes'
// WithRetryAfter (its body a Status rather than text).
func TestRetryAfterMatchesKubernetes(t *testing.T) {
	closed := make(chan struct{})
	close(closed)
	theirs := genericfilters.WithRetryAfter(okHandler, closed)
	ours := pipeline.New(okHandler, lifecycle{drainingServer(true)})
	for _, path := range shutdownPaths {
		k, o := serveRec(theirs, path), serveRec(ours, path)
		assert.Equal(t, k.Code, o.Code, path)
		for _, h := range []string{"Retry-After", "Connection"} {
			assert.Equal(t, k.Header().Get(h), o.Header().Get(h), "%s %s", path, h)
		}
		if k.Code == http.StatusTooManyRequests {
			assert.Equal(t, "The apiserver is shutting down, please try again later.\n", k.Body.String())
			assert.Equal(t, "The apiserver is shutting down, please try again later.", decode(t, o).Message)
		}
	}
	rec := serveRec(ours, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "not ready: shutdown: shutting down", decode(t, rec).Message)
}

// A request too late to be counted in flight is answered as by Kubernetes'
// WithWaitGroup.
func TestWaitGroupMatchesKubernetes(t *testing.T) {
	var wg waitgroup.SafeWaitGroup
	wg.Wait()
	lr := genericfilters.BasicLongRunningRequestCheck(sets.NewString("watch"), sets.NewString())
	theirs := genericapifilters.WithRequestInfo(genericfilters.WithWaitGroup(okHandler, lr, &wg), requestinfo.Resolver{})
	ours := pipeline.New(okHandler, requestStep{}, track{drainingServer(false)})
	for _, path := range append(shutdownPaths, "/apis/g/v1/things?watch=true") {
		k, o := serveRec(theirs, path), serveRec(ours, path)
		assert.Equal(t, k.Code, o.Code, path)
		assert.Equal(t, k.Header().Get("Retry-After"), o.Header().Get("Retry-After"), path)
		if k.Code != http.StatusOK {
			ks, os := decode(t, k), decode(t, o)
			assert.Equal(t, ks.Message, os.Message)
			assert.Equal(t, ks.Reason, os.Reason)
		}
	}
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) metav1.Status {
	var s metav1.Status
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &s), "body %q", rec.Body.String())
	return s
}

// Without a predicate, the long-running requests are the generic apiserver's.
func TestLongRunningMatchesKubernetes(t *testing.T) {
	lr := genericfilters.BasicLongRunningRequestCheck(sets.NewString("watch"), sets.NewString())
	targets := []string{"/", "/api/v1/pods?watch=true", "/api/v1/pods?watch=1", "/api/v1/pods?watch=false", "/api/v1/watch/pods",
		"/api/v1/namespaces/ns/pods/x?watch=true", "/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Dx&watch=true",
		"/apis/g/v1/things/x/log", "/apis/g/v1/namespaces/ns/things/x/exec", "/apis/g/v1/proxy/things/x",
		"/debug/pprof/profile", "/debug/pprof/", "/debug/pprof", "/healthz", "/apis/g/v1/debug/pprof/x", "/api/v1/watch"}
	for _, target := range targets {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			r := httptest.NewRequest(method, target, nil)
			info, err := requestinfo.New(r)
			if err != nil {
				continue
			}
			assert.Equal(t, lr(r, info), isLongRunning(nil, r, resolve(r)), "%s %s", method, target)
		}
	}
	also := func(_ *http.Request, info *request.RequestInfo) bool { return info.Subresource == "exec" }
	r := httptest.NewRequest(http.MethodPost, "/apis/g/v1/namespaces/ns/things/x/exec", nil)
	assert.True(t, isLongRunning(also, r, resolve(r)))
}

func TestInflight(t *testing.T) {
	var f inflight
	f.drained = make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if f.add() {
					f.done()
				}
			}
		})
	}
	require.True(t, f.add())
	wg.Wait()
	f.close()
	f.close()
	select {
	case <-f.drained:
		t.Fatal("drained with a request in flight")
	default:
	}
	assert.False(t, f.add(), "closed")
	f.done()
	<-f.drained

	var empty inflight
	empty.drained = make(chan struct{})
	empty.close()
	<-empty.drained
}

// resolve is the RequestInfo the Server's steps see for r.
func resolve(r *http.Request) *request.RequestInfo {
	var info *request.RequestInfo
	pipeline.New(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		info, _ = request.RequestInfoFrom(r.Context())
	}), requestStep{}).ServeHTTP(httptest.NewRecorder(), r)
	if info == nil { // unresolvable: the fallback requestInfoOf gives the steps
		info = &request.RequestInfo{Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
	}
	return info
}
