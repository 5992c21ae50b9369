package authz

import "github.com/prometheus/client_golang/prometheus"

// metrics are the Authorizer's Prometheus collectors. They are not registered
// anywhere; Collectors hands them to the user.
type metrics struct {
	hits, misses, coalesced, errors, staleAllows, refused prometheus.Counter
	latency                                               prometheus.Histogram
}

func newMetrics() *metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "aggauth", Subsystem: "authz", Name: name, Help: help})
	}
	return &metrics{
		hits:        counter("cache_hits_total", "Authorization decisions answered from the cache."),
		misses:      counter("cache_misses_total", "Authorization decisions not found in the cache."),
		coalesced:   counter("coalesced_waits_total", "Cache misses that waited for a SubjectAccessReview another request had sent."),
		errors:      counter("sar_errors_total", "SubjectAccessReviews that failed, after retries."),
		staleAllows: counter("stale_allows_total", "Failed SubjectAccessReviews answered by an earlier allow (stale-if-error)."),
		refused:     counter("too_many_in_flight_total", "Cache misses refused because MaxInFlight or MaxInFlightPerUser reviews were in flight."),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "aggauth", Subsystem: "authz", Name: "sar_duration_seconds",
			Help:    "Latency of each SubjectAccessReview request to kube-apiserver, retries counted apart.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.hits, m.misses, m.coalesced, m.errors, m.staleAllows, m.refused, m.latency}
}
