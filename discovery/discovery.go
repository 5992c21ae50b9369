package discovery

import (
	"fmt"
	"net/http"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/internal/negotiation"
)

// Discovery serves the discovery and OpenAPI documents of the declared API.
// Every document is built and encoded once, by New; a Discovery is immutable
// and safe for concurrent use.
type Discovery struct {
	media      *media
	apis       *document            // GET /apis
	aggregated *document            // GET /apis, aggregated discovery
	groups     map[string]*document // GET /apis/<group>
	versions   map[string]*document // GET /apis/<group>/<version>
	openapi    *openAPI
	endpoints  map[endpointKey]*Endpoint
}

// aggregatedGVK is the only aggregated discovery kube-apiserver v1.37 serves:
// apidiscovery.k8s.io/v2beta1 is gone (feature gate
// AggregatedDiscoveryRemoveBetaType, locked on since v1.35).
var aggregatedGVK = apidiscoveryv2.SchemeGroupVersion.WithKind("APIGroupDiscoveryList")

// New checks the declared groups and builds every document. The groups are
// listed in the order given, which is their priority order; the declaration
// is copied, so later changes to it change nothing.
func New(groups ...Group) (*Discovery, error) {
	declared := make([]Group, len(groups))
	for i, g := range groups {
		declared[i] = g.withDefaults()
	}
	if errs := validateGroups(declared); len(errs) > 0 {
		return nil, fmt.Errorf("discovery: %w", errs.ToAggregate())
	}
	d, err := build(declared)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	return d, nil
}

func build(groups []Group) (*Discovery, error) {
	m, err := newMedia()
	if err != nil {
		return nil, err
	}
	d := &Discovery{media: m, groups: map[string]*document{}, versions: map[string]*document{}}
	apis := apiGroupList(groups)
	if d.apis, err = m.newDocument(apis, apis); err != nil {
		return nil, err
	}
	list := aggregatedList(groups)
	if d.aggregated, err = m.newDocument(list, apidiscoveryv2.APIGroupDiscoveryList{Items: list.Items}); err != nil {
		return nil, err
	}
	d.aggregated.gvk = &aggregatedGVK
	for i := range groups {
		g := &groups[i]
		group := apiGroup(g)
		if d.groups[g.Name], err = m.newDocument(group, group); err != nil {
			return nil, err
		}
		for j := range g.Versions {
			v := &g.Versions[j]
			list := apiResourceList(g, v)
			doc, err := m.newDocument(list, list)
			if err != nil {
				return nil, err
			}
			d.versions[g.Name+"/"+v.Name] = doc
		}
	}
	if d.openapi, err = newOpenAPI(groups); err != nil {
		return nil, err
	}
	if d.endpoints, err = buildEndpoints(groups); err != nil {
		return nil, err
	}
	return d, nil
}

// Handler answers the discovery and OpenAPI paths and passes every other
// request to next (nil: a 404 Status):
//
//   - /apis: the APIGroupList, or the aggregated discovery
//     APIGroupDiscoveryList (apidiscovery.k8s.io/v2) when Accept asks for it;
//   - /apis/<group> and /apis/<group>/<version>: the APIGroup and the
//     APIResourceList, and a 404 Status for an undeclared group or version;
//   - /openapi/v2, /openapi/v3 and /openapi/v3/apis/<group>/<version>.
//
// These paths answer GET and HEAD, and other methods with a 405 Status. Put
// the handler after authentication and authorization: Kubernetes authorizes
// them as non-resource URLs (see the package documentation).
//
// A resource request (request.RequestInfoFrom) for a declared endpoint whose
// verb is not declared gets a 405 MethodNotSupported Status, as
// kube-apiserver answers for a CustomResourceDefinition; a declared one goes
// to next with its Endpoint in the context (EndpointFrom). Other requests go
// to next unchanged: undeclared resources and subresources, a scope that
// does not match (a namespace on a cluster-scoped resource, or none on a
// namespaced one except to list and watch across namespaces), and requests
// without a RequestInfo in their context.
func (d *Discovery) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.serve(w, r) {
			return
		}
		if info, e := d.endpointOf(r); e != nil {
			if !e.Allows(info.Verb) {
				d.media.writeStatus(w, r, methodNotSupported(info))
				return
			}
			r = r.WithContext(WithEndpoint(r.Context(), e))
		}
		if next == nil {
			d.media.writeStatus(w, r, notFound())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// endpointOf finds the declared endpoint of a resource request, as
// kube-apiserver's CustomResourceDefinition handler finds a served one.
func (d *Discovery) endpointOf(r *http.Request) (*request.RequestInfo, *Endpoint) {
	info, ok := request.RequestInfoFrom(r.Context())
	if !ok || info == nil || !info.IsResourceRequest {
		return nil, nil
	}
	e := d.endpoints[endpointKey{info.APIGroup, info.APIVersion, info.Resource, info.Subresource}]
	switch {
	case e == nil:
		return nil, nil
	case !e.namespaced && info.Namespace != "":
		return nil, nil
	case e.namespaced && info.Namespace == "" && info.Verb != "list" && info.Verb != "watch":
		return nil, nil
	}
	return info, e
}

// serve answers r if its path is one of ours.
func (d *Discovery) serve(w http.ResponseWriter, r *http.Request) bool {
	path := r.URL.Path
	var answer func(http.ResponseWriter, *http.Request)
	switch {
	case path == "/apis" || path == "/apis/":
		answer = d.serveAPIs
	case strings.HasPrefix(path, "/apis/"):
		doc, ok := d.lookup(strings.TrimSuffix(path[len("/apis/"):], "/"))
		if !ok {
			return false
		}
		answer = func(w http.ResponseWriter, r *http.Request) { d.serveDocument(w, r, doc) }
	case path == "/openapi/v2":
		answer = d.serveOpenAPIV2
	case path == "/openapi/v3" || path == "/openapi/v3/":
		answer = d.serveOpenAPIV3Index
	case strings.HasPrefix(path, "/openapi/v3/"):
		answer = d.serveOpenAPIV3
	default:
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		d.media.writeStatus(w, r, methodNotAllowed())
		return true
	}
	answer(w, r)
	return true
}

// lookup finds the document of "<group>" or "<group>/<version>": nil (a 404)
// for an undeclared one, and ok false for a longer path, which is not
// discovery.
func (d *Discovery) lookup(groupVersion string) (doc *document, ok bool) {
	switch strings.Count(groupVersion, "/") {
	case 0:
		return d.groups[groupVersion], true
	case 1:
		return d.versions[groupVersion], true
	}
	return nil, false
}

func (d *Discovery) serveDocument(w http.ResponseWriter, r *http.Request, doc *document) {
	if doc == nil {
		d.media.writeStatus(w, r, notFound())
		return
	}
	d.media.serve(w, r, doc, negotiation.Default{}, noCache)
}

// serveAPIs answers GET /apis as kube-apiserver's
// aggregated.WrappedHandler: the aggregated document when an Accept clause
// asks for it and no clause before it is served, else the APIGroupList.
func (d *Discovery) serveAPIs(w http.ResponseWriter, r *http.Request) {
	// An empty Accept header negotiates JSON without checking restrictions.
	if opts, _, _, ok := d.media.negotiate(r, aggregatedRestrictions{}); ok && opts.Convert != nil {
		// aggregated.ServeHTTPWithETag sets Cache-Control: public.
		d.media.serve(w, r, d.aggregated, aggregatedRestrictions{}, "public")
		return
	}
	d.media.serve(w, r, d.apis, negotiation.Default{}, noCache)
}

// aggregatedRestrictions is aggregated.DiscoveryEndpointRestrictions: only
// the conversion to the aggregated discovery list is allowed.
type aggregatedRestrictions struct{}

func (aggregatedRestrictions) AllowsMediaTypeTransform(_, _ string, gvk *schema.GroupVersionKind) bool {
	return gvk != nil && *gvk == aggregatedGVK
}
func (aggregatedRestrictions) AllowsServerVersion(string) bool  { return false }
func (aggregatedRestrictions) AllowsStreamSchema(s string) bool { return s == "watch" }
