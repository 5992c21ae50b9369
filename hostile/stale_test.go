//go:build hostile

package hostile

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/aggauth/aggauth/authz"
)

const (
	staleKeys    = 100                    // distinct requests mallory was allowed once
	staleFlood   = 2000                   // mallory's requests after the revocation
	staleWorkers = 200                    // at a time
	staleOthers  = 100                    // other users' workers spending the rate limit meanwhile
	staleTTL     = 100 * time.Millisecond // the allow TTL; stale-if-error is 1 h
)

// staleOptions is an authorizer that may reuse an allow for an hour when
// kube-apiserver cannot be reached, and caches it fresh for 100 ms. Denials
// are not cached, so that every request of the flood is a review that may fail
// while the earlier allow is still in the cache.
var staleOptions = authz.Options{StaleIfError: time.Hour, AllowTTL: staleTTL, DenyTTL: -1}

// staleScenarios are the floods: kube-apiserver up and answering at once with
// the default review timeout; or answering in 50 ms while a review may take
// 500 ms, less than the rate limiter's queue during the flood, so that reviews
// run out of time because of local waits, never because kube-apiserver is
// slow. Kubernetes' webhook has no review timeout: it is the control of the
// first scenario only. (The second scenario found a bug: a review whose
// Timeout ran out in the rate limiter's queue, and so in the round trip that
// followed, counted as kube-apiserver unreachable.)
var staleScenarios = []struct {
	name     string
	latency  time.Duration
	timeout  time.Duration
	controls bool
}{
	{name: "rate-limited", controls: true},
	{name: "review-timeout", latency: 50 * time.Millisecond, timeout: 500 * time.Millisecond},
}

// TestNoStaleAllowWithoutOutage drives the rule "stale-if-error applies only
// when kube-apiserver was unreachable or answered 5xx/429, never for local
// waits, rate limiting or cancellation": mallory is allowed 100 requests once;
// then kube-apiserver, up all along, starts denying her, and once the allows
// are no longer fresh she sends 2,000 of those requests, 200 at a time, a
// quarter of them abandoned after 1 ms, while other users' cache misses fill
// the client's rate limiter: her reviews are refused for too many in flight
// (429), wait for the rate limiter, run out of time there, or are cancelled.
// Not one may be allowed. Kubernetes has no stale-if-error: its count is the
// control. The outage subtests check the feature itself: with kube-apiserver
// gone, an allow answered earlier does answer (aggauth), where Kubernetes
// fails the request.
func TestNoStaleAllowWithoutOutage(t *testing.T) {
	p := thePKI()
	for _, sc := range staleScenarios {
		lines := map[string]string{"kubernetes": "kubernetes: no review timeout (control: rate-limited)"}
		impls := builders
		if !sc.controls {
			impls = builders[:1] // aggauth alone
		}
		for _, build := range impls {
			var revoked atomic.Bool
			sar := newSARServer(t, sc.latency, func(spec authorizationv1.SubjectAccessReviewSpec) bool {
				return spec.User != "mallory" || !revoked.Load()
			})
			opts := staleOptions
			opts.Timeout = sc.timeout
			im := build(t, p, chainOptions{sar: sar, authz: opts})
			t.Run(sc.name+"/"+im.name, func(t *testing.T) {
				counts := floodAfterRevocation(t, p, im, &revoked)
				lines[im.name] = fmt.Sprintf("%s %d allowed %v", im.name, counts[http.StatusOK], counts)
				if im.name == "aggauth" {
					assert.Zero(t, counts[http.StatusOK], "requests allowed after the revocation: got %d; want 0 (answers by status: %v)",
						counts[http.StatusOK], counts)
				}
			})
		}
		t.Logf("stale allows after revocation (%s: SAR latency %v, review timeout %v), %d requests while kube-apiserver is up: %s | %s (bound 0; answers by status, 0 = abandoned)",
			sc.name, sc.latency, orDefault(sc.timeout, authz.DefaultTimeout), staleFlood, lines["aggauth"], lines["kubernetes"])
	}

	outage := map[string]int{}
	for _, build := range builders {
		sar := newSARServer(t, 0, allowAll)
		im := build(t, p, chainOptions{sar: sar, authz: staleOptions})
		t.Run("outage/"+im.name, func(t *testing.T) {
			s := serve(t, p, im.handler)
			c := &http.Client{Transport: transport(p, &p.proxy, true), Timeout: time.Minute}
			url := s.URL + resourcePath + "/during-outage"
			code, err := send(context.Background(), c, url, "bob")
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code)
			time.Sleep(2 * staleTTL) // the allow is no longer fresh
			sar.Close()              // kube-apiserver is gone
			outage[im.name], err = send(context.Background(), c, url, "bob")
			require.NoError(t, err)
			if im.name == "aggauth" {
				assert.Equal(t, http.StatusOK, outage[im.name], "an earlier allow during an outage (stale-if-error)")
			}
		})
	}
	t.Logf("answer to an earlier allowed request once kube-apiserver is gone: aggauth %d, kubernetes %d (want aggauth 200: stale-if-error)",
		outage["aggauth"], outage["kubernetes"])
}

// floodAfterRevocation has mallory allowed staleKeys requests once, revokes
// her, waits for the allows to go stale, floods, and returns the number of
// flood answers by status code (0 for abandoned requests).
func floodAfterRevocation(t *testing.T, p *pki, im *impl, revoked *atomic.Bool) map[int]int64 {
	s := serve(t, p, im.handler)
	c := &http.Client{Transport: transport(p, &p.proxy, true), Timeout: time.Minute}
	urls := make([]string, staleKeys)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s%s/granted-%d", s.URL, resourcePath, i)
	}
	run(staleKeys, 16, func(i int) { // mallory is allowed each request once
		for {
			code, err := send(context.Background(), c, urls[i], "mallory")
			if err != nil || code != http.StatusTooManyRequests {
				assert.NoError(t, err)
				assert.Equal(t, http.StatusOK, code, "before the revocation")
				return
			}
		}
	})
	revoked.Store(true)
	time.Sleep(2 * staleTTL) // the allows are no longer fresh

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range staleOthers { // others' cache misses fill the client's rate limiter
		wg.Go(func() {
			for ctx.Err() == nil {
				_, _ = send(ctx, c, missURL(s, "other"), fmt.Sprintf("user-%d", w%8))
			}
		})
	}
	var mu sync.Mutex
	counts := map[int]int64{}
	run(staleFlood, staleWorkers, func(i int) {
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if i%4 == 0 {
			ctx, cancel = context.WithTimeout(ctx, time.Millisecond)
		}
		defer cancel()
		code, _ := send(ctx, c, urls[i%staleKeys], "mallory")
		mu.Lock()
		counts[code]++
		mu.Unlock()
	})
	stop()
	wg.Wait()
	return counts
}
