//go:build hostile

package hostile

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

const (
	abandonRequests = 4000
	abandonWorkers  = 200
	abandonAfter    = 20 * time.Millisecond // how long a request waits before its client leaves
	abandonUsers    = 16                    // distinct X-Remote-User values of the attack
	settleWithin    = 2 * time.Second
	goroutineSlack  = 10

	floodWorkers  = 300
	legitRequests = 5
	legitBound    = time.Second
	sarLatency    = 5 * time.Millisecond
)

// missURL returns a URL of s naming a widget never asked for before: a cache
// miss for any authorizer.
func missURL(s *server, prefix string) string {
	return fmt.Sprintf("%s%s/%s-%016x", s.URL, resourcePath, prefix, rand.Uint64())
}

// TestAbandonedReviewsStop drives the rule "background work ends when its last
// waiter leaves": an authenticated caller (the front proxy's certificate, 16
// users) sends 4,000 requests for random names, each a cache miss, to a chain
// whose kube-apiserver holds every answer, and abandons each one 20 ms after
// sending it (200 at a time). Within 2 s of the last abandonment aggauth must
// be back to its goroutines before the attack (within 10) with no review in
// flight. Kubernetes' webhook authorizer reviews on the request's context, so
// it stops too: the control shows the same figure.
func TestAbandonedReviewsStop(t *testing.T) {
	p := thePKI()
	lines := map[string]string{}
	for _, build := range builders {
		sar := newSARServer(t, 0, allowAll)
		im := build(t, p, chainOptions{sar: sar})
		t.Run(im.name, func(t *testing.T) {
			s := serve(t, p, im.handler)
			tr := transport(p, &p.proxy, true)
			c := &http.Client{Transport: tr}
			// One allowed review opens the connection to kube-apiserver.
			code, err := send(context.Background(), c, missURL(s, "warmup"), "warmup")
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code)
			tr.CloseIdleConnections()
			s.waitClosed(t, 5*time.Second)
			release := sar.Hold()
			base := runtime.NumGoroutine()
			ign := goleak.IgnoreCurrent()

			var abandoned, refused, answered atomic.Int64
			before := sar.SARCounts().Received
			run(abandonRequests, abandonWorkers, func(i int) {
				ctx, cancel := context.WithTimeout(context.Background(), abandonAfter)
				defer cancel()
				switch code, err := send(ctx, c, missURL(s, "abandoned"), fmt.Sprintf("attacker-%d", i%abandonUsers)); {
				case err != nil:
					abandoned.Add(1)
				case code == http.StatusTooManyRequests:
					refused.Add(1)
				default:
					answered.Add(1)
				}
			})
			last := time.Now()
			inFlight := func() int {
				if im.authz == nil {
					return 0
				}
				return im.authz.InFlight()
			}
			settled := poll(settleWithin, func() bool {
				tr.CloseIdleConnections()
				return runtime.NumGoroutine() <= base+goroutineSlack && inFlight() == 0
			})
			took, extra, flights := time.Since(last), runtime.NumGoroutine()-base, inFlight()
			release()
			lines[im.name] = fmt.Sprintf("%s: %d abandoned, %d refused 429, %d answered; kube-apiserver received %d reviews, "+
				"saw %d cancelled; %d goroutines over baseline and %d reviews in flight after %v",
				im.name, abandoned.Load(), refused.Load(), answered.Load(), sar.SARCounts().Received-before, sar.SARCounts().Cancelled,
				extra, flights, took.Round(time.Millisecond))
			if im.name == "aggauth" && !settled {
				t.Errorf("within %v of the last abandonment: got %d goroutines over baseline (want at most %d) and %d reviews in flight (want 0); %v",
					settleWithin, extra, goroutineSlack, flights, goleak.Find(ign))
			}
		})
	}
	t.Logf("abandoned reviews, %d requests: %s | %s", abandonRequests, lines["aggauth"], lines["kubernetes"])
}

// TestLegitimateRequestDuringFlood drives the rule "an unprivileged caller
// cannot starve others": one user floods cache misses (300 requests at a
// time, random names, never giving up) while kube-apiserver answers in 5 ms
// behind the client's 200 QPS / burst 400 limit; once the burst is spent, a
// second user sends 5 requests, each its own cache miss. Each must be answered
// (allowed or denied: not 429 or 503) within 1 s. aggauth bounds the flooder
// to 64 reviews in flight, so at most 64 reviews queue ahead of the second
// user; Kubernetes queues every flooding request in the rate limiter, so the
// second user waits behind all of them: the control reports that wait.
func TestLegitimateRequestDuringFlood(t *testing.T) {
	p := thePKI()
	lines := map[string]string{}
	for _, build := range builders {
		sar := newSARServer(t, sarLatency, allowAll)
		im := build(t, p, chainOptions{sar: sar})
		t.Run(im.name, func(t *testing.T) {
			s := serve(t, p, im.handler)
			attacker := &http.Client{Transport: transport(p, &p.proxy, true), Timeout: time.Minute}
			legit := &http.Client{Transport: transport(p, &p.proxy, true), Timeout: time.Minute}
			for _, c := range []*http.Client{attacker, legit} { // open the connections
				code, err := send(context.Background(), c, missURL(s, "warmup"), "warmup")
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, code)
			}
			ctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var floodCodes sync.Map // status code → *atomic.Int64
			for range floodWorkers {
				wg.Go(func() {
					for ctx.Err() == nil {
						code, err := send(ctx, attacker, missURL(s, "flood"), "mallory")
						if err != nil && ctx.Err() != nil {
							return
						}
						n, _ := floodCodes.LoadOrStore(code, new(atomic.Int64))
						n.(*atomic.Int64).Add(1)
					}
				})
			}
			// Wait until the flood has spent the client's burst of 400 reviews.
			require.True(t, poll(10*time.Second, func() bool { return sar.SARCounts().Received >= 500 }), "the flood did not start")

			var lat []time.Duration
			var codes []int
			for i := range legitRequests {
				start := time.Now()
				code, err := send(context.Background(), legit, missURL(s, fmt.Sprintf("legit-%d", i)), "alice")
				lat = append(lat, time.Since(start))
				codes = append(codes, code)
				if err != nil {
					t.Errorf("legitimate request: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			stop()
			wg.Wait()
			flood := map[int]int64{}
			floodCodes.Range(func(k, v any) bool { flood[k.(int)] = v.(*atomic.Int64).Load(); return true })
			lines[im.name] = fmt.Sprintf("%s: legit max %v (codes %v), flood answers %v",
				im.name, slices.Max(lat).Round(time.Millisecond), codes, flood)
			if im.name == "aggauth" {
				for i := range lat {
					assert.Contains(t, []int{http.StatusOK, http.StatusForbidden}, codes[i], "legitimate request %d: got status %d", i, codes[i])
					assert.Less(t, lat[i], legitBound, "legitimate request %d: got latency %v; want under %v", i, lat[i], legitBound)
				}
			}
		})
	}
	t.Logf("legitimate request during a flood of cache misses (SAR latency %v, 200 QPS / burst 400): %s | %s (bound %v)",
		sarLatency, lines["aggauth"], lines["kubernetes"], legitBound)
}
