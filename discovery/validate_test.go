package discovery_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/aggauth/aggauth/discovery"
)

func TestNewValidation(t *testing.T) {
	resource := func(g *discovery.Group) *discovery.Resource { return &g.Versions[0].Resources[0] }
	for _, tc := range []struct {
		name   string
		mutate func(g *discovery.Group)
		want   string // "" when valid
	}{
		{"valid", func(*discovery.Group) {}, ""},
		{"empty group name", func(g *discovery.Group) { g.Name = "" }, "groups[0].name: Required value"},
		{"group name not DNS", func(g *discovery.Group) { g.Name = "Demo_Group" }, `groups[0].name: Invalid value: "Demo_Group"`},
		{"no version", func(g *discovery.Group) { g.Versions = nil }, "groups[0].versions: Required value"},
		{"empty version", func(g *discovery.Group) { g.Versions[0].Name = "" }, "groups[0].versions[0].name: Required value"},
		{"version not DNS-1035", func(g *discovery.Group) { g.Versions[0].Name = "1alpha" }, `groups[0].versions[0].name: Invalid value: "1alpha"`},
		{"duplicate version", func(g *discovery.Group) { g.Versions = append(g.Versions, g.Versions[0]) }, `groups[0].versions[1].name: Duplicate value: "v1"`},
		{"no resource", func(g *discovery.Group) { g.Versions[0].Resources = nil }, "groups[0].versions[0].resources: Required value"},
		{"empty plural", func(g *discovery.Group) { resource(g).Plural = "" }, "resources[0].plural: Required value"},
		{"plural not DNS-1123", func(g *discovery.Group) { resource(g).Plural = "Widgets" }, `resources[0].plural: Invalid value: "Widgets"`},
		{"plural with a slash", func(g *discovery.Group) { resource(g).Plural = "widgets/status" }, `resources[0].plural: Invalid value: "widgets/status"`},
		{"singular not DNS-1123", func(g *discovery.Group) { resource(g).Singular = "a.b" }, `resources[0].singular: Invalid value: "a.b"`},
		{"no kind", func(g *discovery.Group) { resource(g).Kind = "" }, "resources[0].kind: Required value"},
		{"bad kind", func(g *discovery.Group) { resource(g).Kind = "Wid-get!" }, `resources[0].kind: Invalid value: "Wid-get!"`},
		{"list kind is kind", func(g *discovery.Group) { resource(g).ListKind = "Widget" }, "must differ from kind"},
		{"duplicate resource", func(g *discovery.Group) {
			g.Versions[0].Resources = append(g.Versions[0].Resources, *resource(g))
		}, `resources[1]: Duplicate value: "widgets"`},
		{"short name of another resource", func(g *discovery.Group) {
			g.Versions[0].Resources = append(g.Versions[0].Resources, discovery.Resource{Plural: "gizmos", Kind: "Gizmo", ShortNames: []string{"widget"}})
		}, `resources[1]: Duplicate value: "widget"`},
		{"duplicate kind", func(g *discovery.Group) {
			g.Versions[0].Resources = append(g.Versions[0].Resources, discovery.Resource{Plural: "gizmos", Singular: "gizmo", Kind: "Widget"})
		}, `resources[1].kind: Duplicate value: "Widget"`},
		{"duplicate verb", func(g *discovery.Group) { resource(g).Verbs = metav1.Verbs{"get", "get"} }, `verbs[1]: Duplicate value: "get"`},
		{"verb with a space", func(g *discovery.Group) { resource(g).Verbs = metav1.Verbs{"get "} }, `verbs[0]: Invalid value: "get "`},
		{"empty short name", func(g *discovery.Group) { resource(g).ShortNames = []string{""} }, "shortNames[0]: Required value"},
		{"bad category", func(g *discovery.Group) { resource(g).Categories = []string{"All"} }, `categories[0]: Invalid value: "All"`},
		{"schema not an object", func(g *discovery.Group) { resource(g).Schema = spec.StringProperty() }, `resources[0].schema.type: Invalid value`},
		{"empty subresource", func(g *discovery.Group) { resource(g).Subresources[0].Name = "" }, "subresources[0].name: Required value"},
		{"duplicate subresource", func(g *discovery.Group) {
			resource(g).Subresources = append(resource(g).Subresources, resource(g).Subresources[0])
		}, `subresources[1].name: Duplicate value: "status"`},
		{"subresource group without version", func(g *discovery.Group) {
			resource(g).Subresources[0].Kind = schema.GroupVersionKind{Group: "autoscaling", Kind: "Scale"}
		}, "subresources[0].kind.version: Required value"},
		{"subresource version without kind", func(g *discovery.Group) {
			resource(g).Subresources[0].Kind = schema.GroupVersionKind{Version: "v1"}
		}, "subresources[0].kind.kind: Required value"},
		{"subresource schema without kind", func(g *discovery.Group) {
			resource(g).Subresources[0].Schema = spec.MapProperty(nil)
		}, "subresources[0].schema: Forbidden"},
		{"core v1 subresource kind", func(g *discovery.Group) {
			resource(g).Subresources[0].Kind = schema.GroupVersionKind{Version: "v1", Kind: "Binding"}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := demoGroup(t)
			tc.mutate(&g)
			d, err := discovery.New(g)
			if tc.want == "" {
				require.NoError(t, err)
				require.NotNil(t, d)
				return
			}
			require.Error(t, err)
			assert.Nil(t, d)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "discovery: ")
		})
	}
}

func TestNewValidationGroups(t *testing.T) {
	_, err := discovery.New()
	assert.ErrorContains(t, err, "groups: Required value")

	_, err = discovery.New(demoGroup(t), demoGroup(t))
	assert.ErrorContains(t, err, `groups[1].name: Duplicate value: "demo.aggauth.io"`)

	// Every error is reported at once.
	g := demoGroup(t)
	g.Versions[0].Resources[0].Plural = ""
	g.Versions[0].Resources[0].Kind = ""
	_, err = discovery.New(g)
	assert.ErrorContains(t, err, "plural: Required value")
	assert.ErrorContains(t, err, "kind: Required value")
}
