package demo_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/aggauth/aggauth/example/internal/demo"
)

// serve sends GET path with Accept to the demo API's discovery handler.
func serve(t *testing.T, path, accept string) *httptest.ResponseRecorder {
	t.Helper()
	d, err := demo.Discovery()
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header.Set("Accept", accept)
	w := httptest.NewRecorder()
	d.Handler(http.NotFoundHandler()).ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code, "GET %s: got %d %s; want 200", path, w.Code, w.Body)
	return w
}

func TestDiscoveryResources(t *testing.T) {
	var list metav1.APIResourceList
	require.NoError(t, json.Unmarshal(serve(t, demo.VersionPath, "").Body.Bytes(), &list))
	assert.Equal(t, demo.GroupVersion, list.GroupVersion)
	assert.Equal(t, []metav1.APIResource{{
		Name: demo.Resource, SingularName: "widget", Namespaced: true, Kind: demo.Kind,
		// A CustomResourceDefinition's verbs: what the garbage collector,
		// the quota and namespace controllers need.
		Verbs:      metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
		ShortNames: []string{"wg"}, Categories: []string{"all", "demo"},
	}, {
		Name: demo.Resource + "/status", Namespaced: true, Kind: demo.Kind, Verbs: metav1.Verbs{"get"},
	}}, list.APIResources)
}

// TestDiscoveryAggregated: what kube-apiserver's aggregator asks GET /apis
// for, as system:kube-aggregator (allowed without a SubjectAccessReview).
func TestDiscoveryAggregated(t *testing.T) {
	w := serve(t, "/apis", discovery.AcceptV2)
	v2 := schema.GroupVersionKind{Group: "apidiscovery.k8s.io", Version: "v2", Kind: "APIGroupDiscoveryList"}
	ok, err := discovery.ContentTypeIsGVK(w.Header().Get("Content-Type"), v2)
	require.NoError(t, err)
	require.True(t, ok, "the aggregator only uses the answer when the Content-Type names the v2 list")
	var list apidiscoveryv2.APIGroupDiscoveryList
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &list))
	require.Len(t, list.Items, 1)
	assert.Equal(t, demo.Group, list.Items[0].Name)
	r := list.Items[0].Versions[0].Resources[0]
	assert.Equal(t, demo.Resource, r.Resource)
	// As kube-apiserver sends it: the group and version are the enclosing ones.
	assert.Equal(t, &metav1.GroupVersionKind{Kind: demo.Kind}, r.ResponseKind)
	assert.Equal(t, []string{"wg"}, r.ShortNames)
	assert.NotEmpty(t, w.Header().Get("ETag"), "the aggregator refreshes with If-None-Match")
}

// TestDiscoveryOpenAPI: kubectl explain widgets.spec reads the descriptions
// of the SwaggerDoc methods from the OpenAPI v3 document.
func TestDiscoveryOpenAPI(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Description string `json:"description"`
				Properties  map[string]struct {
					Description string                                        `json:"description"`
					Properties  map[string]struct{ Type, Description string } `json:"properties"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(serve(t, "/openapi/v3/apis/"+demo.GroupVersion, "").Body.Bytes(), &doc))
	widget, ok := doc.Components.Schemas["io.aggauth.demo.v1.Widget"]
	require.True(t, ok, "the Widget definition; got %v", doc.Components.Schemas)
	assert.Contains(t, widget.Description, "Widget is the demo object")
	spec := widget.Properties["spec"]
	assert.Equal(t, "Spec is what the creator asked for.", spec.Description)
	assert.Equal(t, "string", spec.Properties["color"].Type)
	assert.Equal(t, "Color is any color name, such as blue.", spec.Properties["color"].Description)
	assert.Equal(t, "integer", spec.Properties["size"].Type)
	assert.Contains(t, widget.Properties["status"].Properties, "createdBy")

	serve(t, "/openapi/v2", "")
}
