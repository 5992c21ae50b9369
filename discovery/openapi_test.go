package discovery_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	openapiproto "k8s.io/kube-openapi/pkg/util/proto"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

var (
	widgetGVK = schema.GroupVersionKind{Group: "demo.aggauth.io", Version: "v1", Kind: "Widget"}
	gadgetGVK = schema.GroupVersionKind{Group: "ops.example.com", Version: "v1", Kind: "Gadget"}
	boltGVK   = schema.GroupVersionKind{Group: "ops.example.com", Version: "v1", Kind: "Bolt"}
	scaleGVK  = schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}
)

// findKind finds a model by its x-kubernetes-group-version-kind extension, as
// kubectl's openapi.Resources.LookupResource does.
func findKind(t *testing.T, models openapiproto.Models, gvk schema.GroupVersionKind) *openapiproto.Kind {
	t.Helper()
	for _, name := range models.ListModels() {
		m := models.LookupModel(name)
		list, _ := m.GetExtensions()["x-kubernetes-group-version-kind"].([]any)
		for _, item := range list {
			if fmt.Sprint(stringMap(item)) == fmt.Sprint(map[string]string{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}) {
				kind, ok := m.(*openapiproto.Kind)
				require.True(t, ok, "%s is an object", name)
				return kind
			}
		}
	}
	t.Fatalf("no model has GVK %v", gvk)
	return nil
}

// stringMap turns a YAML-decoded map into a map of strings.
func stringMap(v any) map[string]string {
	out := map[string]string{}
	switch m := v.(type) {
	case map[string]any:
		for k, v := range m {
			out[k] = fmt.Sprint(v)
		}
	case map[any]any:
		for k, v := range m {
			out[fmt.Sprint(k)] = fmt.Sprint(v)
		}
	}
	return out
}

// checkWidgetModel checks what kubectl explain widgets and widgets.spec need.
// In v3 metadata is a reference wrapped in allOf with its description, as in
// kube-apiserver's documents, which util/proto does not follow
// (TestOpenAPIExplain does).
func checkWidgetModel(t *testing.T, models openapiproto.Models, v3 bool) {
	t.Helper()
	widget := findKind(t, models, widgetGVK)
	assert.Equal(t, "Widget is the demo object.", widget.GetDescription())
	for _, field := range []string{"apiVersion", "kind", "metadata", "spec", "status"} {
		assert.Contains(t, widget.Fields, field)
	}
	assert.Equal(t, "Spec is any JSON object; the server keeps it as sent.", widget.Fields["spec"].GetDescription())
	if !v3 {
		meta, ok := widget.Fields["metadata"].(*openapiproto.Ref)
		require.True(t, ok, "metadata is a reference")
		assert.Equal(t, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", meta.Reference())
		objectMeta, ok := meta.SubSchema().(*openapiproto.Kind)
		require.True(t, ok)
		assert.Contains(t, objectMeta.Fields, "labels")
	}
	status, ok := widget.Fields["status"].(*openapiproto.Kind)
	require.True(t, ok)
	assert.Contains(t, status.Fields, "createdBy")

	list := findKind(t, models, widgetGVK.GroupVersion().WithKind("WidgetList"))
	items, ok := list.Fields["items"].(*openapiproto.Array)
	require.True(t, ok)
	assert.Equal(t, "io.aggauth.demo.v1.Widget", items.SubType.(*openapiproto.Ref).Reference())
}

func TestOpenAPIV2(t *testing.T) {
	h := mustNew(t, demoGroup(t), opsGroup(t)).Handler(nil)
	w := get(h, "GET", "/openapi/v2")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	var swagger spec.Swagger
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &swagger))
	assert.Equal(t, "2.0", swagger.Swagger)

	doc, err := openapi_v2.ParseDocument(w.Body.Bytes())
	require.NoError(t, err)
	models, err := openapiproto.NewOpenAPIData(doc)
	require.NoError(t, err)
	checkWidgetModel(t, models, false)
	for _, gvk := range []schema.GroupVersionKind{gadgetGVK, boltGVK, scaleGVK} {
		findKind(t, models, gvk)
	}

	// The protobuf form is the same document.
	for _, accept := range []string{"application/com.github.proto-openapi.spec.v2@v1.0+protobuf", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"} {
		p := get(h, "GET", "/openapi/v2", "Accept", accept)
		require.Equal(t, http.StatusOK, p.Code)
		assert.Equal(t, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", p.Header().Get("Content-Type"))
		assert.Equal(t, w.Header().Get("ETag"), p.Header().Get("ETag"))
		var fromProto openapi_v2.Document
		require.NoError(t, proto.Unmarshal(p.Body.Bytes(), &fromProto))
		assert.True(t, proto.Equal(doc, &fromProto))
	}
}

func TestOpenAPIV3(t *testing.T) {
	h := mustNew(t, demoGroup(t), opsGroup(t)).Handler(nil)
	w := get(h, "GET", "/openapi/v3", "Accept", "application/json")
	require.Equal(t, http.StatusOK, w.Code)
	var index handler3.OpenAPIV3Discovery
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &index))
	require.Len(t, index.Paths, 2)

	for gv, gvks := range map[string][]schema.GroupVersionKind{
		"apis/demo.aggauth.io/v1": {widgetGVK},
		"apis/ops.example.com/v1": {gadgetGVK, boltGVK, scaleGVK},
	} {
		t.Run(gv, func(t *testing.T) {
			u, err := url.Parse(index.Paths[gv].ServerRelativeURL)
			require.NoError(t, err)
			assert.Equal(t, "/openapi/v3/"+gv, u.Path)
			w := get(h, "GET", u.String())
			require.Equal(t, http.StatusOK, w.Code)
			assert.Equal(t, `"`+u.Query().Get("hash")+`"`, w.Header().Get("ETag"), "the hash is the document's ETag")
			assert.Equal(t, "public, immutable", w.Header().Get("Cache-Control"))
			assert.NotEmpty(t, w.Header().Get("Expires"))

			var openapi spec3.OpenAPI
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &openapi))
			assert.Equal(t, "3.0.0", openapi.Version)
			doc, err := openapi_v3.ParseDocument(w.Body.Bytes())
			require.NoError(t, err)
			models, err := openapiproto.NewOpenAPIV3Data(doc)
			require.NoError(t, err)
			for _, gvk := range gvks {
				findKind(t, models, gvk)
			}
			if gvks[0] == widgetGVK {
				checkWidgetModel(t, models, true)
			}

			p := get(h, "GET", u.String(), "Accept", "application/com.github.proto-openapi.spec.v3.v1.0+protobuf")
			require.Equal(t, http.StatusOK, p.Code)
			var fromProto openapi_v3.Document
			require.NoError(t, proto.Unmarshal(p.Body.Bytes(), &fromProto))
			assert.True(t, proto.Equal(doc, &fromProto))
		})
	}
}

// TestOpenAPIV3Hash checks that the index names each document by its hash:
// equal declarations give equal hashes (replicas agree), a changed schema
// changes its own version's hash only, a stale hash is redirected.
func TestOpenAPIV3Hash(t *testing.T) {
	index := func(h http.Handler) map[string]string {
		var idx handler3.OpenAPIV3Discovery
		require.NoError(t, json.Unmarshal(get(h, "GET", "/openapi/v3").Body.Bytes(), &idx))
		out := map[string]string{}
		for gv, p := range idx.Paths {
			out[gv] = p.ServerRelativeURL
		}
		return out
	}
	h := mustNew(t, demoGroup(t), opsGroup(t)).Handler(nil)
	before := index(h)
	assert.Equal(t, before, index(mustNew(t, demoGroup(t), opsGroup(t)).Handler(nil)))

	changed := demoGroup(t)
	changed.Versions[0].Resources[0].Schema.Properties["spec"] = *spec.MapProperty(spec.StringProperty())
	after := index(mustNew(t, changed, opsGroup(t)).Handler(nil))
	assert.NotEqual(t, before["apis/demo.aggauth.io/v1"], after["apis/demo.aggauth.io/v1"])
	assert.Equal(t, before["apis/ops.example.com/v1"], after["apis/ops.example.com/v1"])

	// The old URL now redirects to the new one, as kube-openapi's handler3 does.
	w := get(mustNew(t, changed, opsGroup(t)).Handler(nil), "GET", before["apis/demo.aggauth.io/v1"])
	assert.Equal(t, http.StatusMovedPermanently, w.Code)
	assert.Equal(t, after["apis/demo.aggauth.io/v1"], w.Header().Get("Location"))

	// Without a hash the document is served, but not as immutable.
	w = get(h, "GET", "/openapi/v3/apis/demo.aggauth.io/v1")
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "no-cache, private", w.Header().Get("Cache-Control"))
}

func TestOpenAPINegotiation(t *testing.T) {
	h := mustNew(t, demoGroup(t)).Handler(nil)
	const (
		v2proto = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
		v3proto = "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"
	)
	for _, tc := range []struct {
		target, accept string
		code           int
		contentType    string
	}{
		{"/openapi/v2", "", 200, "application/json"},
		{"/openapi/v2", "*/*", 200, "application/json"},
		{"/openapi/v2", "application/*", 200, "application/json"},
		{"/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf", 200, v2proto},
		{"/openapi/v2", v2proto + ",application/json;q=0.9", 200, v2proto},
		{"/openapi/v2", "application/json;q=0.5," + v2proto, 200, v2proto},
		{"/openapi/v2", "text/html", 406, "application/json"},
		{"/openapi/v2", v3proto, 406, "application/json"},
		{"/openapi/v3/apis/demo.aggauth.io/v1", "", 200, "application/json"},
		{"/openapi/v3/apis/demo.aggauth.io/v1", "application/com.github.proto-openapi.spec.v3@v1.0+protobuf", 200, v3proto},
		{"/openapi/v3/apis/demo.aggauth.io/v1", "application/yaml", 406, "application/json"},
		{"/openapi/v3", "application/yaml", 200, "application/json"}, // the index is JSON only, as in kube-openapi
	} {
		t.Run(tc.target+" "+tc.accept, func(t *testing.T) {
			w := get(h, "GET", tc.target, "Accept", tc.accept)
			assert.Equal(t, tc.code, w.Code)
			assert.Equal(t, tc.contentType, w.Header().Get("Content-Type"))
			if tc.code == 406 {
				assert.Contains(t, w.Body.String(), `"reason": "NotAcceptable"`)
				return
			}
			assert.NotEmpty(t, w.Header().Get("Last-Modified"))
			again := get(h, "GET", tc.target, "Accept", tc.accept, "If-None-Match", w.Header().Get("ETag"))
			assert.Equal(t, http.StatusNotModified, again.Code)
		})
	}
}

// TestOpenAPIOperations checks the operations each verb adds, with
// kube-apiserver's paths, operation IDs and actions.
func TestOpenAPIOperations(t *testing.T) {
	var swagger spec.Swagger
	h := mustNew(t, demoGroup(t), opsGroup(t)).Handler(nil)
	require.NoError(t, json.Unmarshal(get(h, "GET", "/openapi/v2").Body.Bytes(), &swagger))
	got := map[string]string{}
	for path, item := range swagger.Paths.Paths {
		for method, op := range map[string]*spec.Operation{"GET": item.Get, "POST": item.Post, "PUT": item.Put, "PATCH": item.Patch, "DELETE": item.Delete} {
			if op != nil {
				got[method+" "+path] = op.ID + " " + op.Extensions["x-kubernetes-action"].(string)
			}
		}
	}
	const demo, ops = "/apis/demo.aggauth.io/v1", "/apis/ops.example.com/v1"
	assert.Equal(t, map[string]string{
		"GET " + demo + "/namespaces/{namespace}/widgets":                 "listDemoAggauthIoV1NamespacedWidget list",
		"POST " + demo + "/namespaces/{namespace}/widgets":                "createDemoAggauthIoV1NamespacedWidget post",
		"DELETE " + demo + "/namespaces/{namespace}/widgets":              "deleteCollectionDemoAggauthIoV1NamespacedWidget deletecollection",
		"GET " + demo + "/namespaces/{namespace}/widgets/{name}":          "readDemoAggauthIoV1NamespacedWidget get",
		"PUT " + demo + "/namespaces/{namespace}/widgets/{name}":          "replaceDemoAggauthIoV1NamespacedWidget put",
		"PATCH " + demo + "/namespaces/{namespace}/widgets/{name}":        "patchDemoAggauthIoV1NamespacedWidget patch",
		"DELETE " + demo + "/namespaces/{namespace}/widgets/{name}":       "deleteDemoAggauthIoV1NamespacedWidget delete",
		"GET " + demo + "/namespaces/{namespace}/widgets/{name}/status":   "readDemoAggauthIoV1NamespacedWidgetStatus get",
		"PUT " + demo + "/namespaces/{namespace}/widgets/{name}/status":   "replaceDemoAggauthIoV1NamespacedWidgetStatus put",
		"PATCH " + demo + "/namespaces/{namespace}/widgets/{name}/status": "patchDemoAggauthIoV1NamespacedWidgetStatus patch",
		"GET " + demo + "/widgets":                                        "listDemoAggauthIoV1WidgetForAllNamespaces list",
		"GET " + demo + "/watch/namespaces/{namespace}/widgets":           "watchDemoAggauthIoV1NamespacedWidgetList watchlist",
		"GET " + demo + "/watch/namespaces/{namespace}/widgets/{name}":    "watchDemoAggauthIoV1NamespacedWidget watch",
		"GET " + demo + "/watch/widgets":                                  "watchDemoAggauthIoV1WidgetListForAllNamespaces watchlist",
		"GET " + ops + "/gadgets":                                         "listOpsExampleComV1Gadget list",
		"POST " + ops + "/gadgets":                                        "createOpsExampleComV1Gadget post",
		"GET " + ops + "/gadgets/{name}":                                  "readOpsExampleComV1Gadget get",
		"DELETE " + ops + "/gadgets/{name}":                               "deleteOpsExampleComV1Gadget delete",
		"GET " + ops + "/gadgets/{name}/scale":                            "readOpsExampleComV1GadgetScale get",
		"PUT " + ops + "/gadgets/{name}/scale":                            "replaceOpsExampleComV1GadgetScale put",
		"PATCH " + ops + "/gadgets/{name}/scale":                          "patchOpsExampleComV1GadgetScale patch",
		"GET " + ops + "/namespaces/{namespace}/bolts":                    "listOpsExampleComV1NamespacedBolt list",
		"GET " + ops + "/namespaces/{namespace}/bolts/{name}":             "readOpsExampleComV1NamespacedBolt get",
		"GET " + ops + "/bolts":                                           "listOpsExampleComV1BoltForAllNamespaces list",
	}, got)

	// The scale subresource reads and writes autoscaling/v1 Scale.
	scale := swagger.Paths.Paths[ops+"/gadgets/{name}/scale"].Get
	assert.Equal(t, "#/definitions/io.k8s.api.autoscaling.v1.Scale", scale.Responses.StatusCodeResponses[200].Schema.Ref.String())
	assert.Equal(t, map[string]any{"group": "autoscaling", "version": "v1", "kind": "Scale"}, scale.Extensions["x-kubernetes-group-version-kind"])
	// Every reference resolves.
	for _, ref := range refs(t, get(h, "GET", "/openapi/v2").Body.Bytes()) {
		assert.Contains(t, swagger.Definitions, strings.TrimPrefix(ref, "#/definitions/"))
	}
}

// refs lists the $ref values of a JSON document.
func refs(t *testing.T, doc []byte) []string {
	var v any
	require.NoError(t, json.Unmarshal(doc, &v))
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if s, ok := e.(string); ok && k == "$ref" {
					out = append(out, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}
