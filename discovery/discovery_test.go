package discovery_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aggauth/aggauth/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
)

func TestHandlerRouting(t *testing.T) {
	d := mustNew(t, demoGroup(t))
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := d.Handler(next)
	for _, tc := range []struct {
		method, target string
		want           int
	}{
		{"GET", "/apis", 200},
		{"GET", "/apis/", 200},
		{"GET", "/apis/demo.aggauth.io", 200},
		{"GET", "/apis/demo.aggauth.io/v1", 200},
		{"GET", "/apis/demo.aggauth.io/v1/", 200},
		{"GET", "/apis/demo.aggauth.io/v1?timeout=32s", 200},
		{"GET", "/apis/demo.aggauth.io/v2", 404},
		{"GET", "/apis/other.example.com", 404},
		{"GET", "/apis//", 404},
		{"GET", "/openapi/v2", 200},
		{"GET", "/openapi/v3", 200},
		{"GET", "/openapi/v3/", 200},
		{"GET", "/openapi/v3/apis/demo.aggauth.io/v1", 200},
		{"GET", "/openapi/v3/apis/demo.aggauth.io/v2", 404},
		{"GET", "/openapi/v3/api/v1", 404},
		{"POST", "/apis", 405},
		{"DELETE", "/apis/demo.aggauth.io/v1", 405},
		{"PUT", "/openapi/v2", 405},
		{"POST", "/apis/demo.aggauth.io/v1/namespaces/default/widgets", 418},
		{"GET", "/apis/demo.aggauth.io/v1/widgets", 418},
		{"GET", "/apis/other.example.com/v1/things", 418},
		{"GET", "/api/v1", 418},
		{"GET", "/openapi", 418},
		{"GET", "/openapi/v2/", 418},
		{"GET", "/healthz", 418},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			w := get(h, tc.method, tc.target)
			assert.Equal(t, tc.want, w.Code)
			if tc.want == 404 || tc.want == 405 {
				status := testutil.RecordedStatus(t, w)
				assert.Equal(t, int32(tc.want), status.Code)
			}
			if tc.want == 405 {
				assert.Equal(t, "GET, HEAD", w.Header().Get("Allow"))
			}
		})
	}
}

func TestHandlerNilNext(t *testing.T) {
	w := get(mustNew(t, demoGroup(t)).Handler(nil), "GET", "/healthz")
	assert.Equal(t, http.StatusNotFound, w.Code)
	assert.Contains(t, w.Body.String(), `"reason":"NotFound"`)
}

func TestHandlerHead(t *testing.T) {
	srv := httptest.NewServer(mustNew(t, demoGroup(t)).Handler(nil))
	defer srv.Close()
	for _, path := range []string{"/apis", "/apis/demo.aggauth.io/v1", "/openapi/v2", "/openapi/v3"} {
		resp, err := http.Head(srv.URL + path)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.NotEmpty(t, resp.Header.Get("ETag"), path)
		assert.Empty(t, body, path)
	}
}

// TestDocumentCaching covers the ETag every document has (Kubernetes only
// sends one for aggregated discovery and OpenAPI) and the headers.
func TestDocumentCaching(t *testing.T) {
	h := mustNew(t, demoGroup(t)).Handler(nil)
	for _, tc := range []struct {
		target, accept, cacheControl string
	}{
		{"/apis", "", "no-cache, private"},
		{"/apis", aggJSON, "public"},
		{"/apis/demo.aggauth.io", "", "no-cache, private"},
		{"/apis/demo.aggauth.io/v1", "application/vnd.kubernetes.protobuf", "no-cache, private"},
		{"/openapi/v2", "", "no-cache, private"},
		{"/openapi/v3", "", "no-cache, private"},
	} {
		t.Run(tc.target+" "+tc.accept, func(t *testing.T) {
			w := get(h, "GET", tc.target, "Accept", tc.accept)
			require.Equal(t, http.StatusOK, w.Code)
			etag := w.Header().Get("ETag")
			assert.Regexp(t, `^"[0-9A-F]{128}"$`, etag)
			assert.Equal(t, tc.cacheControl, w.Header().Get("Cache-Control"))
			assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
			for ifNoneMatch, want := range map[string]int{
				etag:             http.StatusNotModified,
				`"abc", ` + etag: http.StatusNotModified,
				"W/" + etag:      http.StatusNotModified,
				"*":              http.StatusNotModified,
				`"abc"`:          http.StatusOK,
				`"Z` + etag[2:]:  http.StatusOK,
			} {
				got := get(h, "GET", tc.target, "Accept", tc.accept, "If-None-Match", ifNoneMatch)
				assert.Equal(t, want, got.Code, "If-None-Match: %s", ifNoneMatch)
				if want == http.StatusNotModified {
					assert.Empty(t, got.Body.String())
					assert.Equal(t, etag, got.Header().Get("ETag"))
				}
			}
		})
	}
}

// TestAggregatorProbes sends what kube-aggregator sends: the availability
// probe and the aggregated discovery request, which it only uses when the
// Content-Type names the v2 list.
func TestAggregatorProbes(t *testing.T) {
	h := mustNew(t, demoGroup(t), opsGroup(t)).Handler(nil)
	for _, gv := range []string{"demo.aggauth.io/v1", "ops.example.com/v1"} {
		w := get(h, "GET", "/apis/"+gv, "Accept", "application/json")
		assert.Equal(t, http.StatusOK, w.Code, gv)
	}

	w := get(h, "GET", "/apis", "Accept", discovery.AcceptV2)
	require.Equal(t, http.StatusOK, w.Code)
	v2 := apidiscoveryv2.SchemeGroupVersion.WithKind("APIGroupDiscoveryList")
	ok, err := discovery.ContentTypeIsGVK(w.Header().Get("Content-Type"), v2)
	require.NoError(t, err)
	require.True(t, ok)
	var list apidiscoveryv2.APIGroupDiscoveryList
	require.NoError(t, runtime.DecodeInto(testCodecs(t).UniversalDecoder(), w.Body.Bytes(), &list))
	require.Len(t, list.Items, 2)
	assert.Equal(t, "demo.aggauth.io", list.Items[0].Name, "declaration order")
	assert.Equal(t, "ops.example.com", list.Items[1].Name)
	assert.Equal(t, apidiscoveryv2.DiscoveryFreshnessCurrent, list.Items[0].Versions[0].Freshness)

	refresh := get(h, "GET", "/apis", "Accept", discovery.AcceptV2, "If-None-Match", w.Header().Get("ETag"))
	assert.Equal(t, http.StatusNotModified, refresh.Code)
}

// TestDeclarationCopied checks that New keeps its own copy of the
// declaration, and that the documents do not depend on the process: two
// replicas built from one declaration answer the same bytes and ETags.
func TestDeclarationCopied(t *testing.T) {
	g := demoGroup(t)
	d := mustNew(t, g)
	replica := mustNew(t, demoGroup(t))
	g.Versions[0].Resources[0].Verbs[0] = "escalate"
	g.Versions[0].Resources[0].Plural = "gizmos"
	g.Versions[0].Resources[0].Schema.Description = "changed"
	for _, target := range []string{"/apis", "/apis/demo.aggauth.io/v1", "/openapi/v2", "/openapi/v3", "/openapi/v3/apis/demo.aggauth.io/v1"} {
		for _, accept := range []string{"", aggJSON} {
			w := get(d.Handler(nil), "GET", target, "Accept", accept)
			r := get(replica.Handler(nil), "GET", target, "Accept", accept)
			assert.Equal(t, r.Body.String(), w.Body.String(), target)
			assert.Equal(t, r.Header().Get("ETag"), w.Header().Get("ETag"), target)
			assert.NotContains(t, w.Body.String(), "gizmos")
			assert.NotContains(t, w.Body.String(), "escalate")
		}
	}
}

// TestConcurrentRequests runs requests in parallel (meaningful with -race).
func TestConcurrentRequests(t *testing.T) {
	h := mustNew(t, demoGroup(t)).Handler(nil)
	for _, target := range []string{"/apis", "/apis/demo.aggauth.io/v1", "/openapi/v2", "/openapi/v3/apis/demo.aggauth.io/v1"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			for range 20 {
				assert.Equal(t, http.StatusOK, get(h, "GET", target, "Accept", aggJSON+",application/json").Code)
			}
		})
	}
}
