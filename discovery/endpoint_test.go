package discovery_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/discovery"
	"github.com/aggauth/aggauth/requestinfo"
)

// withRequestInfo puts the request's RequestInfo in its context, as the
// chain does before Discovery.Handler runs.
func withRequestInfo(t testing.TB, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, err := requestinfo.New(r)
		require.NoError(t, err)
		h.ServeHTTP(w, r.WithContext(request.WithRequestInfo(r.Context(), info)))
	})
}

// TestHandlerVerbs sends resource requests for the declared API: an
// undeclared verb gets Kubernetes' 405 MethodNotSupported, the same bytes as
// the CustomResourceDefinition handler's ErrorNegotiated; the rest goes to
// next, with the Endpoint in the context for a declared resource.
func TestHandlerVerbs(t *testing.T) {
	d := mustNew(t, demoGroup(t), opsGroup(t))
	var got *discovery.Endpoint
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = discovery.EndpointFrom(r.Context())
		w.WriteHeader(http.StatusTeapot)
	})
	h := withRequestInfo(t, d.Handler(next))
	codecs := testCodecs(t)
	const demo, ops = "/apis/demo.aggauth.io/v1/", "/apis/ops.example.com/v1/"
	for _, tc := range []struct {
		method, target, accept string
		refused                bool   // a 405, or next serves it
		endpoint               string // resource/subresource next sees; "" for none
	}{
		{"GET", demo + "namespaces/a/widgets", "", false, "widgets"},
		{"GET", demo + "namespaces/a/widgets?watch=true", "", false, "widgets"},
		{"GET", demo + "watch/namespaces/a/widgets/x", "", false, "widgets"},
		{"GET", demo + "widgets", "", false, "widgets"},
		{"POST", demo + "namespaces/a/widgets", "", false, "widgets"},
		{"DELETE", demo + "namespaces/a/widgets", "", false, "widgets"},
		{"PUT", demo + "namespaces/a/widgets/x/status", "", false, "widgets/status"},
		{"GET", demo + "namespaces/a/widgets/x/status", "", false, "widgets/status"},
		{"POST", demo + "namespaces/a/widgets/x/status", "", true, ""},
		{"DELETE", demo + "namespaces/a/widgets/x/status", "application/yaml", true, ""},
		{"OPTIONS", demo + "namespaces/a/widgets/x", "", true, ""}, // verb "", refused as the CRD handler does
		{"GET", ops + "namespaces/a/bolts", "", false, "bolts"},
		{"GET", ops + "namespaces/a/bolts?watch=1", "", true, ""},
		{"GET", ops + "watch/namespaces/a/bolts", "application/vnd.kubernetes.protobuf", true, ""},
		{"PUT", ops + "namespaces/a/bolts/x", "", true, ""},
		{"PATCH", ops + "namespaces/a/bolts/x", "text/html", true, ""},
		{"DELETE", ops + "namespaces/a/bolts", "", true, ""},
		{"POST", ops + "namespaces/a/bolts", "", true, ""},
		{"GET", ops + "bolts", "", false, "bolts"},
		{"GET", ops + "gadgets/g", "", false, "gadgets"},
		{"GET", ops + "gadgets?watch=true", "", true, ""},
		{"PUT", ops + "gadgets/g/scale", "", false, "gadgets/scale"},
		{"DELETE", ops + "gadgets/g/scale", "", true, ""},
		// Not ours: next answers (its 404), as kube-apiserver delegates them.
		{"POST", ops + "bolts", "", false, ""},                      // a namespaced create without a namespace
		{"GET", ops + "namespaces/a/gadgets", "", false, ""},        // a cluster-scoped resource in a namespace
		{"GET", ops + "namespaces/a/bolts/x/status", "", false, ""}, // an undeclared subresource
		{"GET", ops + "namespaces/a/nuts", "", false, ""},
		{"GET", "/apis/ops.example.com/v2/namespaces/a/bolts", "", false, ""},
		{"PUT", "/api/v1/namespaces/a/pods/x", "", false, ""},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			got = nil
			w := get(h, tc.method, tc.target, "Accept", tc.accept)
			if !tc.refused {
				require.Equal(t, http.StatusTeapot, w.Code, "got %d; want next's answer", w.Code)
				if tc.endpoint == "" {
					assert.Nil(t, got, "got an endpoint; want none")
					return
				}
				require.NotNil(t, got, "got no endpoint; want %s", tc.endpoint)
				name := got.Resource().Resource
				if got.Subresource() != "" {
					name += "/" + got.Subresource()
				}
				assert.Equal(t, tc.endpoint, name)
				return
			}
			r := httptest.NewRequest(tc.method, tc.target, nil)
			r.Header.Set("Accept", tc.accept)
			info, err := requestinfo.New(r)
			require.NoError(t, err)
			want := httptest.NewRecorder()
			gr := schema.GroupResource{Group: info.APIGroup, Resource: info.Resource}
			responsewriters.ErrorNegotiated(apierrors.NewMethodNotSupported(gr, info.Verb), codecs,
				schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}, want, r)
			require.Equal(t, http.StatusMethodNotAllowed, want.Code)
			assert.Equal(t, want.Code, w.Code, "status")
			assert.Equal(t, want.Header().Get("Content-Type"), w.Header().Get("Content-Type"), "Content-Type")
			assert.Equal(t, want.Body.String(), w.Body.String(), "body")
			assert.Nil(t, got, "next ran")
		})
	}
}

// TestHandlerWithoutRequestInfo: without a RequestInfo in the context
// (Handler used before the chain resolved it), resource requests go to next
// unchanged, without an endpoint, whatever their verb.
func TestHandlerWithoutRequestInfo(t *testing.T) {
	d := mustNew(t, opsGroup(t))
	var reached bool
	h := d.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = true
		_, ok := discovery.EndpointFrom(r.Context())
		assert.False(t, ok, "got an endpoint; want none")
		w.WriteHeader(http.StatusNoContent)
	}))
	w := get(h, "PUT", "/apis/ops.example.com/v1/namespaces/a/bolts/x")
	assert.True(t, reached)
	assert.Equal(t, http.StatusNoContent, w.Code)
}

func TestEndpoint(t *testing.T) {
	d := mustNew(t, demoGroup(t), opsGroup(t))
	assert.Nil(t, d.Endpoint("ops.example.com", "v1", "nuts", ""))
	assert.Nil(t, d.Endpoint("ops.example.com", "v1", "bolts", "status"))

	w := d.Endpoint("demo.aggauth.io", "v1", "widgets", "")
	require.NotNil(t, w)
	assert.Equal(t, schema.GroupVersionResource{Group: "demo.aggauth.io", Version: "v1", Resource: "widgets"}, w.Resource())
	assert.Equal(t, schema.GroupVersionKind{Group: "demo.aggauth.io", Version: "v1", Kind: "Widget"}, w.Kind())
	assert.Equal(t, schema.GroupVersionKind{Group: "demo.aggauth.io", Version: "v1", Kind: "WidgetList"}, w.ListKind())
	assert.True(t, w.Namespaced())
	assert.Equal(t, metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}, w.Verbs())
	assert.True(t, w.Allows("watch"))
	assert.False(t, w.Allows("proxy"))
	verbs := w.Verbs()
	verbs[0] = "changed"
	assert.True(t, w.Allows("create"), "Verbs returned the endpoint's own slice")

	status := d.Endpoint("demo.aggauth.io", "v1", "widgets", "status")
	assert.Equal(t, "status", status.Subresource())
	assert.Equal(t, w.Kind(), status.Kind())
	assert.Equal(t, w.ColumnDefinitions(), status.ColumnDefinitions())

	scale := d.Endpoint("ops.example.com", "v1", "gadgets", "scale")
	assert.False(t, scale.Namespaced())
	assert.Equal(t, schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, scale.Kind())
	assert.Equal(t, schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "ScaleList"}, scale.ListKind())
	assert.Equal(t, []string{"Name", "Age"}, columnNames(scale.ColumnDefinitions()))

	_, ok := discovery.EndpointFrom(discovery.WithEndpoint(t.Context(), nil))
	assert.False(t, ok)
	got, ok := discovery.EndpointFrom(discovery.WithEndpoint(t.Context(), w))
	assert.True(t, ok)
	assert.Same(t, w, got)
}

func columnNames(defs []metav1.TableColumnDefinition) []string {
	var names []string
	for _, d := range defs {
		names = append(names, d.Name)
	}
	return names
}
