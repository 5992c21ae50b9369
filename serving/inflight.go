package serving

import (
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/aggauth/aggauth/pipeline"
	"github.com/aggauth/aggauth/status"
)

// tooManyRequests is the generic apiserver's answer beyond the in-flight
// limit, "Too many requests, please try again later." with Retry-After: 1,
// as a Status (Kubernetes writes the text alone, as text/plain): kubectl
// prints it as any refusal, and client-go reads it as the same 429 with the
// same Retry-After.
var tooManyRequests = status.TooManyRequests("Too many requests, please try again later.", time.Second)

// inflightStep is the generic apiserver's WithMaxInFlightLimit: requests
// that are not long-running, read-only (get, list) or mutating (the rest),
// each kind bounded apart; beyond its bound a request is answered 429 unless
// its user is in system:masters (the aggregator's availability probe, the
// cluster's administrators). It is a Runner, run after authentication and
// impersonation and before authorization, as in Kubernetes, so that it
// knows the user and holds its slot until the rest of the request returns.
// Every request is counted, also without a bound, for
// apiserver_current_inflight_requests.
type inflightStep struct {
	readOnly, mutating *limiter
}

func newInflightStep(o Options, g *inflightGauge) inflightStep {
	g.readOnly.limit, g.mutating.limit = int64(o.MaxRequestsInFlight), int64(o.MaxMutatingRequestsInFlight)
	return inflightStep{readOnly: &g.readOnly, mutating: &g.mutating}
}

// Serve is not called: the pipeline calls Run.
func (inflightStep) Serve(_ http.ResponseWriter, r *http.Request, _ *pipeline.State) *http.Request {
	return r
}

// Run runs rest in a slot of the request's kind, or answers 429.
func (st inflightStep) Run(w http.ResponseWriter, r *http.Request, s *pipeline.State, rest func(http.ResponseWriter, *http.Request)) {
	if s.LongRunning {
		rest(w, r)
		return
	}
	l := st.mutating
	if readOnlyVerb(s, r) {
		l = st.readOnly
	}
	n, ok := l.acquire()
	if !ok {
		if inSystemMasters(s.User()) {
			rest(w, r) // exempt, without a slot, as in Kubernetes
			return
		}
		if sr := seriesFrom(s); sr != nil {
			sr.terminated(http.StatusTooManyRequests)
		}
		status.Write(w, tooManyRequests)
		return
	}
	l.mark.observe(n, s.Received.Unix())
	defer l.release()
	rest(w, r)
}

// readOnlyVerb reports whether the request's verb is get, list or watch
// (Kubernetes' nonMutatingRequestVerbs).
func readOnlyVerb(s *pipeline.State, r *http.Request) bool {
	info := s.RequestInfo()
	if info == nil { // not resolved: the verb of its method
		return strings.EqualFold(r.Method, http.MethodGet) || strings.EqualFold(r.Method, http.MethodHead)
	}
	switch info.Verb {
	case "get", "list", "watch":
		return true
	}
	return false
}

func inSystemMasters(u user.Info) bool {
	return u != nil && slices.Contains(u.GetGroups(), user.SystemPrivilegedGroup)
}

// limiter counts the requests in flight of one kind, within limit (0: none).
type limiter struct {
	limit int64
	n     atomic.Int64
	mark  watermark
}

// acquire takes a slot and returns the count with it, or reports false when
// the limit is reached.
func (l *limiter) acquire() (int64, bool) {
	if l.limit == 0 {
		return l.n.Add(1), true
	}
	for {
		n := l.n.Load()
		if n >= l.limit {
			return n, false
		}
		if l.n.CompareAndSwap(n, n+1) {
			return n + 1, true
		}
	}
}

func (l *limiter) release() { l.n.Add(-1) }

// watermark is the highest count of a second, for the gauge: Kubernetes
// reports the highest count of the last second (a goroutine takes it every
// second); here the gauge reads it when scraped, without a goroutine: the
// highest of this second, the one before and now.
type watermark struct {
	current, previous atomic.Uint64 // second<<markBits | highest count in that second
}

const (
	markBits = 24
	markMax  = 1<<markBits - 1
)

// observe records the count n at the unix second now.
func (w *watermark) observe(n, now int64) {
	n = min(n, markMax)
	for {
		old := w.current.Load()
		sec, high := int64(old>>markBits), int64(old&markMax)
		if sec > now || sec == now && n <= high {
			return
		}
		if w.current.CompareAndSwap(old, uint64(now)<<markBits|uint64(n)) {
			if sec != now {
				w.previous.Store(old)
			}
			return
		}
	}
}

// highest returns the highest count of the second now and the one before.
func (w *watermark) highest(now int64) int64 {
	var high int64
	for _, v := range []uint64{w.current.Load(), w.previous.Load()} {
		if sec := int64(v >> markBits); sec >= now-1 && sec <= now {
			high = max(high, int64(v&markMax))
		}
	}
	return high
}

// inflightGauge is apiserver_current_inflight_requests{request_kind}: the
// highest number of requests in flight of each kind (readOnly, mutating)
// in the last second.
type inflightGauge struct {
	desc               *prometheus.Desc
	readOnly, mutating limiter
}

func newInflightGauge() *inflightGauge {
	return &inflightGauge{desc: prometheus.NewDesc("apiserver_current_inflight_requests",
		"[STABLE] Maximal number of currently used inflight request limit of this apiserver per request kind in last second.",
		[]string{"request_kind"}, nil)}
}

// Describe implements prometheus.Collector.
func (g *inflightGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// Collect implements prometheus.Collector.
func (g *inflightGauge) Collect(ch chan<- prometheus.Metric) {
	now := time.Now().Unix()
	for _, k := range []struct {
		l    *limiter
		kind string
	}{{&g.readOnly, "readOnly"}, {&g.mutating, "mutating"}} {
		v := max(k.l.mark.highest(now), k.l.n.Load())
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(v), k.kind)
	}
}
