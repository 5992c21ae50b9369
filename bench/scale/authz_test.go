//go:build scale

package scale

import (
	"context"
	"math/rand"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// authzRun is one simulated run of an authorizer.
type authzRun struct {
	impl              string
	users, namespaces int
	size              int // cache entries (Kubernetes': always 8192)
	ttl               time.Duration
	rate              float64 // requests per second
	latency           time.Duration
	warm, measure     time.Duration
	seed              int64
	unlimited         bool  // no client budget: reviews per second are the cache's demand
	requests, reviews int64 // during the measured window
	hits              int64 // requests answered at once: from the cache, without waiting
	refused           int64 // answered with an error (aggauth: too many reviews in flight)
	p50, p99          time.Duration
	memory            int64 // bytes the authorizer holds at the end (its cache, mostly)
	realTime          time.Duration
}

// hitRate is the share of requests answered at once, from the cache. A
// request that waits, for its own review or for one in flight, is a miss.
func (r *authzRun) hitRate() float64 {
	if r.requests == 0 {
		return 0
	}
	return float64(r.hits) / float64(r.requests)
}

func (r *authzRun) reviewsPerSecond() float64 { return float64(r.reviews) / r.measure.Seconds() }

// simulate runs r in virtual time: requests arrive as a Poisson process of
// r.rate per second, each authorized on its own goroutine, for r.warm (not
// measured: the caches fill) then r.measure.
func (r *authzRun) simulate(t *testing.T, impl authorizerImpl) {
	r.impl = impl.name
	r.size = effectiveSize(impl.name, r.size)
	began := time.Now()
	synctest.Test(t, func(t *testing.T) {
		api := &apiserver{latency: r.latency}
		a, err := impl.build(api, r.size, r.ttl, r.unlimited)
		if err != nil {
			t.Fatal(err)
		}
		w := newWorkload(r.users, r.namespaces, r.seed)
		arrivals := rand.New(rand.NewSource(r.seed + 1))
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			lats    []time.Duration
			refused int64
			hits    int64
		)
		start := time.Now()
		measureFrom, end := start.Add(r.warm), start.Add(r.warm+r.measure)
		var reviewsBefore int64 = -1
		for now := start; now.Before(end); now = time.Now() {
			measured := !now.Before(measureFrom)
			if measured && reviewsBefore < 0 {
				reviewsBefore = api.received.Load()
			}
			attrs := w.next()
			wg.Go(func() {
				t0 := time.Now()
				d, _, err := a.Authorize(context.Background(), attrs)
				lat := time.Since(t0)
				if !measured {
					return
				}
				mu.Lock()
				lats = append(lats, lat)
				if err != nil || d != authorizer.DecisionAllow {
					refused++
				} else if lat == 0 {
					hits++
				}
				mu.Unlock()
			})
			time.Sleep(time.Duration(arrivals.ExpFloat64() / r.rate * float64(time.Second)))
		}
		r.reviews = api.received.Load() - reviewsBefore
		wg.Wait()
		r.requests, r.refused, r.hits = int64(len(lats)), refused, hits
		slices.Sort(lats)
		r.p50, r.p99 = percentile(lats, 0.50), percentile(lats, 0.99)
		r.memory = retained(func() { a = nil; api = nil })
	})
	r.realTime = time.Since(began)
}

// retained returns the heap bytes that drop frees.
func retained(drop func()) int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	before := int64(m.HeapAlloc)
	drop()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return max(0, before-int64(m.HeapAlloc))
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// entryBytes measures the heap one cached decision takes in impl's
// authorizer: n distinct requests, each reviewed once and cached, against an
// empty authorizer.
func entryBytes(t *testing.T, impl authorizerImpl, n int) float64 {
	var per float64
	synctest.Test(t, func(t *testing.T) {
		api := &apiserver{}
		a, err := impl.build(api, max(n, kubernetesCacheSize), time.Hour, true)
		if err != nil {
			t.Fatal(err)
		}
		u := newWorkload(1, 1, 7).next().User
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		empty := int64(m.HeapAlloc)
		for i := range n {
			attrs := &authorizer.AttributesRecord{
				User: u, Verb: "get", Namespace: "team-1", APIGroup: "widgets.example.com", APIVersion: "v1",
				Resource: "widgets", Name: "object-" + strconv.Itoa(i), ResourceRequest: true,
				Path: "/apis/widgets.example.com/v1/namespaces/team-1/widgets/object-" + strconv.Itoa(i),
			}
			if _, _, err := a.Authorize(context.Background(), attrs); err != nil {
				t.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&m)
		full := int64(m.HeapAlloc)
		if got := api.received.Load(); got != int64(n) {
			t.Fatalf("%s: %d reviews for %d distinct requests", impl.name, got, n)
		}
		per = float64(full-empty) / float64(n)
		runtime.KeepAlive(a)
	})
	return per
}
