package serving

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/sets"
	epmetrics "k8s.io/apiserver/pkg/endpoints/metrics"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/aggauth/aggauth/requestinfo"
)

// labelCorpus is requests of every shape the verb, scope and dry_run labels
// depend on: methods (odd spellings included), paths (collections, objects,
// subresources, connect subresources, the deprecated watch paths, paths that
// are not resources), queries (watch, dryRun, escaped keys, many
// parameters) and PATCH content types.
func labelCorpus() []*http.Request {
	methods := []string{"GET", "get", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "FROB", "list",
		"WATCH", "watchlist", "CONNECT", "CREATE", "DELETECOLLECTION", "ſet"}
	paths := []string{
		"/apis/g/v1/namespaces/ns/things", "/apis/g/v1/namespaces/ns/things/x", "/apis/g/v1/namespaces/ns/things/x/status",
		"/apis/g/v1/namespaces/ns/things/x/exec", "/apis/g/v1/namespaces/ns/things/x/proxy/a/b", "/apis/g/v1/things",
		"/apis/g/v1/things/x", "/apis/g/v1/watch/namespaces/ns/things", "/apis/g/v1/watch/things/x", "/apis/g/v1/watch/things",
		"/api/v1/namespaces/ns/pods/p/log", "/api/v1/watch/pods", "/api/v1/namespaces/watch/pods", "/apis/g/v1/namespaces/ns",
		"/healthz", "/readyz", "/livez/ping", "/apis", "/apis/g", "/apis/g/v1", "/metrics", "/", "/openapi/v2",
	}
	queries := []string{"", "watch=true", "watch=0", "watch=FALSE", "watch=", "watch",
		"w%61tch=true", "watch=tru%65", "watch=%zz", "x=1&watch=false&watch=true", "watch=true;x=1", "a+b=1&watch=1",
		"dryRun=All", "dryRun=All&dryRun=All", "dryRun=all", "dryRunx=1", "dryRun=All&dryRun=x", "dry%52un=All",
		"fieldSelector=metadata.name%3Dx", "fieldSelector=metadata.name%3Dx&watch=true", "labelSelector=a%3Db&watch=1",
		strings.Repeat("p=1&", 70) + "watch=true", "timeout=1s&watch=true&resourceVersion=5"}
	var out []*http.Request
	for _, m := range methods {
		for _, p := range paths {
			for _, q := range queries {
				target := p
				if q != "" {
					target += "?" + q
				}
				r := httptest.NewRequest(http.MethodGet, target, nil)
				r.Method = m
				out = append(out, r)
				if strings.EqualFold(m, http.MethodPatch) && q == "" {
					for _, ct := range []string{"application/apply-patch+yaml", "application/apply-patch+yaml; charset=utf-8", "application/merge-patch+json"} {
						r := r.Clone(r.Context())
						r.Header.Set("Content-Type", ct)
						out = append(out, r)
					}
				}
			}
		}
	}
	return out
}

// installerVerb is the verb Kubernetes' API installer gives MonitorRequest
// for a request its routes serve: WATCH on the deprecated watch paths,
// CONNECT for connect subresources, GET or LIST for a GET, the method else.
// It decides whether Kubernetes records the response's size.
func installerVerb(r *http.Request, info *request.RequestInfo) string {
	method := strings.ToUpper(r.Method)
	if method == "HEAD" {
		method = "GET"
	}
	switch {
	case !info.IsResourceRequest:
		return method
	case info.Verb == "watch" && watchPath(info):
		return "WATCH"
	case connectSubresource(info.Subresource):
		return "CONNECT"
	case method == "GET" && epmetrics.CleanScope(info) == "resource":
		return "GET"
	case method == "GET":
		return "LIST"
	}
	return method
}

// TestLabelsMatchKubernetes runs every request of labelCorpus through
// Kubernetes' own recording (MonitorRequest, as its installer calls it, and
// RecordRequestTermination, as its filters do) and compares the verb,
// dry_run and scope labels, and whether the response's size is recorded,
// with the series our table picks.
func TestLabelsMatchKubernetes(t *testing.T) {
	epmetrics.Register()
	factory := &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}
	table := newMetrics(func(string, string, string, string) bool { return true }).table
	corpus := labelCorpus()
	var legacyDiffs int
	for _, r := range corpus {
		name := r.Method + " " + r.URL.RequestURI() + " " + r.Header.Get("Content-Type")
		theirInfo, err := factory.NewRequestInfo(r)
		require.NoError(t, err, name)
		ourInfo, err := requestinfo.New(r)
		if err != nil {
			ourInfo = &request.RequestInfo{Path: r.URL.Path, Verb: strings.ToLower(r.Method)} // as requestInfoOf
		}
		sr := table.seriesOf(r, ourInfo)

		epmetrics.Reset()
		ctx := request.WithLatencyTrackers(request.WithRequestInfo(r.Context(), theirInfo))
		kr := r.WithContext(ctx)
		scope := epmetrics.CleanScope(theirInfo)
		epmetrics.MonitorRequest(kr, installerVerb(r, theirInfo), "g", "v1", "things", "", scope, "apiserver", false, "", 200, 10, time.Millisecond)
		epmetrics.RecordRequestTermination(kr, theirInfo, "apiserver", 429)
		got := gatherLabels(t)

		want := got["apiserver_request_total"]
		assert.Equal(t, want["verb"], sr.verb, "verb of %s", name)
		assert.Equal(t, want["dry_run"], sr.dryRun, "dry_run of %s", name)
		assert.Equal(t, scope, sr.scope, "scope of %s", name)
		_, sized := got["apiserver_response_sizes"]
		assert.Equal(t, sized, sr.sized, "response size recorded for %s", name)
		_, sli := got["apiserver_request_sli_duration_seconds"]
		assert.Equal(t, sli, sr.sli != nil, "sli recorded for %s", name)
		// The filters' recording takes no suggested verb: on the deprecated
		// watch paths Kubernetes reports LIST or GET there, WATCH in
		// apiserver_request_total; we report WATCH in both.
		if term := got["apiserver_request_terminations_total"]["verb"]; term != sr.verb {
			assert.True(t, theirInfo.Verb == "watch" && watchPath(theirInfo), "termination verb of %s: got %s; want %s", name, sr.verb, term)
			legacyDiffs++
		}
	}
	t.Logf("%d requests; %d on the deprecated watch paths where Kubernetes' filters report another verb than its handlers", len(corpus), legacyDiffs)
}

// gatherLabels returns, by metric name, the labels of the one series
// Kubernetes' legacy registry holds.
func gatherLabels(t *testing.T) map[string]map[string]string {
	families, err := legacyregistry.DefaultGatherer.Gather()
	require.NoError(t, err)
	out := map[string]map[string]string{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if !recorded(m) {
				continue
			}
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[f.GetName()] = labels
		}
	}
	return out
}

func recorded(m *dto.Metric) bool {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue() > 0
	case m.Histogram != nil:
		return m.Histogram.GetSampleCount() > 0
	}
	return m.Gauge != nil
}
