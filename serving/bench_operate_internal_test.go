package serving

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/apimachinery/pkg/util/sets"
	genericapifilters "k8s.io/apiserver/pkg/endpoints/filters"
	epmetrics "k8s.io/apiserver/pkg/endpoints/metrics"
	genericfilters "k8s.io/apiserver/pkg/server/filters"

	"github.com/aggauth/aggauth/pipeline"
	"github.com/aggauth/aggauth/requestinfo"
)

// benchDeclared is the API of the benchmarks: g/v1 things.
func benchDeclared(group, version, resource, subresource string) bool {
	return group == "g" && version == "v1" && resource == "things" && subresource == ""
}

// The cost of the request metrics, of the in-flight limit and of the body
// limit, each alone behind the RequestInfo they need (filter=requestinfo:
// the cost to subtract), against the bare handler (impl=none) and
// Kubernetes' same code: its RequestInfo filter, its latency trackers
// and its handlers' instrumentation (metrics.InstrumentHandlerFunc, as its
// installer wraps a route: MonitorRequest), or WithMaxInFlightLimit (400 and
// 200). Sub-benchmarks are named req=.../impl=... for benchstat -col /impl.
func BenchmarkOperate(b *testing.B) {
	epmetrics.Register() // Kubernetes' metrics record nothing until registered
	lr := genericfilters.BasicLongRunningRequestCheck(sets.NewString("watch"), sets.NewString())
	kubeInfo := func(h http.Handler) http.Handler {
		return genericapifilters.WithRequestInfo(h, requestinfo.Resolver{})
	}
	ours := func(steps ...pipeline.Step) http.Handler {
		return pipeline.New(okHandler, append([]pipeline.Step{requestStep{}}, steps...)...)
	}
	m := newMetrics(benchDeclared)
	o := Options{MaxRequestsInFlight: 400, MaxMutatingRequestsInFlight: 200}
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"filter=none/impl=none", okHandler},
		{"filter=requestinfo/impl=aggauth", ours()},
		{"filter=requestinfo/impl=kubernetes", kubeInfo(okHandler)},
		{"filter=metrics/impl=aggauth", ours(metricsStep{m})},
		{"filter=metrics/impl=kubernetes", kubeInfo(genericapifilters.WithLatencyTrackers(
			epmetrics.InstrumentHandlerFunc("GET", "g", "v1", "things", "", "resource", epmetrics.APIServerComponent, false, "", okHandler)))},
		{"filter=inflight/impl=aggauth", ours(newInflightStep(o, newInflightGauge()))},
		{"filter=inflight/impl=kubernetes", kubeInfo(genericfilters.WithMaxInFlightLimit(okHandler, 400, 200, lr))},
		{"filter=body/impl=aggauth", ours(bodyLimit{DefaultMaxRequestBodyBytes})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/apis/g/v1/namespaces/ns/things/x", nil)
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
