package discovery

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Group declares one API group the server serves, such as demo.aggauth.io.
type Group struct {
	// Name is the group's name, a DNS-1123 subdomain. Required; the core
	// group ("") is kube-apiserver's own.
	Name string
	// Versions are the group's versions in preference order: Versions[0] is
	// the preferred version, in the APIGroup's preferredVersion and first in
	// aggregated discovery. At least one.
	Versions []Version
}

// Version declares one version of a Group, such as v1.
type Version struct {
	// Name is the version, a DNS-1035 label such as v1 or v1beta1. Required.
	Name string
	// Resources are the version's resources. At least one. Discovery lists
	// them sorted by name, as kube-apiserver lists the resources it
	// installs.
	Resources []Resource
}

// Resource declares one resource of a Version, with everything discovery and
// OpenAPI say about it.
type Resource struct {
	// Plural is the resource's name in paths, such as widgets: a DNS-1123
	// label. Required.
	Plural string
	// Singular is the singular name kubectl accepts, such as widget.
	// Default: the Kind in lower case.
	Singular string
	// Kind is the kind of the objects, such as Widget. Required.
	Kind string
	// ListKind is the kind of a list of them. Default: Kind + "List".
	ListKind string
	// Namespaced is true for a namespaced resource, false for a
	// cluster-scoped one.
	Namespaced bool
	// Verbs are the Kubernetes verbs the server implements: get, list,
	// watch, create, update, patch, delete, deletecollection (and any other
	// verb, which discovery lists but OpenAPI ignores). Discovery lists them
	// sorted, as kube-apiserver does. Default: none.
	Verbs metav1.Verbs
	// ShortNames are the short names kubectl accepts, such as wd. Default:
	// none.
	ShortNames []string
	// Categories are the categories the resource belongs to, such as all.
	// Default: none.
	Categories []string
	// Subresources are the resource's subresources, such as status and
	// scale. Default: none.
	Subresources []Subresource
	// Schema is the OpenAPI schema of an object of Kind: build it with
	// SchemaOf or unmarshal it from JSON. Its apiVersion, kind and metadata
	// properties are replaced by Kubernetes' standard ones, and it gains the
	// x-kubernetes-group-version-kind extension. Default: an object that
	// allows any fields.
	Schema *spec.Schema
	// Columns are the printer columns of the Table kubectl get asks for,
	// after the Name column every Table starts with, as a
	// CustomResourceDefinition's additionalPrinterColumns. The resource's
	// subresources of the same kind (status) have the same columns. Default:
	// one Age column, as a CustomResourceDefinition without printer columns.
	// (A generic apiserver's storage without a TableConvertor of its own
	// prints Name and "Created At" instead, an RFC 3339 time: declare
	// {Name: "Created At", Type: "string", JSONPath:
	// ".metadata.creationTimestamp"} for the same cells.)
	Columns []Column
}

// Column is a printer column of a Resource, as a CustomResourceDefinition's
// additionalPrinterColumns declare one (apiextensions.k8s.io/v1
// CustomResourceColumnDefinition, with the same validation).
type Column struct {
	// Name is the column's header, such as Color. Required.
	Name string
	// Type is the OpenAPI type of the column's values: integer, number,
	// string, boolean or date. A date column shows the time since the
	// RFC 3339 time its JSONPath selects, such as 5m. Required.
	Type string
	// Format is the OpenAPI format of the values: int32, int64, float,
	// double, byte, date, date-time or password; kubectl shows a name column
	// (format name) as the object's name. Default: none.
	Format string
	// Description is the column's description. Default: "Custom resource
	// definition column (in JSONPath format): " and the JSONPath, as for a
	// CustomResourceDefinition.
	Description string
	// Priority is 0 for a column kubectl get shows, more for one only
	// kubectl get -o wide shows. Default: 0.
	Priority int32
	// JSONPath selects the value in the object's JSON, such as .spec.color:
	// a simple JSONPath (k8s.io/client-go/util/jsonpath) starting with a
	// dot, evaluated as kube-apiserver evaluates a CustomResourceDefinition's
	// (the first value found; an empty cell when there is none). range and
	// end are refused. Required.
	JSONPath string
}

// Subresource declares a subresource of a Resource, such as status.
type Subresource struct {
	// Name is the subresource's name in paths, such as status: a DNS-1123
	// label. Required.
	Name string
	// Verbs are the verbs it implements, such as get, update and patch.
	// Default: none.
	Verbs metav1.Verbs
	// Kind is the kind of the object it reads and writes, when it is not the
	// resource's own: autoscaling/v1 Scale for a scale subresource. Its
	// Group and Version are listed in discovery as given; empty means the
	// resource's group and version. Default: the resource's kind.
	Kind schema.GroupVersionKind
	// Schema is the OpenAPI schema of Kind when Kind is set and is not a
	// resource declared in the same version. Default: an object that allows
	// any fields.
	Schema *spec.Schema
}

// gvk returns the kind of the subresource's objects, with the group and
// version defaulted to gv's.
func (s *Subresource) gvk(gv schema.GroupVersion, parentKind string) schema.GroupVersionKind {
	if s.Kind.Kind == "" {
		return gv.WithKind(parentKind)
	}
	if s.Kind.Version == "" {
		return gv.WithKind(s.Kind.Kind)
	}
	return s.Kind
}

// withDefaults returns a copy of g with every default applied and every slice
// copied, so that later changes to the caller's values change nothing.
func (g Group) withDefaults() Group {
	out := Group{Name: g.Name, Versions: make([]Version, len(g.Versions))}
	for i, v := range g.Versions {
		nv := Version{Name: v.Name, Resources: make([]Resource, len(v.Resources))}
		for j, r := range v.Resources {
			nv.Resources[j] = r.withDefaults()
		}
		out.Versions[i] = nv
	}
	return out
}

func (r Resource) withDefaults() Resource {
	out := r
	if out.Singular == "" {
		out.Singular = strings.ToLower(r.Kind)
	}
	if out.ListKind == "" && r.Kind != "" {
		out.ListKind = r.Kind + "List"
	}
	out.Verbs = append(metav1.Verbs(nil), r.Verbs...)
	out.ShortNames = append([]string(nil), r.ShortNames...)
	out.Categories = append([]string(nil), r.Categories...)
	out.Columns = append([]Column(nil), r.Columns...)
	out.Subresources = make([]Subresource, len(r.Subresources))
	for i, s := range r.Subresources {
		s.Verbs = append(metav1.Verbs(nil), s.Verbs...)
		out.Subresources[i] = s
	}
	return out
}
