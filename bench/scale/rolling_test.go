//go:build scale

package scale

import (
	"context"
	"math/rand"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// rollingRun is a rolling restart of replicas behind one Service: requests
// at rate, round-robin over the replicas, for warm, then each replica in turn
// replaced by a new one (empty cache) every interval. Each replica has its
// own client budget (200 QPS, burst 400) and asks the same kube-apiserver.
type rollingRun struct {
	impl              string
	replicas          int
	users, namespaces int
	rate              float64
	latency           time.Duration
	warm, interval    time.Duration
	window            time.Duration // after a restart, how long the cold replica is watched
	// Per restart, averaged: the reviews the new replica sent in window, the
	// distinct ones among them, the most in 100 ms, and the p99 latency of its
	// requests in window.
	reviews, distinct, peak float64
	p99                     time.Duration
	realTime                time.Duration
}

type replica struct {
	a   authorizer.Authorizer
	api *apiserver
	up  time.Time
	mu  sync.Mutex
	lat []time.Duration // latencies of requests that started within window of up
}

func (r *rollingRun) simulate(t *testing.T, impl authorizerImpl) {
	r.impl = impl.name
	began := time.Now()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		newReplica := func() *replica {
			api := &apiserver{latency: r.latency, keep: true}
			a, err := impl.build(api, kubernetesCacheSize, 10*time.Second, false)
			if err != nil {
				t.Fatal(err)
			}
			return &replica{a: a, api: api, up: time.Now()}
		}
		slots := make([]atomic.Pointer[replica], r.replicas)
		for i := range slots {
			slots[i].Store(newReplica())
		}
		var restarted []*replica
		w := newWorkload(r.users, r.namespaces, 11)
		arrivals := rand.New(rand.NewSource(12))
		var wg sync.WaitGroup
		end := start.Add(r.warm + time.Duration(r.replicas)*r.interval)
		next := 0 // the next replica to restart
		for i := 0; time.Now().Before(end); i++ {
			if next < r.replicas && !time.Now().Before(start.Add(r.warm+time.Duration(next)*r.interval)) {
				rep := newReplica()
				slots[next].Store(rep)
				restarted = append(restarted, rep)
				next++
			}
			rep := slots[i%r.replicas].Load()
			attrs := w.next()
			wg.Go(func() {
				t0 := time.Now()
				_, _, _ = rep.a.Authorize(context.Background(), attrs)
				if t0.Sub(rep.up) < r.window {
					lat := time.Since(t0)
					rep.mu.Lock()
					rep.lat = append(rep.lat, lat)
					rep.mu.Unlock()
				}
			})
			time.Sleep(time.Duration(arrivals.ExpFloat64() / r.rate * float64(time.Second)))
		}
		wg.Wait()
		var p99s []time.Duration
		for _, rep := range restarted {
			n, d, p := rep.api.reviewsBetween(rep.up, rep.up.Add(r.window))
			r.reviews += float64(n)
			r.distinct += float64(d)
			r.peak += float64(p)
			slices.Sort(rep.lat)
			p99s = append(p99s, percentile(rep.lat, 0.99))
		}
		k := float64(len(restarted))
		r.reviews, r.distinct, r.peak = r.reviews/k, r.distinct/k, r.peak/k
		slices.Sort(p99s)
		r.p99 = p99s[len(p99s)/2]
	})
	r.realTime = time.Since(began)
}
