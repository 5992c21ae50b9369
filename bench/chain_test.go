package bench

import (
	"net/http"
	"testing"
	"time"

	"github.com/aggauth/aggauth/bench/load/fixture"
)

// chainCacheTTL is the authorizers' allow TTL in BenchmarkChain: long enough
// that no cached decision expires while a sub-benchmark runs, so that every
// timed request is answered from the warm cache (the hit costs the same for
// any TTL).
const chainCacheTTL = 10 * time.Minute

// BenchmarkChain is one warm request through the whole request path of an
// extension apiserver: a bare handler (impl=none), aggauth's chain
// (impl=aggauth) and k8s.io/apiserver's filters doing the same job
// (impl=kubernetes), built by package fixture. Every impl gets the same
// request: the aggregator's front-proxy certificate on the connection, the
// same identity headers and path. Authentication, authorization (from the warm
// cache: the SubjectAccessReview server must see no request during the timed
// loop) and, for the create, NamespaceLifecycle on a synced informer. The cost
// of putting back the identity headers the chains remove is paid by every impl,
// impl=none included.
func BenchmarkChain(b *testing.B) {
	env, err := fixture.New(fixture.Options{CacheTTL: chainCacheTTL})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(env.Close)
	impls := []struct {
		name  string
		build func() (fixture.Middleware, error)
	}{
		{"none", func() (fixture.Middleware, error) { return fixture.None, nil }},
		{"aggauth", env.Aggauth},
		{"kubernetes", env.Kubernetes},
	}
	for _, c := range fixture.Cases {
		for _, impl := range impls {
			b.Run("case="+c.Name+"/impl="+impl.name, func(b *testing.B) {
				mw, err := impl.build()
				if err != nil {
					b.Fatal(err)
				}
				h := mw(fixture.Handler(c))
				req, reset := env.NewRequest(c)
				w := fixture.NewDiscard()
				if impl.name != "none" {
					chainCheck(b, env, c, mw) // also warms the caches of mw
				}
				h.ServeHTTP(w, req)
				if w.Code != c.Status {
					b.Fatalf("warm-up: got status %d; want %d", w.Code, c.Status)
				}
				sars := env.SAR.SARCounts().Received
				b.ReportAllocs()
				for b.Loop() {
					reset()
					w.Reset()
					h.ServeHTTP(w, req)
					if w.Code != c.Status {
						b.Fatalf("got status %d; want %d", w.Code, c.Status)
					}
				}
				if moved := env.SAR.SARCounts().Received - sars; moved != 0 {
					b.Fatalf("the SubjectAccessReview server got %d reviews during the timed loop; want 0", moved)
				}
			})
		}
	}
}

// chainCheck sends c once through mw to a handler that checks what the chain
// hands it: the forwarded user, the RequestInfo, no identity header left.
func chainCheck(b *testing.B, env *fixture.Env, c fixture.Case, mw fixture.Middleware) {
	b.Helper()
	var checkErr error
	reached := false
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = true
		checkErr = fixture.CheckRequest(r)
		fixture.Handler(c).ServeHTTP(w, r)
	}))
	req, _ := env.NewRequest(c)
	w := fixture.NewDiscard()
	h.ServeHTTP(w, req)
	switch {
	case !reached:
		b.Fatalf("the handler was not reached: status %d", w.Code)
	case checkErr != nil:
		b.Fatal(checkErr)
	}
}

// BenchmarkChainNewGoroutine is BenchmarkChain's list request served, as
// net/http's HTTP/2 server serves every request, on a new goroutine: its stack
// starts small, so the cost includes the stack growth the chain's call depth
// causes, which a benchmark loop on one long-lived goroutine does not see.
func BenchmarkChainNewGoroutine(b *testing.B) {
	env, err := fixture.New(fixture.Options{CacheTTL: chainCacheTTL})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(env.Close)
	c, err := fixture.CaseNamed("list-labelselector")
	if err != nil {
		b.Fatal(err)
	}
	for _, impl := range []struct {
		name  string
		build func() (fixture.Middleware, error)
	}{
		{"none", func() (fixture.Middleware, error) { return fixture.None, nil }},
		{"aggauth", env.Aggauth},
		{"kubernetes", env.Kubernetes},
	} {
		b.Run("case="+c.Name+"/impl="+impl.name, func(b *testing.B) {
			mw, err := impl.build()
			if err != nil {
				b.Fatal(err)
			}
			h := mw(fixture.Handler(c))
			req, reset := env.NewRequest(c)
			w := fixture.NewDiscard()
			h.ServeHTTP(w, req) // warm the caches
			sars := env.SAR.SARCounts().Received
			done := make(chan struct{})
			serve := func() {
				h.ServeHTTP(w, req)
				done <- struct{}{}
			}
			b.ReportAllocs()
			for b.Loop() {
				reset()
				w.Reset()
				go serve()
				<-done
				if w.Code != c.Status {
					b.Fatalf("got status %d; want %d", w.Code, c.Status)
				}
			}
			if moved := env.SAR.SARCounts().Received - sars; moved != 0 {
				b.Fatalf("the SubjectAccessReview server got %d reviews during the timed loop; want 0", moved)
			}
		})
	}
}
