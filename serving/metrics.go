package serving

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apiserver/pkg/endpoints/request"
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
func (m *metrics) handler(longRunning request.LongRunningRequestCheck, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := requestInfoOf(r)
		verb := metricVerb(r, info)
		timed := !isLongRunning(longRunning, r, info)
		rw := recordingWriter(w)
		start := time.Now()
		completed := false
		defer func() {
			if !completed { // a panic is going up to net/http: an abort
				m.aborts.WithLabelValues(verb).Inc()
				return
			}
			code := rw.code
			if code == 0 {
				code = http.StatusOK
			}
			m.requests.WithLabelValues(verb, codeLabel(code)).Inc()
			if timed {
				m.latency.WithLabelValues(verb).Observe(time.Since(start).Seconds())
			}
		}()
		next.ServeHTTP(rw, r)
		completed = true
	})
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
