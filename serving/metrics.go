package serving

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/pipeline"
)

// latencyBuckets are the buckets of Kubernetes' apiserver_request_duration_seconds.
var latencyBuckets = []float64{0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60}

// metrics are the Server's Prometheus collectors. The names are the library's
// own (aggauth_serving_*): Kubernetes' apiserver_request_* carry labels
// (group, resource, scope...) these do not, and could clash with Kubernetes'
// metrics in one registry. Labels are bounded: verb from a fixed set, code
// from the status codes net/http accepts (100 to 999).
type metrics struct {
	requests *prometheus.CounterVec   // {verb, code}
	aborts   *prometheus.CounterVec   // {verb}
	latency  *prometheus.HistogramVec // {verb}

	counters   [len(metricVerbs)][len(metricCodes)]atomic.Pointer[prometheus.Counter]
	histograms [len(metricVerbs)]atomic.Pointer[prometheus.Observer]
}

func newMetrics() *metrics {
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "aggauth", Subsystem: "serving", Name: name, Help: help}
	}
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts(opts("requests_total",
			"Requests served, by verb and HTTP status code.")), []string{"verb", "code"}),
		aborts: prometheus.NewCounterVec(prometheus.CounterOpts(opts("request_aborts_total",
			"Requests whose response was aborted (reset stream or closed connection), by verb.")), []string{"verb"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "aggauth", Subsystem: "serving",
			Name: "request_duration_seconds", Help: "Time to serve requests that are not long-running, by verb.",
			Buckets: latencyBuckets}, []string{"verb"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.aborts, m.latency}
}

// handler counts and times each request. longRunning requests are counted,
// not timed.
// metricsStep records every request in m at its end, as the generic
// apiserver's latency trackers and request metrics: requests by verb and
// code, the latency of those that are not long-running, and the responses
// aborted (a panic after the response started).
type metricsStep struct{ m *metrics }

// verbKey holds, in a request's state, the index of its metric verb in
// metricVerbs: read from the request before the handler, which may change the
// request's headers (even after a timeout, on its own goroutine).
type verbKey struct{}

func (metricsStep) Serve(_ http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	s.WithValue(verbKey{}, verbIndex(metricVerb(r, requestInfoOf(r, s))))
	return r
}

func (st metricsStep) Finish(s *pipeline.State) {
	verb := metricVerbs[s.Value(verbKey{}).(int)]
	w := s.Writer()
	if p, _ := s.Panic(); p != nil && (p == http.ErrAbortHandler || w.Aborted()) {
		st.m.aborts.WithLabelValues(verb).Inc()
		return
	}
	code := w.Code()
	if code == 0 {
		code = http.StatusOK
	}
	st.m.requestsFor(verb, code).Inc()
	if !s.LongRunning {
		st.m.latencyFor(verb).Observe(time.Since(s.Received).Seconds())
	}
}

// requestsFor returns the counter of verb and code, from a table filled on
// first use for the verbs of metricVerb and the usual codes (a label lookup
// hashes its values: about 100 ns a request).
func (m *metrics) requestsFor(verb string, code int) prometheus.Counter {
	v, c := verbIndex(verb), codeIndex(code)
	if c < 0 {
		return m.requests.WithLabelValues(verb, codeLabel(code))
	}
	slot := &m.counters[v][c]
	if ctr := slot.Load(); ctr != nil {
		return *ctr
	}
	ctr := m.requests.WithLabelValues(verb, codeLabel(code))
	slot.Store(&ctr)
	return ctr
}

// latencyFor returns the histogram of verb, from a table as requestsFor.
func (m *metrics) latencyFor(verb string) prometheus.Observer {
	slot := &m.histograms[verbIndex(verb)]
	if h := slot.Load(); h != nil {
		return *h
	}
	h := m.latency.WithLabelValues(verb)
	slot.Store(&h)
	return h
}

// metricVerbs are the verbs metricVerb returns, indexed for the tables.
var metricVerbs = [...]string{"GET", "LIST", "WATCH", "POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION",
	"HEAD", "OPTIONS", "CONNECT", "OTHER"}

// verbIndex returns the index of verb, one of metricVerbs.
func verbIndex(verb string) int {
	for i, v := range metricVerbs {
		if v == verb {
			return i
		}
	}
	panic("serving: unknown metric verb " + verb)
}

// metricCodes are the codes with a slot in the tables.
var metricCodes = [...]int{200, 201, 304, 400, 401, 403, 404, 429, 500, 503, 504}

func codeIndex(code int) int {
	for i, c := range metricCodes {
		if c == code {
			return i
		}
	}
	return -1
}

// metricVerb is Kubernetes' verb label (metrics.go cleanVerb): LIST, WATCH,
// DELETECOLLECTION and APPLY where the request is one, else the method;
// OTHER for a method outside the fixed set.
func metricVerb(r *http.Request, info *request.RequestInfo) string {
	switch info.Verb {
	case "list":
		return "LIST"
	case "watch":
		return "WATCH"
	case "deletecollection":
		return "DELETECOLLECTION"
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodOptions, http.MethodConnect:
		return r.Method
	case http.MethodPatch:
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/apply-patch") {
			return "APPLY"
		}
		return r.Method
	}
	return "OTHER"
}

// codeLabel is code in decimal, without allocating for the usual codes.
func codeLabel(code int) string {
	switch code {
	case 200:
		return "200"
	case 201:
		return "201"
	case 304:
		return "304"
	case 400:
		return "400"
	case 401:
		return "401"
	case 403:
		return "403"
	case 404:
		return "404"
	case 429:
		return "429"
	case 500:
		return "500"
	case 503:
		return "503"
	case 504:
		return "504"
	}
	return strconv.Itoa(code)
}
