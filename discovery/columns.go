package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metatable "k8s.io/apimachinery/pkg/api/meta/table"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/util/jsonpath"
)

// The printer columns of a resource, as
// k8s.io/apiextensions-apiserver's customresource/tableconvertor (v0.37.2)
// serves a CustomResourceDefinition's additionalPrinterColumns.

var metadataDocs = metav1.ObjectMeta{}.SwaggerDoc()

// defaultColumns are a CustomResourceDefinition's columns when it declares
// none (serveDefaultColumnsIfEmpty).
var defaultColumns = []Column{{
	Name: "Age", Type: "date", Description: metadataDocs["creationTimestamp"], JSONPath: ".metadata.creationTimestamp",
}}

// columnTypes and columnFormats are the values a CustomResourceDefinition's
// printer columns may have (apiextensions validation).
var (
	columnTypes   = sets.New("integer", "number", "string", "boolean", "date")
	columnFormats = sets.New("int32", "int64", "float", "double", "byte", "date", "date-time", "password")
)

// columns is a resource's Table layout, built once: the column definitions
// of every Table (Name first) and the parsed JSONPath of each declared
// column, as tableconvertor.New builds them.
type columns struct {
	definitions []metav1.TableColumnDefinition
	paths       []*jsonpath.JSONPath // paths[i] is definitions[i+1]'s
}

// newColumns compiles validated columns; none means defaultColumns.
func newColumns(declared []Column) (*columns, error) {
	if len(declared) == 0 {
		declared = defaultColumns
	}
	c := &columns{definitions: []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metadataDocs["name"]},
	}}
	for _, col := range declared {
		path, err := parseColumnPath(col.Name, col.JSONPath)
		if err != nil {
			return nil, err
		}
		desc := col.Description
		if desc == "" {
			desc = "Custom resource definition column (in JSONPath format): " + col.JSONPath
		}
		c.paths = append(c.paths, path)
		c.definitions = append(c.definitions, metav1.TableColumnDefinition{
			Name: col.Name, Type: col.Type, Format: col.Format, Description: desc, Priority: col.Priority,
		})
	}
	return c, nil
}

// parseColumnPath parses a column's JSONPath as tableconvertor.New does. A
// path with range or end is refused: evaluating one changes the parsed
// path's state, which a Discovery shares between requests.
func parseColumnPath(name, path string) (*jsonpath.JSONPath, error) {
	p := jsonpath.New(name)
	if err := p.Parse("{" + path + "}"); err != nil {
		return nil, fmt.Errorf("unrecognized column definition: %w", err)
	}
	p.AllowMissingKeys(true)
	parsed, _ := jsonpath.Parse(name, "{"+path+"}") // the same tree, to inspect
	if hasIdentifier(parsed.Root) {
		return nil, errors.New("range and end are not allowed")
	}
	return p, nil
}

func hasIdentifier(n jsonpath.Node) bool {
	switch n := n.(type) {
	case *jsonpath.IdentifierNode:
		return true
	case *jsonpath.ListNode:
		for _, c := range n.Nodes {
			if hasIdentifier(c) {
				return true
			}
		}
	case *jsonpath.FilterNode:
		return hasIdentifier(n.Left) || hasIdentifier(n.Right)
	case *jsonpath.UnionNode:
		for _, c := range n.Nodes {
			if hasIdentifier(c) {
				return true
			}
		}
	}
	return false
}

// validateColumns applies a CustomResourceDefinition's rules to columns
// (ValidateCustomResourceColumnDefinition), and checks that each JSONPath
// parses, which Kubernetes leaves to serving time.
func validateColumns(p *field.Path, cols []Column) field.ErrorList {
	var errs field.ErrorList
	types, formats := strings.Join(sets.List(columnTypes), ","), strings.Join(sets.List(columnFormats), ",")
	for i := range cols {
		col, cp := &cols[i], p.Index(i)
		if col.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), ""))
		}
		switch {
		case col.Type == "":
			errs = append(errs, field.Required(cp.Child("type"), "must be one of "+types))
		case !columnTypes.Has(col.Type):
			errs = append(errs, field.Invalid(cp.Child("type"), col.Type, "must be one of "+types))
		}
		if col.Format != "" && !columnFormats.Has(col.Format) {
			errs = append(errs, field.Invalid(cp.Child("format"), col.Format, "must be one of "+formats))
		}
		switch path := col.JSONPath; {
		case path == "":
			errs = append(errs, field.Required(cp.Child("jsonPath"), ""))
		case path[0] != '.':
			errs = append(errs, field.Invalid(cp.Child("jsonPath"), path, "must be a simple json path starting with ."))
		default:
			if _, err := parseColumnPath(col.Name, path); err != nil {
				errs = append(errs, field.Invalid(cp.Child("jsonPath"), path, err.Error()))
			}
		}
	}
	return errs
}

// cells returns the cells of obj's row: its name, then each column's value,
// as the rows tableconvertor's ConvertToTable builds. obj is a pointer to an
// object (a struct with ObjectMeta, or a runtime.Unstructured).
func (c *columns) cells(obj any) ([]any, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	var content map[string]any
	if u, ok := obj.(runtime.Unstructured); ok {
		content = u.UnstructuredContent()
	} else if content, err = runtime.DefaultUnstructuredConverter.ToUnstructured(obj); err != nil {
		return nil, err
	}
	cells := make([]any, 1, 1+len(c.paths))
	cells[0] = m.GetName()
	var buf bytes.Buffer
	for i, path := range c.paths {
		results, err := path.FindResults(content)
		if err != nil || len(results) == 0 || len(results[0]) == 0 {
			cells = append(cells, nil)
			continue
		}
		// A simple JSONPath has at most one result that matters: the first.
		value := results[0][0].Interface()
		if typ := c.definitions[i+1].Type; typ != "string" {
			cells = append(cells, cellForJSONValue(typ, value))
			continue
		}
		if err := path.PrintResults(&buf, []reflect.Value{reflect.ValueOf(value)}); err != nil {
			cells = append(cells, nil)
		} else {
			cells = append(cells, buf.String())
		}
		buf.Reset()
	}
	return cells, nil
}

// cellForJSONValue is tableconvertor's: value as a cell of the column type,
// or nil when it is not of that type.
func cellForJSONValue(headerType string, value any) any {
	switch headerType {
	case "integer":
		switch typed := value.(type) {
		case int64:
			return typed
		case float64:
			return int64(typed)
		case json.Number:
			if i64, err := typed.Int64(); err == nil {
				return i64
			}
		}
	case "number":
		switch typed := value.(type) {
		case int64:
			return float64(typed)
		case float64:
			return typed
		case json.Number:
			if f, err := typed.Float64(); err == nil {
				return f
			}
		}
	case "boolean":
		if b, ok := value.(bool); ok {
			return b
		}
	case "date":
		if typed, ok := value.(string); ok {
			var timestamp metav1.Time
			if err := timestamp.UnmarshalQueryParameter(typed); err != nil {
				return "<invalid>"
			}
			return metatable.ConvertToHumanReadableDateType(timestamp)
		}
	}
	return nil
}
