package authn

import "github.com/prometheus/client_golang/prometheus"

// Results of token authentication, the values of the result label of
// aggauth_authn_token_requests_total.
const (
	tokenResultSuccess = "success"            // authenticated
	tokenResultInvalid = "invalid"            // not authenticated by kube-apiserver
	tokenResultError   = "error"              // the review could not be completed
	tokenResultTooMany = "too_many_in_flight" // refused: see ErrTooManyInFlight
)

// tokenMetrics are the Token's Prometheus collectors. They are not registered
// anywhere; Collectors hands them to the user. The children of the requests
// vector are resolved once, so that counting costs a cache hit no lookup.
type tokenMetrics struct {
	requests                              *prometheus.CounterVec
	success, invalid, failed, refused     prometheus.Counter
	hits, misses, coalesced, reviewErrors prometheus.Counter
	latency                               prometheus.Histogram
}

func newTokenMetrics() *tokenMetrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "aggauth", Subsystem: "authn_token", Name: name, Help: help})
	}
	m := &tokenMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "aggauth", Subsystem: "authn_token", Name: "requests_total",
			Help: "Requests with a bearer token, by result: success, invalid (not authenticated), error (the TokenReview could not be completed), too_many_in_flight.",
		}, []string{"result"}),
		hits:         counter("cache_hits_total", "Bearer tokens answered from the cache."),
		misses:       counter("cache_misses_total", "Bearer tokens not found in the cache."),
		coalesced:    counter("coalesced_waits_total", "Cache misses that waited for a TokenReview another request had sent."),
		reviewErrors: counter("review_errors_total", "TokenReviews that failed, after retries."),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "aggauth", Subsystem: "authn_token", Name: "review_duration_seconds",
			Help:    "Latency of each TokenReview request to kube-apiserver, retries counted apart.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
	}
	m.success = m.requests.WithLabelValues(tokenResultSuccess)
	m.invalid = m.requests.WithLabelValues(tokenResultInvalid)
	m.failed = m.requests.WithLabelValues(tokenResultError)
	m.refused = m.requests.WithLabelValues(tokenResultTooMany)
	return m
}

func (m *tokenMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.hits, m.misses, m.coalesced, m.reviewErrors, m.latency}
}
