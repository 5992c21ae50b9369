// Package reviewmetrics records the requests an extension apiserver sends
// kube-apiserver to authenticate and authorize its callers under Kubernetes'
// names: apiserver_delegated_authn_request_total and
// apiserver_delegated_authz_request_total, and their latency histograms.
package reviewmetrics

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// reviewBuckets are the buckets of Kubernetes' delegated authentication and
// authorization latency histograms.
var reviewBuckets = []float64{0.25, 0.5, 0.7, 1, 1.5, 3, 5, 10}

// Metrics are the metrics of the requests an extension apiserver sends
// kube-apiserver to authenticate (TokenReview) or authorize
// (SubjectAccessReview) its callers, as k8s.io/apiserver's delegating
// authenticator and authorizer record them
// (pkg/authentication/authenticatorfactory/metrics.go,
// pkg/authorization/authorizerfactory/metrics.go): a counter and a latency
// histogram by code, the HTTP status code kube-apiserver answered, or
// "<error>" when none came. Each request is recorded, retries included.
// Nothing is registered anywhere: Collectors hands them to the caller. A
// Metrics is safe for concurrent use.
type Metrics struct {
	total   *prometheus.CounterVec
	latency *prometheus.HistogramVec
	codes   [len(reviewCodes)]atomic.Pointer[reviewChildren]
}

// reviewCodes are the codes with a slot; index 0 is "<error>".
var reviewCodes = [...]int{0, 200, 201, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504}

type reviewChildren struct {
	total   prometheus.Counter
	latency prometheus.Observer
}

// NewAuthn returns the metrics of TokenReviews:
// apiserver_delegated_authn_request_total{code} and
// apiserver_delegated_authn_request_duration_seconds{code}.
func NewAuthn() *Metrics { return newMetrics("authn") }

// NewAuthz returns the metrics of SubjectAccessReviews:
// apiserver_delegated_authz_request_total{code} and
// apiserver_delegated_authz_request_duration_seconds{code}.
func NewAuthz() *Metrics { return newMetrics("authz") }

func newMetrics(kind string) *Metrics {
	return &Metrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "apiserver_delegated_" + kind + "_request_total",
			Help: "[ALPHA] Number of HTTP requests partitioned by status code."}, []string{"code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "apiserver_delegated_" + kind + "_request_duration_seconds",
			Help: "[ALPHA] Request latency in seconds. Broken down by status code.", Buckets: reviewBuckets}, []string{"code"}),
	}
}

// Collectors returns the counter and the histogram, for the caller to
// register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.total, m.latency}
}

// Record records one request to kube-apiserver that took latency: code is
// the HTTP status code of its answer (201 for a review created), or 0 when
// no answer came (a connection error, a timeout), recorded as "<error>".
func (m *Metrics) Record(code int, latency time.Duration) {
	c := m.children(code)
	c.total.Inc()
	c.latency.Observe(latency.Seconds())
}

func (m *Metrics) children(code int) *reviewChildren {
	i := -1
	for j, c := range reviewCodes {
		if c == code {
			i = j
			break
		}
	}
	if i < 0 {
		return m.newChildren(code)
	}
	if c := m.codes[i].Load(); c != nil {
		return c
	}
	c := m.newChildren(code)
	if m.codes[i].CompareAndSwap(nil, c) {
		return c
	}
	return m.codes[i].Load()
}

func (m *Metrics) newChildren(code int) *reviewChildren {
	label := "<error>"
	if code != 0 {
		label = strconv.Itoa(code)
	}
	return &reviewChildren{total: m.total.WithLabelValues(label), latency: m.latency.WithLabelValues(label)}
}

// WrapTransport returns rt recording each round trip in m: its response's
// status code, or "<error>" when it failed, and the time to the response's
// headers. It fits client-go's rest.Config.Wrap, for the client that sends
// the reviews:
//
//	cfg.Wrap(metrics.WrapTransport)
func (m *Metrics) WrapTransport(rt http.RoundTripper) http.RoundTripper {
	return reviewTransport{rt: rt, m: m}
}

type reviewTransport struct {
	rt http.RoundTripper
	m  *Metrics
}

// RoundTrip implements http.RoundTripper.
func (t reviewTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.rt.RoundTrip(r)
	code := 0
	if err == nil {
		code = resp.StatusCode
	}
	t.m.Record(code, time.Since(start))
	return resp, err
}
