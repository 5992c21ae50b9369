package discovery

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// The media types of the operations, as for a CustomResource: JSON and YAML,
// and watch streams of JSON.
var (
	objectTypes = []string{"application/json", "application/yaml"}
	streamTypes = []string{"application/json", "application/yaml", "application/json;stream=watch"}
	patchTypes  = []string{"application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"}
)

// addPaths adds the operations a resource's verbs allow, with the paths,
// operation IDs and x-kubernetes-action values kube-apiserver gives them.
func (b *gvBuilder) addPaths(r *Resource) {
	b.kind = r.Kind
	gvk := b.gv.WithKind(r.Kind)
	obj := definitionRef(definitionName(gvk))
	list := definitionRef(definitionName(b.gv.WithKind(r.ListKind)))
	scope, base := "", b.prefix
	if r.Namespaced {
		scope, base = "Namespaced", b.prefix+"/namespaces/{namespace}"
	}
	id := b.idPrefix + scope + r.Kind
	coll := base + "/" + r.Plural
	item := coll + "/{name}"
	watchBase := b.prefix + "/watch" + strings.TrimPrefix(base, b.prefix)
	for _, verb := range r.Verbs {
		switch verb {
		case "list":
			b.add(coll, http.MethodGet, b.listOp("list"+id, "list", gvk, list, "list or watch objects of kind "+r.Kind))
			if r.Namespaced {
				b.add(b.prefix+"/"+r.Plural, http.MethodGet, b.listOp("list"+b.idPrefix+r.Kind+"ForAllNamespaces", "list", gvk, list, "list or watch objects of kind "+r.Kind))
			}
		case "watch":
			b.add(watchBase+"/"+r.Plural, http.MethodGet, b.listOp("watch"+id+"List", "watchlist", gvk, b.useMeta(watchEventName), "watch individual changes to a list of "+r.Kind+". deprecated: use the 'watch' parameter with a list operation instead."))
			b.add(watchBase+"/"+r.Plural+"/{name}", http.MethodGet, b.listOp("watch"+id, "watch", gvk, definitionRef(watchEventName), "watch changes to an object of kind "+r.Kind+". deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."))
			if r.Namespaced {
				b.add(b.prefix+"/watch/"+r.Plural, http.MethodGet, b.listOp("watch"+b.idPrefix+r.Kind+"ListForAllNamespaces", "watchlist", gvk, definitionRef(watchEventName), "watch individual changes to a list of "+r.Kind+". deprecated: use the 'watch' parameter with a list operation instead."))
			}
		case "deletecollection":
			b.add(coll, http.MethodDelete, b.deleteOp("deleteCollection"+id, "deletecollection", gvk, "delete collection of "+r.Kind))
		default:
			b.addObjectOp(coll, item, verb, id, gvk, obj)
		}
	}
	for i := range r.Subresources {
		s := &r.Subresources[i]
		sgvk := s.gvk(b.gv, r.Kind)
		for _, verb := range s.Verbs {
			b.addObjectOp("", item+"/"+s.Name, verb, id+camel(s.Name), sgvk, definitionRef(definitionName(sgvk)))
		}
	}
}

// addObjectOp adds the operation of one verb on an object: create on coll,
// get, update, patch and delete on item. Other verbs have no operation.
func (b *gvBuilder) addObjectOp(coll, item, verb, id string, gvk schema.GroupVersionKind, obj string) {
	what := gvk.Kind
	switch verb {
	case "create":
		path := coll
		if path == "" { // a subresource: POST on its own path
			path = item
		}
		b.add(path, http.MethodPost, b.writeOp("create"+id, "post", gvk, obj, obj, "create "+article(what), writeParams, 200, 201, 202))
	case "get":
		op := b.op("read"+id, "get", gvk, "read the specified "+what, objectTypes, nil)
		respond(op, 200, obj)
		b.add(item, http.MethodGet, op)
	case "update":
		b.add(item, http.MethodPut, b.writeOp("replace"+id, "put", gvk, obj, obj, "replace the specified "+what, writeParams, 200, 201))
	case "patch":
		op := b.writeOp("patch"+id, "patch", gvk, b.useMeta(patchName), obj, "partially update the specified "+what, patchParams, 200, 201)
		op.Consumes = patchTypes
		b.add(item, http.MethodPatch, op)
	case "delete":
		b.add(item, http.MethodDelete, b.deleteOp("delete"+id, "delete", gvk, "delete "+article(what)))
	}
}

// add sets the operation of a method on a path, with the path's parameters.
func (b *gvBuilder) add(path, method string, op *spec.Operation) {
	item := b.paths[path]
	switch method {
	case http.MethodGet:
		item.Get = op
	case http.MethodPost:
		item.Post = op
	case http.MethodPut:
		item.Put = op
	case http.MethodPatch:
		item.Patch = op
	case http.MethodDelete:
		item.Delete = op
	}
	item.Parameters = nil
	if strings.Contains(path, "{name}") {
		item.Parameters = append(item.Parameters, pathParam("name", "name of the "+b.kind))
	}
	if strings.Contains(path, "{namespace}") {
		item.Parameters = append(item.Parameters, pathParam("namespace", "object name and auth scope, such as for teams and projects"))
	}
	item.Parameters = append(item.Parameters, queryParam("pretty", "string", "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."))
	b.paths[path] = item
}

// op is an operation with kube-apiserver's extensions and a 401 response.
func (b *gvBuilder) op(id, action string, gvk schema.GroupVersionKind, description string, produces []string, params []spec.Parameter) *spec.Operation {
	op := &spec.Operation{OperationProps: spec.OperationProps{
		Description: description,
		Consumes:    []string{"*/*"},
		Produces:    produces,
		Schemes:     []string{"https"},
		Tags:        []string{b.tag},
		ID:          id,
		Parameters:  params,
		Responses: &spec.Responses{ResponsesProps: spec.ResponsesProps{StatusCodeResponses: map[int]spec.Response{
			401: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}},
		}}},
	}}
	op.AddExtension("x-kubernetes-action", action)
	op.AddExtension("x-kubernetes-group-version-kind", gvkExtension(gvk))
	return op
}

func (b *gvBuilder) listOp(id, action string, gvk schema.GroupVersionKind, ref, description string) *spec.Operation {
	op := b.op(id, action, gvk, description, streamTypes, listParams())
	respond(op, 200, ref)
	return op
}

// writeOp is an operation with a body, answered with the object.
func (b *gvBuilder) writeOp(id, action string, gvk schema.GroupVersionKind, body, obj, description string, params func() []spec.Parameter, codes ...int) *spec.Operation {
	op := b.op(id, action, gvk, description, objectTypes, append([]spec.Parameter{bodyParam(body, true)}, params()...))
	for _, code := range codes {
		respond(op, code, obj)
	}
	return op
}

func (b *gvBuilder) deleteOp(id, action string, gvk schema.GroupVersionKind, description string) *spec.Operation {
	params := append([]spec.Parameter{bodyParam(b.useMeta(deleteOptionsName), false)}, deleteParams()...)
	if action == "deletecollection" {
		params = append(params, listParams()...)
	}
	op := b.op(id, action, gvk, description, objectTypes, params)
	status := b.useMeta(statusName)
	respond(op, 200, status)
	if action == "delete" {
		respond(op, 202, status)
	}
	return op
}

// respond adds a response with the schema ref to op.
func respond(op *spec.Operation, code int, ref string) {
	r := okResponse(ref)
	switch code {
	case 201:
		r = createdResponse(ref)
	case 202:
		r.Description = "Accepted"
	}
	op.Responses.StatusCodeResponses[code] = r
}

func okResponse(ref string) spec.Response {
	return spec.Response{ResponseProps: spec.ResponseProps{Description: "OK", Schema: spec.RefSchema(ref)}}
}

func createdResponse(ref string) spec.Response {
	return spec.Response{ResponseProps: spec.ResponseProps{Description: "Created", Schema: spec.RefSchema(ref)}}
}

// article is "a Widget" or "an Item".
func article(kind string) string {
	if kind != "" && strings.ContainsRune("AEIOU", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}
