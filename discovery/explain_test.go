package discovery_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// explain follows kubectl explain's plaintext template (k8s.io/kubectl
// pkg/explain/v2/templates/plaintext.tmpl) on a v3 document: the GVK of the
// first operation on the resource's paths, then the component schema with
// that GVK, then each field of the path, through references.
func explain(t *testing.T, doc map[string]any, gvr schema.GroupVersionResource, fields ...string) map[string]any {
	t.Helper()
	prefix := "/apis/" + gvr.Group + "/" + gvr.Version
	var gvk any
	paths := doc["paths"].(map[string]any)
	for _, p := range []string{prefix + "/" + gvr.Resource, prefix + "/" + gvr.Resource + "/{name}",
		prefix + "/namespaces/{namespace}/" + gvr.Resource, prefix + "/namespaces/{namespace}/" + gvr.Resource + "/{name}"} {
		item, _ := paths[p].(map[string]any)
		for _, method := range []string{"get", "post", "put", "patch", "delete"} {
			if op, ok := item[method].(map[string]any); ok && gvk == nil {
				gvk = op["x-kubernetes-group-version-kind"]
			}
		}
	}
	require.NotNil(t, gvk, "GVR %v not found in OpenAPI schema", gvr)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	var s map[string]any
	for _, candidate := range schemas {
		c := candidate.(map[string]any)
		list, _ := c["x-kubernetes-group-version-kind"].([]any)
		if slices.ContainsFunc(list, func(v any) bool { return fmt.Sprint(v) == fmt.Sprint(gvk) }) {
			s = c
		}
	}
	require.NotNil(t, s, "GVK %v not found in OpenAPI schema", gvk)
	for _, f := range fields {
		s = resolve(t, schemas, s)
		next, ok := s["properties"].(map[string]any)[f].(map[string]any)
		require.True(t, ok, "field %q does not exist", f)
		s = next
	}
	return resolve(t, schemas, s)
}

// resolve follows a $ref, alone or wrapped in allOf as kube-openapi wraps
// references with siblings.
func resolve(t *testing.T, schemas, s map[string]any) map[string]any {
	if all, ok := s["allOf"].([]any); ok && len(all) == 1 {
		s = all[0].(map[string]any)
	}
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		target, ok := schemas[name].(map[string]any)
		require.True(t, ok, "reference %s", ref)
		return target
	}
	return s
}

func TestOpenAPIExplain(t *testing.T) {
	h := mustNew(t, demoGroup(t), opsGroup(t)).Handler(nil)
	load := func(gv string) map[string]any {
		var doc map[string]any
		require.NoError(t, json.Unmarshal(get(h, "GET", "/openapi/v3/apis/"+gv).Body.Bytes(), &doc))
		return doc
	}
	demo, ops := load("demo.aggauth.io/v1"), load("ops.example.com/v1")
	widgets := schema.GroupVersionResource{Group: "demo.aggauth.io", Version: "v1", Resource: "widgets"}

	assert.Equal(t, "Widget is the demo object.", explain(t, demo, widgets)["description"])
	assert.Equal(t, "Spec is any JSON object; the server keeps it as sent.", explain(t, demo, widgets, "spec")["description"])
	assert.Contains(t, explain(t, demo, widgets, "metadata", "labels")["description"], "Map of string keys and values")
	assert.Contains(t, explain(t, demo, widgets, "status", "createdBy", "username")["description"], "uniquely identifies this user")
	for _, resource := range []string{"gadgets", "bolts"} {
		s := explain(t, ops, schema.GroupVersionResource{Group: "ops.example.com", Version: "v1", Resource: resource})
		assert.Contains(t, s["properties"], "metadata")
		assert.Equal(t, true, s["x-kubernetes-preserve-unknown-fields"], "no schema declared: any fields")
	}
}
