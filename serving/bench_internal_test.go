package serving

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/waitgroup"
	genericapifilters "k8s.io/apiserver/pkg/endpoints/filters"
	genericfilters "k8s.io/apiserver/pkg/server/filters"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/aggauth/aggauth/requestinfo"
)

// kubernetesFilters are the generic apiserver's filters that the Server's
// match, in DefaultBuildHandlerChain's order.
func kubernetesFilters(h http.Handler) http.Handler {
	lr := genericfilters.BasicLongRunningRequestCheck(sets.NewString("watch"), sets.NewString())
	h = genericapifilters.WithWarningRecorder(h)
	h = genericfilters.WithTimeoutForNonLongRunningRequests(h, lr)
	h = genericapifilters.WithRequestDeadline(h, nil, nil, lr, scheme.Codecs.WithoutConversion(), time.Minute)
	h = genericfilters.WithWaitGroup(h, lr, new(waitgroup.SafeWaitGroup))
	h = genericapifilters.WithCacheControl(h)
	h = genericapifilters.WithRequestInfo(h, requestinfo.Resolver{})
	h = genericfilters.WithPanicRecovery(h, requestinfo.Resolver{})
	return genericapifilters.WithAuditInit(h)
}

// handoff serves h on another goroutine, already running, while the
// request's goroutine waits for it: the least that a timeout with
// Kubernetes' semantics (a 504 while the handler still blocks) costs, with
// no filter, no timer and no pool. stop ends the goroutine.
func handoff(h http.Handler) (_ http.Handler, stop func()) {
	type job struct {
		w http.ResponseWriter
		r *http.Request
	}
	jobs, done := make(chan job), make(chan struct{})
	go func() {
		for j := range jobs {
			h.ServeHTTP(j.w, j.r)
			done <- struct{}{}
		}
	}()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jobs <- job{w, r}
		<-done
	}), func() { close(jobs) }
}

// The cost of the Server's filters around a handler, in process, against the
// bare handler (impl=none), the bare handler handed to another goroutine
// (impl=handoff: the floor of a timeout that answers while the handler
// blocks) and Kubernetes' same filters; sub-benchmarks are named
// req=.../impl=... for benchstat -col /impl and bench/report.
func BenchmarkFilters(b *testing.B) {
	s := &Server{opts: Options{}.withDefaults(), metrics: newMetrics(nil)}
	s.inflight.drained = make(chan struct{})
	s.draining, s.drain = context.WithCancel(context.Background())
	defer s.drain()
	handedOff, stop := handoff(okHandler)
	defer stop()
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"none", okHandler}, {"handoff", handedOff}, {"serving", s.buildHandler(okHandler)}, {"kubernetes", kubernetesFilters(okHandler)}} {
		for _, q := range []string{"get", "watch"} {
			target := map[string]string{"get": "/apis/g/v1/namespaces/ns/things/x", "watch": "/apis/g/v1/namespaces/ns/things?watch=true"}[q]
			b.Run("req="+q+"/impl="+bc.name, func(b *testing.B) {
				r := httptest.NewRequest(http.MethodGet, target, nil)
				r.Header.Set(HeaderAuditID, "0b5d1c9e-8a1e-4a55-8e32-3b8b9f0f2d11")
				b.ReportAllocs()
				for b.Loop() {
					bc.h.ServeHTTP(httptest.NewRecorder(), r)
				}
			})
		}
	}
}
