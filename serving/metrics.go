package serving

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aggauth/aggauth/pipeline"
)

// Buckets of Kubernetes' request histograms (k8s.io/apiserver
// pkg/endpoints/metrics/metrics.go).
var (
	durationBuckets = []float64{0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3,
		4, 5, 6, 8, 10, 15, 20, 30, 45, 60}
	sliBuckets = []float64{0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3,
		4, 5, 6, 8, 10, 15, 20, 30, 45, 60}
	sizeBuckets = prometheus.ExponentialBuckets(1000, 10, 7)
)

// The label names of Kubernetes' request metrics, in its order.
var (
	labelsWithCode = []string{"verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component", "code"}
	labelsDryRun   = []string{"verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component"}
	labelsPlain    = []string{"verb", "group", "version", "resource", "subresource", "scope", "component"}
	labelsTermed   = []string{"verb", "group", "version", "resource", "subresource", "scope", "component", "code"}
	labelsAborts   = []string{"verb", "group", "version", "resource", "subresource", "scope"}
)

// metrics are the Server's Prometheus collectors: Kubernetes' request
// metrics, with their names, types, labels, buckets and help (the help
// starts with the stability level, as component-base writes it), so that the
// dashboards and alerts written for kube-apiserver and the generic apiserver
// read them unchanged. Labels are bounded whatever clients send: see
// labelTable.
type metrics struct {
	requests     *prometheus.CounterVec   // apiserver_request_total
	duration     *prometheus.HistogramVec // apiserver_request_duration_seconds
	sli          *prometheus.HistogramVec // apiserver_request_sli_duration_seconds
	sizes        *prometheus.HistogramVec // apiserver_response_sizes
	longRunning  *prometheus.GaugeVec     // apiserver_longrunning_requests
	terminations *prometheus.CounterVec   // apiserver_request_terminations_total
	aborts       *prometheus.CounterVec   // apiserver_request_aborts_total
	inflight     *inflightGauge           // apiserver_current_inflight_requests

	table *labelTable
}

func newMetrics(resources func(group, version, resource, subresource string) bool) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "apiserver_request_total",
			Help: "[STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code."},
			labelsWithCode),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "apiserver_request_duration_seconds",
			Help:    "[STABLE] Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.",
			Buckets: durationBuckets}, labelsDryRun),
		sli: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "apiserver_request_sli_duration_seconds",
			Help:    "[ALPHA] Response latency distribution (not counting webhook duration and priority & fairness queue wait times) in seconds for each verb, group, version, resource, subresource, scope and component.",
			Buckets: sliBuckets}, labelsPlain),
		sizes: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "apiserver_response_sizes",
			Help:    "[STABLE] Response size distribution in bytes for each group, version, verb, resource, subresource, scope and component.",
			Buckets: sizeBuckets}, labelsPlain),
		longRunning: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "apiserver_longrunning_requests",
			Help: "[STABLE] Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component. Not all requests are tracked this way."},
			labelsPlain),
		terminations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "apiserver_request_terminations_total",
			Help: "[ALPHA] Number of requests which apiserver terminated in self-defense."}, labelsTermed),
		aborts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "apiserver_request_aborts_total",
			Help: "[ALPHA] Number of requests which apiserver aborted possibly due to a timeout, for each group, version, verb, resource, subresource and scope"},
			labelsAborts),
		inflight: newInflightGauge(),
	}
	m.table = newLabelTable(m, resources)
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration, m.sli, m.sizes, m.longRunning, m.terminations, m.aborts, m.inflight}
}

// metricsStep records every request at its end, as the generic apiserver's
// request metrics (its handlers' MonitorRequest and RecordLongRunning, its
// panic recovery's RecordRequestAbort, its timeout's
// RecordRequestTermination). It runs before the panic recovery, so that a
// panic is counted as the 500 it becomes.
type metricsStep struct{ m *metrics }

// seriesKey holds, in a request's state, its *series: the labels are read
// from the request before the handler, which may change the request's
// headers (even after a timeout, on its own goroutine).
type seriesKey struct{}

func (st metricsStep) Serve(_ http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	sr := st.m.table.seriesOf(r, requestInfoOf(r, s))
	s.WithValue(seriesKey{}, sr)
	if s.LongRunning {
		sr.longRunningGauge().Inc()
	}
	return r
}

func (st metricsStep) Finish(s *pipeline.State) {
	sr := seriesFrom(s)
	if s.LongRunning {
		sr.longRunningGauge().Dec()
	}
	w := s.Writer()
	if p, _ := s.Panic(); p != nil && (p == http.ErrAbortHandler || w.Aborted()) {
		sr.abortCounter().Inc()
		return
	}
	code := w.Code()
	if code == 0 {
		code = http.StatusOK
	}
	sr.requestCounter(code).Inc()
	elapsed := time.Since(s.Received).Seconds()
	sr.duration.Observe(elapsed)
	if sr.sli != nil {
		sr.sli.Observe(elapsed) // no webhooks nor queues to take out
	}
	if sr.sized {
		sr.sizeObserver().Observe(float64(w.Size()))
	}
	if w.TimedOut() {
		sr.terminated(http.StatusGatewayTimeout)
	}
}

// seriesFrom returns the series metricsStep chose for the request.
func seriesFrom(s *pipeline.State) *series {
	sr, _ := s.Value(seriesKey{}).(*series)
	return sr
}
