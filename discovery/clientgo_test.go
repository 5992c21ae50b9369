package discovery_test

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	openapiproto "k8s.io/kube-openapi/pkg/util/proto"
)

// clients returns discovery clients of a server running our handler: one
// that uses aggregated discovery (client-go's default) and one that uses the
// legacy documents.
func clients(t *testing.T) (aggregated, legacy *discovery.DiscoveryClient) {
	srv := httptest.NewServer(mustNew(t, demoGroup(t), opsGroup(t)).Handler(nil))
	t.Cleanup(srv.Close)
	cfg := &rest.Config{Host: srv.URL}
	aggregated = discovery.NewDiscoveryClientForConfigOrDie(cfg)
	legacy = discovery.NewDiscoveryClientForConfigOrDie(cfg)
	legacy.UseLegacyDiscovery = true
	return aggregated, legacy
}

// TestClientGoDiscovery checks what kubectl does to find a resource: both
// discovery modes give the same resources, and a REST mapper finds widgets by
// their plural, singular and short names.
func TestClientGoDiscovery(t *testing.T) {
	aggregated, legacy := clients(t)
	for name, dc := range map[string]*discovery.DiscoveryClient{"aggregated": aggregated, "legacy": legacy} {
		t.Run(name, func(t *testing.T) {
			groups, resources, err := dc.ServerGroupsAndResources()
			require.NoError(t, err)
			require.Len(t, groups, 2)
			assert.Equal(t, "demo.aggauth.io", groups[0].Name)
			assert.Equal(t, "v1", groups[0].PreferredVersion.Version)
			// The order of resources is not part of client-go's contract
			// (aggregated discovery builds them from a map); names below
			// checks them all.
			require.Len(t, resources, 2)
			names := map[string]bool{}
			for _, list := range resources {
				for _, r := range list.APIResources {
					names[list.GroupVersion+" "+r.Name] = r.Namespaced
				}
			}
			assert.Equal(t, map[string]bool{
				"demo.aggauth.io/v1 widgets": true, "demo.aggauth.io/v1 widgets/status": true,
				"ops.example.com/v1 bolts": true, "ops.example.com/v1 gadgets": false, "ops.example.com/v1 gadgets/scale": false,
			}, names)

			mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), dc, nil)
			for _, resource := range []string{"widgets", "widget", "wd"} {
				gvr, err := mapper.ResourceFor(schema.GroupVersionResource{Resource: resource})
				require.NoError(t, err, resource)
				assert.Equal(t, schema.GroupVersionResource{Group: "demo.aggauth.io", Version: "v1", Resource: "widgets"}, gvr)
			}
			m, err := mapper.RESTMapping(schema.GroupKind{Group: "ops.example.com", Kind: "Gadget"})
			require.NoError(t, err)
			assert.Equal(t, "gadgets", m.Resource.Resource)
			assert.Equal(t, "root", string(m.Scope.Name()))
		})
	}
}

// TestClientGoOpenAPI reads the documents as kubectl does: v2 in protobuf,
// v3 through the index, and builds the type converter kubectl apply uses.
func TestClientGoOpenAPI(t *testing.T) {
	dc, _ := clients(t)
	doc, err := dc.OpenAPISchema()
	require.NoError(t, err)
	models, err := openapiproto.NewOpenAPIData(doc)
	require.NoError(t, err)
	checkWidgetModel(t, models, false)

	root := openapi3.NewRoot(dc.OpenAPIV3())
	gvs, err := root.GroupVersions()
	require.NoError(t, err)
	assert.ElementsMatch(t, []schema.GroupVersion{widgetGVK.GroupVersion(), gadgetGVK.GroupVersion()}, gvs)
	v3, err := root.GVSpec(widgetGVK.GroupVersion())
	require.NoError(t, err)
	assert.Contains(t, v3.Components.Schemas, "io.aggauth.demo.v1.Widget")

	converter, err := openapi.NewTypeConverter(dc.OpenAPIV3(), false)
	require.NoError(t, err)
	widget := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "demo.aggauth.io/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w", "namespace": "default", "labels": map[string]any{"a": "b"}},
		"spec":     map[string]any{"anything": []any{1, "two"}},
		"status":   map[string]any{"createdBy": map[string]any{"username": "alice"}},
	}}
	_, err = converter.ObjectToTyped(widget)
	require.NoError(t, err)
	widget.Object["status"] = map[string]any{"size": "big"}
	_, err = converter.ObjectToTyped(widget)
	assert.Error(t, err, "status.size is an integer")
}
