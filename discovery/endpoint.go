package discovery

import (
	"context"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Endpoint is one declared resource, or one of its subresources, in one
// version: what Handler checks a resource request against, and what the
// objects package writes answers with (kinds, printer columns). Handler puts
// the Endpoint of each request it lets through in the request's context,
// read with EndpointFrom. An Endpoint is immutable and safe for concurrent
// use.
type Endpoint struct {
	resource    schema.GroupVersionResource
	subresource string
	kind        schema.GroupVersionKind
	listKind    schema.GroupVersionKind
	namespaced  bool
	verbs       []string // sorted
	columns     *columns
}

// Resource is the endpoint's group, version and resource.
func (e *Endpoint) Resource() schema.GroupVersionResource { return e.resource }

// Subresource is the endpoint's subresource, such as status; "" for the
// resource itself.
func (e *Endpoint) Subresource() string { return e.subresource }

// Kind is the kind of the objects the endpoint reads and writes: the
// resource's, or the subresource's declared kind (autoscaling/v1 Scale).
func (e *Endpoint) Kind() schema.GroupVersionKind { return e.kind }

// ListKind is the kind of a list of Kind: the resource's ListKind, or Kind
// with List appended for a subresource of another kind.
func (e *Endpoint) ListKind() schema.GroupVersionKind { return e.listKind }

// Namespaced reports whether the resource is namespaced.
func (e *Endpoint) Namespaced() bool { return e.namespaced }

// Verbs returns the declared verbs, sorted, in a new slice.
func (e *Endpoint) Verbs() metav1.Verbs { return slices.Clone(e.verbs) }

// Allows reports whether verb is declared.
func (e *Endpoint) Allows(verb string) bool {
	_, ok := slices.BinarySearch(e.verbs, verb)
	return ok
}

// ColumnDefinitions returns, in a new slice, the column definitions of the
// endpoint's Tables: Name, then the declared columns (Age by default), as
// kube-apiserver's Table of a CustomResourceDefinition's objects.
func (e *Endpoint) ColumnDefinitions() []metav1.TableColumnDefinition {
	return slices.Clone(e.columns.definitions)
}

// Cells returns the cells of obj's Table row, one per ColumnDefinitions: its
// name, then each column's JSONPath evaluated on obj's JSON as
// kube-apiserver evaluates a CustomResourceDefinition's printer columns.
// obj is a pointer to an object: a struct embedding metav1.ObjectMeta, or a
// runtime.Unstructured. The error is obj's when it is not one.
func (e *Endpoint) Cells(obj any) ([]any, error) { return e.columns.cells(obj) }

type endpointKey struct{ group, version, resource, subresource string }

type endpointContextKey struct{}

// WithEndpoint returns a copy of ctx carrying e, for EndpointFrom.
func WithEndpoint(ctx context.Context, e *Endpoint) context.Context {
	return context.WithValue(ctx, endpointContextKey{}, e)
}

// EndpointFrom returns the endpoint WithEndpoint put in ctx: behind
// Discovery.Handler, the declared endpoint of the resource request.
func EndpointFrom(ctx context.Context) (*Endpoint, bool) {
	e, ok := ctx.Value(endpointContextKey{}).(*Endpoint)
	return e, ok && e != nil
}

// Endpoint returns the declared endpoint of a group, version, resource and
// subresource ("" for the resource itself), or nil.
func (d *Discovery) Endpoint(group, version, resource, subresource string) *Endpoint {
	return d.endpoints[endpointKey{group, version, resource, subresource}]
}

// buildEndpoints makes the endpoints of validated groups.
func buildEndpoints(groups []Group) (map[endpointKey]*Endpoint, error) {
	out := map[endpointKey]*Endpoint{}
	for _, g := range groups {
		for _, v := range g.Versions {
			gv := schema.GroupVersion{Group: g.Name, Version: v.Name}
			for i := range v.Resources {
				r := &v.Resources[i]
				cols, err := newColumns(r.Columns)
				if err != nil {
					return nil, err
				}
				gvr := gv.WithResource(r.Plural)
				out[endpointKey{g.Name, v.Name, r.Plural, ""}] = &Endpoint{
					resource: gvr, kind: gv.WithKind(r.Kind), listKind: gv.WithKind(r.ListKind),
					namespaced: r.Namespaced, verbs: sortedVerbs(r.Verbs), columns: cols,
				}
				for j := range r.Subresources {
					s := &r.Subresources[j]
					e := &Endpoint{
						resource: gvr, subresource: s.Name, kind: s.gvk(gv, r.Kind), listKind: gv.WithKind(r.ListKind),
						namespaced: r.Namespaced, verbs: sortedVerbs(s.Verbs), columns: cols,
					}
					if e.kind != gv.WithKind(r.Kind) {
						if e.columns, err = newColumns(nil); err != nil {
							return nil, err
						}
						e.listKind = e.kind.GroupVersion().WithKind(e.kind.Kind + "List")
					}
					out[endpointKey{g.Name, v.Name, r.Plural, s.Name}] = e
				}
			}
		}
	}
	return out, nil
}
