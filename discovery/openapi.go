package discovery

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// gvBuilder builds the OpenAPI v2 document of one group version: its
// resources' paths and the definitions they refer to.
type gvBuilder struct {
	gv       schema.GroupVersion
	prefix   string // /apis/<group>/<version>
	idPrefix string // DemoAggauthIoV1: operation IDs are list<idPrefix>Namespaced<Kind>...
	tag      string // demoAggauthIo_v1
	meta     spec.Definitions
	defs     spec.Definitions
	paths    map[string]spec.PathItem
	kind     string // the kind of the resource whose paths are being added
}

// gvSwagger builds the OpenAPI v2 document of version v of group g.
func gvSwagger(meta spec.Definitions, g *Group, v *Version) (*spec.Swagger, error) {
	groupID := camel(g.Name)
	b := &gvBuilder{
		gv:       schema.GroupVersion{Group: g.Name, Version: v.Name},
		prefix:   "/apis/" + g.Name + "/" + v.Name,
		idPrefix: groupID + camel(v.Name),
		tag:      strings.ToLower(groupID[:1]) + groupID[1:] + "_" + v.Name,
		meta:     meta,
		defs:     spec.Definitions{},
		paths:    map[string]spec.PathItem{},
	}
	for i := range v.Resources {
		if err := b.addKinds(&v.Resources[i]); err != nil {
			return nil, fmt.Errorf("schema of %s: %w", v.Resources[i].Plural, err)
		}
	}
	for i := range v.Resources {
		if err := b.addSubresourceKinds(&v.Resources[i]); err != nil {
			return nil, fmt.Errorf("schema of %s: %w", v.Resources[i].Plural, err)
		}
		b.addPaths(&v.Resources[i])
	}
	return newSwagger(b.paths, b.defs), nil
}

func newSwagger(paths map[string]spec.PathItem, defs spec.Definitions) *spec.Swagger {
	return &spec.Swagger{SwaggerProps: spec.SwaggerProps{
		Swagger:     "2.0",
		Info:        &spec.Info{InfoProps: spec.InfoProps{Title: "Generic API Server", Version: "unversioned"}},
		Paths:       &spec.Paths{Paths: paths},
		Definitions: defs,
	}}
}

// addKinds defines a resource's kind and list kind.
func (b *gvBuilder) addKinds(r *Resource) error {
	gvk := b.gv.WithKind(r.Kind)
	obj, err := objectSchema(r.Schema, gvk)
	if err != nil {
		return err
	}
	b.defs[definitionName(gvk)] = *obj
	b.defs[definitionName(b.gv.WithKind(r.ListKind))] = *listSchema(b.gv.WithKind(r.ListKind), gvk, r.Plural)
	b.useMeta(objectMetaName)
	b.useMeta(listMetaName)
	return nil
}

// addSubresourceKinds defines the kinds of a resource's subresources that
// are not the kind of a resource of this version. The first schema given
// for a kind is used.
func (b *gvBuilder) addSubresourceKinds(r *Resource) error {
	for i := range r.Subresources {
		s := &r.Subresources[i]
		gvk := s.gvk(b.gv, r.Kind)
		if _, ok := b.defs[definitionName(gvk)]; ok {
			continue
		}
		obj, err := objectSchema(s.Schema, gvk)
		if err != nil {
			return err
		}
		b.defs[definitionName(gvk)] = *obj
	}
	return nil
}

// useMeta adds a shared definition, and returns the reference to it.
func (b *gvBuilder) useMeta(name string) string {
	b.defs[name] = b.meta[name]
	return definitionRef(name)
}

// objectSchema is the definition of a kind: a copy of the given schema (an
// object with any fields when nil) with the standard apiVersion, kind and
// metadata properties and the x-kubernetes-group-version-kind extension.
func objectSchema(given *spec.Schema, gvk schema.GroupVersionKind) (*spec.Schema, error) {
	s := anyObject()
	if given != nil {
		var err error
		if s, err = copySchema(given); err != nil {
			return nil, err
		}
	}
	s.Type = spec.StringOrArray{"object"}
	for name, p := range typeMetaProperties() {
		s.SetProperty(name, p)
	}
	s.SetProperty("metadata", *spec.RefSchema(definitionRef(objectMetaName)).WithDescription(objectMetaDoc))
	s.Required = slices.DeleteFunc(s.Required, func(n string) bool { return n == "apiVersion" || n == "kind" || n == "metadata" })
	if len(s.Required) == 0 {
		s.Required = nil
	}
	s.AddExtension("x-kubernetes-group-version-kind", []any{gvkExtension(gvk)})
	return s, nil
}

// listSchema is the definition of a list kind.
func listSchema(listGVK, itemGVK schema.GroupVersionKind, plural string) *spec.Schema {
	s := &spec.Schema{SchemaProps: spec.SchemaProps{
		Description: listGVK.Kind + " is a list of " + itemGVK.Kind,
		Type:        []string{"object"},
		Required:    []string{"items"},
		Properties:  typeMetaProperties(),
	}}
	s.SetProperty("metadata", *spec.RefSchema(definitionRef(listMetaName)).WithDescription(listMetaDoc))
	items := spec.ArrayProperty(spec.RefSchema(definitionRef(definitionName(itemGVK))))
	s.SetProperty("items", *items.WithDescription("List of " + plural + "."))
	s.AddExtension("x-kubernetes-group-version-kind", []any{gvkExtension(listGVK)})
	return s
}

func gvkExtension(gvk schema.GroupVersionKind) map[string]any {
	return map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
}

// copySchema deep-copies a schema through its JSON form.
func copySchema(s *spec.Schema) (*spec.Schema, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	out := new(spec.Schema)
	if err := json.Unmarshal(data, out); err != nil {
		return nil, err
	}
	return out, nil
}

// definitionName names a kind's definition as kube-apiserver does: the
// reversed group (io.aggauth.demo.v1.Widget, as for a CustomResource), or
// io.k8s.api.<group> for a group without a dot (io.k8s.api.autoscaling.v1.Scale).
func definitionName(gvk schema.GroupVersionKind) string {
	group := gvk.Group
	switch {
	case group == "":
		group = "io.k8s.api.core"
	case !strings.Contains(group, "."):
		group = "io.k8s.api." + group
	default:
		parts := strings.Split(group, ".")
		slices.Reverse(parts)
		group = strings.Join(parts, ".")
	}
	return group + "." + gvk.Version + "." + gvk.Kind
}

// camel turns a group, version or subresource name into an identifier part:
// demo.aggauth.io is DemoAggauthIo, as in kube-apiserver's operation IDs.
func camel(s string) string {
	var b strings.Builder
	upper := true
	for _, r := range s {
		switch {
		case r == '.' || r == '-':
			upper = true
		case upper:
			b.WriteRune(unicode.ToUpper(r))
			upper = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
