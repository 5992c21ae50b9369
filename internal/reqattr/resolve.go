package reqattr

import (
	"fmt"
	"net/http"
	"strings"

	"k8s.io/apiserver/pkg/endpoints/request"
)

// inlineParts is how many path segments a resolved request keeps without an
// extra allocation; longer paths fall back to strings.Split.
const inlineParts = 8

// requestInfoBuf is a RequestInfo with room for its Parts, so that resolving a
// request costs one allocation.
type requestInfoBuf struct {
	info  request.RequestInfo
	parts [inlineParts]string
}

// NewRequestInfo resolves req into a RequestInfo with exactly the rules of
// k8s.io/apiserver's RequestInfoFactory as kube-apiserver and extension servers
// configure it (API prefixes "api" and "apis", "api" without a group): verbs from
// the method or the /watch/ and /proxy/ path prefixes, list and watch for
// collection GETs, deletecollection, subresources, the namespaces/{ns} rule, the
// name taken from a fieldSelector=metadata.name=X, and the raw field and label
// selectors of list, watch and deletecollection requests.
//
// It reads the query once, without building a url.Values, and parses selectors
// only where the result depends on them. Like Kubernetes, it returns an error
// (and the RequestInfo as far as it got) for a path that ends in a special verb,
// such as /api/v1/watch.
func NewRequestInfo(req *http.Request) (*request.RequestInfo, error) {
	b := new(requestInfoBuf)
	err := resolveRequestInfo(&b.info, &b.parts, req)
	return &b.info, err
}

// resolveRequestInfo fills info from req; parts is storage for info.Parts.
// It mirrors RequestInfoFactory.NewRequestInfo step by step.
func resolveRequestInfo(info *request.RequestInfo, parts *[inlineParts]string, req *http.Request) error {
	*info = request.RequestInfo{Path: req.URL.Path, Verb: lowerMethod(req.Method)}

	cur := splitPath(req.URL.Path, parts)
	if len(cur) < 3 || (cur[0] != "api" && cur[0] != "apis") {
		return nil // a non-resource request
	}
	info.APIPrefix = cur[0]
	cur = cur[1:]
	if info.APIPrefix != "api" { // "api" is the only groupless prefix
		if len(cur) < 3 {
			return nil // /apis/{group}/{version} is discovery, a non-resource request
		}
		info.APIGroup = cur[0]
		cur = cur[1:]
	}
	info.IsResourceRequest = true
	info.APIVersion = cur[0]
	cur = cur[1:]

	verbViaPathPrefix := false
	if cur[0] == "proxy" || cur[0] == "watch" {
		if len(cur) < 2 {
			return fmt.Errorf("unable to determine kind and namespace from url, %v", req.URL)
		}
		info.Verb = cur[0]
		cur = cur[1:]
		verbViaPathPrefix = true
	} else {
		info.Verb = methodVerb(req.Method)
	}

	if cur[0] == "namespaces" {
		if len(cur) > 1 {
			info.Namespace = cur[1]
			if len(cur) > 2 && cur[2] != "status" && cur[2] != "finalize" {
				cur = cur[2:]
			}
		}
	}
	info.Parts = cur

	switch {
	case len(cur) >= 3 && info.Verb != "proxy":
		info.Subresource = cur[2]
		fallthrough
	case len(cur) >= 2:
		info.Name = cur[1]
		fallthrough
	case len(cur) >= 1:
		info.Resource = cur[0]
	}

	resolveCollection(info, req.URL.RawQuery, verbViaPathPrefix)
	return nil
}

// resolveCollection applies Kubernetes' rules for requests without a name: a
// GET is a list or a watch (and may be named by a metadata.name field
// selector), a DELETE is a deletecollection; list, watch and deletecollection
// keep their raw selectors unless the verb came from a /watch/ path prefix.
func resolveCollection(info *request.RequestInfo, rawQuery string, verbViaPathPrefix bool) {
	var q listQuery
	scanned := false
	if info.Name == "" && info.Verb == "get" {
		q, scanned = scanListQuery(rawQuery), true
		info.Verb, info.Name = q.listVerbAndName()
	}
	if info.Name == "" && info.Verb == "delete" {
		info.Verb = "deletecollection"
	}
	if !verbViaPathPrefix && (info.Verb == "list" || info.Verb == "watch" || info.Verb == "deletecollection") {
		if !scanned {
			q = scanListQuery(rawQuery)
		}
		info.FieldSelector = q.fieldSelector.value
		info.LabelSelector = q.labelSelector.value
	}
}

// splitPath is Kubernetes' splitPath (trim slashes, split on "/"), using buf
// when the path has at most inlineParts segments.
func splitPath(path string, buf *[inlineParts]string) []string {
	path = strings.Trim(path, "/")
	if path == "" {
		return buf[:0]
	}
	if strings.Count(path, "/") >= inlineParts {
		return strings.Split(path, "/")
	}
	n := 0
	for {
		i := strings.IndexByte(path, '/')
		if i < 0 {
			buf[n] = path
			return buf[:n+1]
		}
		buf[n] = path[:i]
		path = path[i+1:]
		n++
	}
}

// lowerMethod is strings.ToLower(method) without an allocation for the usual methods.
func lowerMethod(m string) string {
	switch m {
	case http.MethodGet:
		return "get"
	case http.MethodPost:
		return "post"
	case http.MethodPut:
		return "put"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	case http.MethodHead:
		return "head"
	case http.MethodOptions:
		return "options"
	}
	return strings.ToLower(m)
}

// methodVerb is the Kubernetes verb of a method on a resource path.
func methodVerb(m string) string {
	switch m {
	case http.MethodPost:
		return "create"
	case http.MethodGet, http.MethodHead:
		return "get"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	return ""
}
