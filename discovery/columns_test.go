package discovery_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/registry/customresource/tableconvertor"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/aggauth/aggauth/discovery"
)

// Gizmo has fields of every column type, for the columns' tests.
type Gizmo struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              GizmoSpec `json:"spec"`
}

type GizmoSpec struct {
	Color    string            `json:"color,omitempty"`
	Size     int32             `json:"size"`
	Weight   float64           `json:"weight"`
	Ready    *bool             `json:"ready,omitempty"`
	Since    *metav1.Time      `json:"since,omitempty"`
	Stamp    string            `json:"stamp,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
	Parts    []string          `json:"parts,omitempty"`
	Raw      json.RawMessage   `json:"raw,omitempty"`
	Children []GizmoSpec       `json:"children,omitempty"`
}

func (g *Gizmo) DeepCopyObject() runtime.Object {
	out := *g
	g.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	return &out
}

// gizmoColumns are printer columns of every type and format, with paths
// that find a value, none, a map, a list or a value of another type.
var gizmoColumns = []apiextensionsv1.CustomResourceColumnDefinition{
	{Name: "Color", Type: "string", JSONPath: ".spec.color"},
	{Name: "Size", Type: "integer", Format: "int32", JSONPath: ".spec.size", Description: "How big."},
	{Name: "Weight", Type: "number", JSONPath: ".spec.weight", Priority: 1},
	{Name: "Weight as integer", Type: "integer", JSONPath: ".spec.weight"},
	{Name: "Size as number", Type: "number", Format: "double", JSONPath: ".spec.size"},
	{Name: "Ready", Type: "boolean", JSONPath: ".spec.ready"},
	{Name: "Since", Type: "date", JSONPath: ".spec.since"},
	{Name: "Bad date", Type: "date", JSONPath: ".spec.stamp"},
	{Name: "Size as date", Type: "date", JSONPath: ".spec.size"},
	{Name: "Tags", Type: "string", JSONPath: ".spec.tags"},
	{Name: "Tag a", Type: "string", JSONPath: ".spec.tags.a"},
	{Name: "Parts", Type: "string", JSONPath: ".spec.parts"},
	{Name: "First part", Type: "string", JSONPath: ".spec.parts[0]"},
	{Name: "All children sizes", Type: "integer", JSONPath: ".spec.children[*].size"},
	{Name: "Size as string", Type: "string", JSONPath: ".spec.size"},
	{Name: "Missing", Type: "string", JSONPath: ".spec.nothing.here"},
	{Name: "Raw", Type: "string", JSONPath: ".spec.raw"},
	{Name: "Namespace", Type: "string", JSONPath: ".metadata.namespace", Priority: 2},
	{Name: "Created", Type: "string", Format: "date-time", JSONPath: ".metadata.creationTimestamp"},
	{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
	{Name: "Whole", Type: "string", JSONPath: "."},
}

func ourColumns(cols []apiextensionsv1.CustomResourceColumnDefinition) []discovery.Column {
	var out []discovery.Column
	for _, c := range cols {
		out = append(out, discovery.Column{Name: c.Name, Type: c.Type, Format: c.Format, Description: c.Description, Priority: c.Priority, JSONPath: c.JSONPath})
	}
	return out
}

func gizmoEndpoint(t testing.TB, cols []discovery.Column) *discovery.Endpoint {
	t.Helper()
	d := mustNew(t, discovery.Group{Name: "demo.aggauth.io", Versions: []discovery.Version{{Name: "v1", Resources: []discovery.Resource{{
		Plural: "gizmos", Kind: "Gizmo", Namespaced: true, Verbs: metav1.Verbs{"get", "list"}, Columns: cols,
	}}}}})
	return d.Endpoint("demo.aggauth.io", "v1", "gizmos", "")
}

func gizmos() []*Gizmo {
	ready := true
	since := metav1.NewTime(time.Now().Add(-49 * time.Hour))
	return []*Gizmo{
		{ObjectMeta: metav1.ObjectMeta{Name: "empty"}},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "full", Namespace: "ns", CreationTimestamp: metav1.NewTime(time.Now().Add(-90 * time.Minute))},
			Spec: GizmoSpec{
				Color: "blue", Size: 3, Weight: 2.5, Ready: &ready, Since: &since, Stamp: "yesterday",
				Tags: map[string]string{"b": "2", "a": "<1>"}, Parts: []string{"x", "y"}, Raw: json.RawMessage(`{"k":[1,"two",null]}`),
				Children: []GizmoSpec{{Size: 7}, {Size: 8}},
			},
		},
	}
}

// TestCellsDifferential evaluates the same columns on the same objects with
// k8s.io/apiextensions-apiserver's table convertor, typed and unstructured:
// the same column definitions and the same cells.
func TestCellsDifferential(t *testing.T) {
	for _, tc := range []struct {
		name string
		cols []apiextensionsv1.CustomResourceColumnDefinition
	}{
		{"every type", gizmoColumns},
		{"none: the default Age column", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := gizmoEndpoint(t, ourColumns(tc.cols))
			crdCols := tc.cols
			if len(crdCols) == 0 { // apiextensions' serveDefaultColumnsIfEmpty
				crdCols = []apiextensionsv1.CustomResourceColumnDefinition{{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp",
					Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}}
			}
			k8s, err := tableconvertor.New(crdCols)
			require.NoError(t, err)
			for _, g := range gizmos() {
				table, err := k8s.ConvertToTable(t.Context(), g, nil)
				require.NoError(t, err)
				assert.Equal(t, table.ColumnDefinitions, e.ColumnDefinitions(), "column definitions")
				cells, err := e.Cells(g)
				require.NoError(t, err)
				assert.Equal(t, table.Rows[0].Cells, cells, "cells of %s", g.Name)

				content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(g)
				require.NoError(t, err)
				u := &unstructured.Unstructured{Object: content}
				table, err = k8s.ConvertToTable(t.Context(), u, nil)
				require.NoError(t, err)
				cells, err = e.Cells(u)
				require.NoError(t, err)
				assert.Equal(t, table.Rows[0].Cells, cells, "cells of unstructured %s", g.Name)
			}
		})
	}
}

func TestCellsNotAnObject(t *testing.T) {
	e := gizmoEndpoint(t, nil)
	_, err := e.Cells(&GizmoSpec{})
	assert.Error(t, err)
	_, err = e.Cells(Gizmo{}) // not a pointer
	assert.Error(t, err)
}

// TestCellsConcurrent evaluates shared columns from many goroutines: run
// with -race, it shows that the parsed JSONPaths are only read.
func TestCellsConcurrent(t *testing.T) {
	e := gizmoEndpoint(t, ourColumns(gizmoColumns))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				for _, g := range gizmos() {
					_, err := e.Cells(g)
					assert.NoError(t, err)
				}
			}
		})
	}
	wg.Wait()
}

func TestColumnsValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		col  discovery.Column
		want string // "" when valid
	}{
		{"valid", discovery.Column{Name: "Color", Type: "string", JSONPath: ".spec.color"}, ""},
		{"every format", discovery.Column{Name: "N", Type: "integer", Format: "int64", JSONPath: ".spec.n"}, ""},
		{"the whole object", discovery.Column{Name: "All", Type: "string", JSONPath: "."}, ""},
		{"no name", discovery.Column{Type: "string", JSONPath: ".a"}, "columns[0].name: Required value"},
		{"no type", discovery.Column{Name: "A", JSONPath: ".a"}, "columns[0].type: Required value: must be one of boolean,date,integer,number,string"},
		{"bad type", discovery.Column{Name: "A", Type: "object", JSONPath: ".a"}, `columns[0].type: Invalid value: "object": must be one of`},
		{"bad format", discovery.Column{Name: "A", Type: "string", Format: "email", JSONPath: ".a"}, `columns[0].format: Invalid value: "email": must be one of byte,date,date-time,double,float,int32,int64,password`},
		{"no path", discovery.Column{Name: "A", Type: "string"}, "columns[0].jsonPath: Required value"},
		{"path without a dot", discovery.Column{Name: "A", Type: "string", JSONPath: "spec.a"}, `columns[0].jsonPath: Invalid value: "spec.a": must be a simple json path starting with .`},
		{"path that does not parse", discovery.Column{Name: "A", Type: "string", JSONPath: ".spec[?(@.x"}, `columns[0].jsonPath: Invalid value: ".spec[?(@.x": unrecognized column definition`},
		{"range", discovery.Column{Name: "A", Type: "string", JSONPath: ".a}{range .items[*]}{.b}{end"}, `columns[0].jsonPath: Invalid value: ".a}{range .items[*]}{.b}{end": range and end are not allowed`},
		{"range in a filter", discovery.Column{Name: "A", Type: "string", JSONPath: ".a[?(@.b == 1)]}{end"}, `columns[0].jsonPath: Invalid value: ".a[?(@.b == 1)]}{end": range and end are not allowed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := demoGroup(t)
			g.Versions[0].Resources[0].Columns = []discovery.Column{tc.col}
			_, err := discovery.New(g)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "groups[0].versions[0].resources[0]."+tc.want)
		})
	}
}

// TestColumnsCopied: changing the declaration after New changes nothing.
func TestColumnsCopied(t *testing.T) {
	g := demoGroup(t)
	g.Versions[0].Resources[0].Columns = []discovery.Column{{Name: "Color", Type: "string", JSONPath: ".spec.color"}}
	d := mustNew(t, g)
	g.Versions[0].Resources[0].Columns[0].Name = "Changed"
	e := d.Endpoint("demo.aggauth.io", "v1", "widgets", "")
	assert.Equal(t, []string{"Name", "Color"}, columnNames(e.ColumnDefinitions()))
	defs := e.ColumnDefinitions()
	defs[0].Name = "Changed"
	assert.Equal(t, []string{"Name", "Color"}, columnNames(e.ColumnDefinitions()))
}
