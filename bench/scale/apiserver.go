//go:build scale

package scale

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/aggauth/aggauth/authz"
)

// apiserver is kube-apiserver's SubjectAccessReview endpoint, in process: an
// http.RoundTripper that a client-go REST client sends its requests to, with
// no network, so that it runs in a synctest bubble. Like internal/fakekube it
// answers every review after a latency, allowing it, and counts them; it also
// records when each review arrived, for timelines.
type apiserver struct {
	latency time.Duration

	received atomic.Int64

	mu    sync.Mutex // guards times and bodies
	times []time.Time
	keys  []string // the reviews as sent, by index in times
	keep  bool     // record arrival times and reviews
}

// RoundTrip answers one POST of a SubjectAccessReview.
func (s *apiserver) RoundTrip(req *http.Request) (*http.Response, error) {
	var sar authorizationv1.SubjectAccessReview
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err == nil {
		err = json.Unmarshal(body, &sar)
	}
	if err != nil {
		return respond(req, http.StatusBadRequest, []byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","code":400}`)), nil
	}
	s.received.Add(1)
	if s.keep {
		s.mu.Lock()
		s.times = append(s.times, time.Now())
		s.keys = append(s.keys, string(body))
		s.mu.Unlock()
	}
	if s.latency > 0 {
		t := time.NewTimer(s.latency)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
			return nil, req.Context().Err()
		}
	}
	sar.Kind, sar.APIVersion = "SubjectAccessReview", "authorization.k8s.io/v1"
	sar.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "allowed by the simulation"}
	out, err := json.Marshal(&sar)
	if err != nil {
		return nil, err
	}
	return respond(req, http.StatusCreated, out), nil
}

func respond(req *http.Request, code int, body []byte) *http.Response {
	return &http.Response{
		StatusCode: code, Status: http.StatusText(code), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)), Request: req,
	}
}

// restConfig is a client configuration for s with Kubernetes' delegated
// authorization client budget: 200 QPS, burst 400, 10 s timeout; or, when
// unlimited, no client-side rate limit: every review is sent at once, so that
// the reviews per second measure what the cache needs, not what the budget
// lets through.
func (s *apiserver) restConfig(unlimited bool) *rest.Config {
	c := &rest.Config{
		Host: "http://kube-apiserver.simulated", Transport: s,
		QPS: authz.DefaultReviewClientQPS, Burst: authz.DefaultReviewClientBurst, Timeout: authz.DefaultReviewClientTimeout,
	}
	if unlimited {
		c.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	}
	return c
}

// reviewsBetween returns how many reviews arrived in [from, to), how many
// distinct ones, and the most that arrived in any 100 ms.
func (s *apiserver) reviewsBetween(from, to time.Time) (n, distinct, peak int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	buckets := map[int64]int{}
	for i, at := range s.times {
		if at.Before(from) || !at.Before(to) {
			continue
		}
		n++
		if !seen[s.keys[i]] {
			seen[s.keys[i]] = true
			distinct++
		}
		b := at.Sub(from).Milliseconds() / 100
		buckets[b]++
		peak = max(peak, buckets[b])
	}
	return n, distinct, peak
}
