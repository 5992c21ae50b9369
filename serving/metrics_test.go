package serving_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	epmetrics "k8s.io/apiserver/pkg/endpoints/metrics"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/aggauth/aggauth/internal/reviewmetrics"
)

// declared is the API of the metrics tests: g/v1 things (namespaced) and
// their status subresource.
func declared(group, version, resource, subresource string) bool {
	return group == "g" && version == "v1" && resource == "things" && (subresource == "" || subresource == "status")
}

// metricsServer is a server whose handler answers by path: /panic panics,
// /abort aborts, /slow waits for its deadline, /missing is a 404, a watch
// writes one line and returns; every other request is answered 200 "ok".
func metricsServer(t *testing.T) (*running, *prometheus.Registry) {
	opts := testOptions(t)
	opts.RequestTimeout = 200 * time.Millisecond
	opts.Resources = declared
	r := start(t, opts, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/panic":
			panic("boom")
		case "/abort":
			panic(http.ErrAbortHandler)
		case "/slow":
			<-req.Context().Done()
		case "/missing":
			http.NotFound(w, req)
		default:
			_, _ = io.WriteString(w, "ok")
		}
	}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Collectors()...)
	return r, reg
}

func TestMetrics(t *testing.T) {
	r, reg := metricsServer(t)
	c := client(t, false)
	do := func(method, path string, header ...string) {
		req, err := http.NewRequest(method, r.url+path, strings.NewReader(""))
		require.NoError(t, err)
		for i := 0; i < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		if resp, err := c.Do(req); err == nil {
			readAll(t, resp)
		}
	}
	do(http.MethodGet, "/apis/g/v1/namespaces/ns/things/x")
	do(http.MethodGet, "/apis/g/v1/namespaces/ns/things/y")
	do(http.MethodGet, "/apis/g/v1/namespaces/ns/things")
	do(http.MethodGet, "/apis/g/v1/things?watch=true")
	do(http.MethodPost, "/apis/g/v1/namespaces/ns/things?dryRun=All")
	do(http.MethodPatch, "/apis/g/v1/namespaces/ns/things/x/status", "Content-Type", "application/apply-patch+yaml")
	do("FROB", "/apis/g/v1/things")
	do(http.MethodGet, "/apis/undeclared/v1/namespaces/ns/others/z")
	do(http.MethodGet, "/healthz")
	do(http.MethodGet, "/missing")
	do(http.MethodGet, "/panic")
	do(http.MethodGet, "/slow")
	do(http.MethodGet, "/abort")

	const things = `component="apiserver",group="g",resource="things",version="v1"`
	const unlabelled = `component="apiserver",group="",resource="",subresource="",version=""`
	got := samples(t, reg)
	assert.Equal(t, sortedKeys(map[string]float64{
		`apiserver_request_total{code="200",dry_run="",scope="resource",subresource="",verb="GET",` + things + `}`:                               2,
		`apiserver_request_total{code="200",dry_run="",scope="namespace",subresource="",verb="LIST",` + things + `}`:                             1,
		`apiserver_request_total{code="200",dry_run="",scope="cluster",subresource="",verb="WATCH",` + things + `}`:                              1,
		`apiserver_request_total{code="200",dry_run="All",scope="resource",subresource="",verb="POST",` + things + `}`:                           1,
		`apiserver_request_total{code="200",dry_run="",scope="resource",subresource="status",verb="APPLY",` + things + `}`:                       1,
		`apiserver_request_total{code="200",dry_run="",scope="cluster",subresource="",verb="other",` + things + `}`:                              1,
		`apiserver_request_total{code="200",dry_run="",scope="resource",verb="GET",` + unlabelled + `}`:                                          1,
		`apiserver_request_total{code="200",component="",dry_run="",group="",resource="",scope="",subresource="/healthz",verb="GET",version=""}`: 1,
		`apiserver_request_total{code="404",dry_run="",scope="",verb="GET",` + unlabelled + `}`:                                                  1,
		`apiserver_request_total{code="500",dry_run="",scope="",verb="GET",` + unlabelled + `}`:                                                  1,
		`apiserver_request_total{code="504",dry_run="",scope="",verb="GET",` + unlabelled + `}`:                                                  1,
		`apiserver_request_terminations_total{code="504",scope="",verb="GET",` + unlabelled + `}`:                                                1,
		`apiserver_request_aborts_total{group="",resource="",scope="",subresource="",verb="GET",version=""}`:                                     1,
		`apiserver_longrunning_requests{scope="cluster",subresource="",verb="WATCH",` + things + `}`:                                             0,
		`apiserver_current_inflight_requests{request_kind="mutating"}`:                                                                           1,
		`apiserver_current_inflight_requests{request_kind="readOnly"}`:                                                                           1,
	}), got.values)
	assert.Equal(t, uint64(12), got.observed["apiserver_request_duration_seconds"], "every request but the abort")
	assert.Equal(t, uint64(11), got.observed["apiserver_request_sli_duration_seconds"], "every request but the abort and the dry run")
	assert.Equal(t, uint64(9), got.observed["apiserver_response_sizes"], "the GETs and the list: the watch too, not the abort")
}

// sortedKeys returns m with the labels of each key sorted by name, as a
// registry gathers them (values hold no comma).
func sortedKeys(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		name, labels, _ := strings.Cut(strings.TrimSuffix(k, "}"), "{")
		parts := strings.Split(labels, ",")
		sort.Strings(parts)
		out[name+"{"+strings.Join(parts, ",")+"}"] = v
	}
	return out
}

// collected holds what a registry gathered: the counters' and gauges' values
// by series, and the number of observations of each histogram.
type collected struct {
	values   map[string]float64
	observed map[string]uint64
}

func samples(t testing.TB, g prometheus.Gatherer) collected {
	t.Helper()
	families, err := g.Gather()
	require.NoError(t, err)
	c := collected{values: map[string]float64{}, observed: map[string]uint64{}}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch key := f.GetName() + seriesLabels(m); {
			case m.Counter != nil:
				c.values[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				c.values[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				c.observed[f.GetName()] += m.Histogram.GetSampleCount()
			}
		}
	}
	return c
}

func seriesLabels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+`="`+l.GetValue()+`"`)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// descriptor is what a dashboard depends on in a metric family.
type descriptor struct {
	Help    string
	Type    dto.MetricType
	Labels  []string
	Buckets []float64
}

func descriptors(t *testing.T, g prometheus.Gatherer) map[string]descriptor {
	t.Helper()
	families, err := g.Gather()
	require.NoError(t, err)
	out := map[string]descriptor{}
	for _, f := range families {
		d := descriptor{Help: f.GetHelp(), Type: f.GetType()}
		m := f.GetMetric()[0]
		for _, l := range m.GetLabel() {
			d.Labels = append(d.Labels, l.GetName())
		}
		sort.Strings(d.Labels)
		for _, b := range m.GetHistogram().GetBucket() {
			d.Buckets = append(d.Buckets, b.GetUpperBound())
		}
		out[f.GetName()] = d
	}
	return out
}

// TestMetricDescriptorsMatchKubernetes compares each family the Server and
// the review metrics register (name, help, type, label names, buckets) with
// the one k8s.io/apiserver registers, each with one sample recorded.
func TestMetricDescriptorsMatchKubernetes(t *testing.T) {
	// Kubernetes': its request metrics as its handlers and filters record
	// them, and its delegated authentication and authorization metrics.
	epmetrics.Register()
	epmetrics.Reset()
	authenticatorfactory.RegisterMetrics()
	authz := authorizerfactory.NewDelegatingAuthorizerMetrics()
	ctx := context.Background()
	factory := &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}
	req := httptest.NewRequest(http.MethodGet, "/apis/g/v1/namespaces/ns/things", nil)
	info, err := factory.NewRequestInfo(req)
	require.NoError(t, err)
	req = req.WithContext(request.WithLatencyTrackers(request.WithRequestInfo(ctx, info)))
	epmetrics.MonitorRequest(req, "LIST", "g", "v1", "things", "", "namespace", "apiserver", false, "", 200, 10, time.Millisecond)
	epmetrics.RecordLongRunning(req, info, "apiserver", func() {})
	epmetrics.RecordRequestTermination(req, info, "apiserver", 429)
	epmetrics.RecordRequestAbort(req, info)
	epmetrics.UpdateInflightRequestMetrics(epmetrics.ExecutingPhase, 1, 1)
	authenticatorfactory.RecordRequestTotal(ctx, "201")
	authenticatorfactory.RecordRequestLatency(ctx, "201", 0.1)
	authz.RecordRequestTotal(ctx, "201")
	authz.RecordRequestLatency(ctx, "201", 0.1)
	theirs := descriptors(t, legacyregistry.DefaultGatherer)

	// Ours.
	r, reg := metricsServer(t)
	authn, authzMetrics := reviewmetrics.NewAuthn(), reviewmetrics.NewAuthz()
	reg.MustRegister(slices.Concat(authn.Collectors(), authzMetrics.Collectors())...)
	authn.Record(201, 100*time.Millisecond)
	authzMetrics.Record(201, 100*time.Millisecond)
	c := client(t, false)
	for _, path := range []string{"/apis/g/v1/namespaces/ns/things", "/apis/g/v1/things?watch=true", "/slow", "/abort"} {
		if resp, err := c.Get(r.url + path); err == nil {
			readAll(t, resp)
		}
	}
	ours := descriptors(t, reg)

	want := []string{"apiserver_request_total", "apiserver_request_duration_seconds", "apiserver_request_sli_duration_seconds",
		"apiserver_response_sizes", "apiserver_longrunning_requests", "apiserver_current_inflight_requests",
		"apiserver_request_terminations_total", "apiserver_request_aborts_total",
		"apiserver_delegated_authn_request_total", "apiserver_delegated_authn_request_duration_seconds",
		"apiserver_delegated_authz_request_total", "apiserver_delegated_authz_request_duration_seconds"}
	var names []string
	for name := range ours {
		names = append(names, name)
	}
	assert.ElementsMatch(t, want, names, "the families registered")
	for _, name := range want {
		require.Contains(t, theirs, name, "Kubernetes registers %s", name)
		assert.Equal(t, theirs[name], ours[name], name)
	}
}
