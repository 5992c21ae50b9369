package serving

import (
	"net/http"
	"net/url"
	"strings"

	"k8s.io/apiserver/pkg/endpoints/request"
)

// The verbs of the request metrics: Kubernetes' valid request methods
// (validRequestMethods) as its cleanVerb reports them, and "other" for any
// other method. WATCHLIST is reported as WATCH, HEAD as GET or LIST.
var metricVerbs = [...]string{"APPLY", "CONNECT", "CREATE", "DELETE", "DELETECOLLECTION", "GET", "LIST", "PATCH",
	"POST", "PROXY", "PUT", "UPDATE", "WATCH", "other"}

const (
	vApply = iota
	vConnect
	vCreate
	vDelete
	vDeleteCollection
	vGet
	vList
	vPatch
	vPost
	vProxy
	vPut
	vUpdate
	vWatch
	vOther
	// Methods that are not reported as themselves.
	vHead
	vWatchList
)

// methodVerb returns the index of the method upper-cased, as Kubernetes
// upper-cases it (strings.ToUpper), among metricVerbs, vHead or vWatchList;
// vOther for any other method. It does not allocate.
func methodVerb(method string) int {
	switch method { // the usual spellings first
	case http.MethodGet:
		return vGet
	case http.MethodPost:
		return vPost
	case http.MethodPut:
		return vPut
	case http.MethodPatch:
		return vPatch
	case http.MethodDelete:
		return vDelete
	case http.MethodHead:
		return vHead
	}
	for i, v := range metricVerbs[:vOther] {
		if equalUpper(method, v) {
			return i
		}
	}
	switch {
	case equalUpper(method, "HEAD"):
		return vHead
	case equalUpper(method, "WATCHLIST"):
		return vWatchList
	}
	return vOther
}

// equalUpper reports whether strings.ToUpper(s) == upper, for an ASCII upper.
func equalUpper(s, upper string) bool {
	if len(s) != len(upper) {
		return strings.ToUpper(s) == upper // a multi-byte rune may upper-case to ASCII (ſ to S)
	}
	for i := range len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return strings.ToUpper(s) == upper
		}
	}
	return true
}

// applyPatchType is types.ApplyPatchType: a PATCH with this Content-Type
// (exactly) is reported as APPLY.
const applyPatchType = "application/apply-patch+yaml"

// cleanVerb is Kubernetes' verb label of the request metrics (metrics.go
// cleanVerb(CanonicalVerb(strings.ToUpper(method), scope), suggested, req,
// info)), with the verb the API installer suggests for a watch (WATCH) taken
// from the RequestInfo. It also reports whether Kubernetes records the
// response's size: for the installer's GET and LIST routes only (a list
// that watches included, the /watch/ paths and connect subresources not).
func cleanVerb(r *http.Request, info *request.RequestInfo, scope string) (verb int, sized bool) {
	method := methodVerb(r.Method)
	verb = method
	if method == vGet || method == vHead { // CanonicalVerb
		verb = vGet
		if scope != "resource" && scope != "" {
			verb = vList
		}
	}
	watchQuery := (method == vGet || method == vList) && watchRequested(r.URL.RawQuery)
	connect := info.IsResourceRequest && connectSubresource(info.Subresource)
	// The installer's watch routes (GET .../watch/...) suggest WATCH.
	legacyWatch := info.IsResourceRequest && info.Verb == "watch" && watchPath(info)
	sized = (verb == vGet || verb == vList) && !legacyWatch && !connect
	switch {
	case legacyWatch:
		return vWatch, false
	case watchQuery || method == vWatchList:
		verb = vWatch
	case method == vPatch && r.Header.Get("Content-Type") == applyPatchType:
		verb = vApply
	}
	if connect {
		verb = vConnect
	}
	return verb, sized
}

// watchPath reports whether the request's path is one of the deprecated
// watch paths: /apis/<group>/<version>/watch/... or /api/<version>/watch/...
func watchPath(info *request.RequestInfo) bool {
	p, ok := strings.CutPrefix(info.Path, "/apis/")
	if ok {
		if p, ok = strings.CutPrefix(p, info.APIGroup); !ok || !strings.HasPrefix(p, "/") {
			return false
		}
		p = p[1:]
	} else if p, ok = strings.CutPrefix(info.Path, "/api/"); !ok {
		return false
	}
	if p, ok = strings.CutPrefix(p, info.APIVersion); !ok {
		return false
	}
	return strings.HasPrefix(p, "/watch/") || p == "/watch"
}

// connectSubresource reports whether Kubernetes reports requests for
// subresource as CONNECT (validConnectRequests).
func connectSubresource(subresource string) bool {
	switch subresource {
	case "log", "exec", "portforward", "attach", "proxy":
		return true
	}
	return false
}

// watchRequested is Kubernetes' getVerbIfWatch on the query: the first
// value of the parameter watch, when present, is neither "0" nor "false" (in
// any case). It reads the query in place unless a key is escaped.
func watchRequested(raw string) bool {
	if !strings.Contains(raw, "watch") && !strings.ContainsAny(raw, "%+") {
		return false
	}
	if strings.Count(raw, "&") >= maxScannedParams {
		return watchValue(url.ParseQuery(raw))
	}
	for rest := raw; rest != ""; {
		var seg string
		seg, rest, _ = strings.Cut(rest, "&")
		if seg == "" || strings.IndexByte(seg, ';') >= 0 {
			continue // url.ParseQuery skips it
		}
		k, v, _ := strings.Cut(seg, "=")
		if strings.ContainsAny(k, "%+") {
			return watchValue(url.ParseQuery(raw)) // an escaped key: as Kubernetes reads it
		}
		if k != "watch" {
			continue
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			continue // skipped by url.ParseQuery
		}
		return truthy(value)
	}
	return false
}

// maxScannedParams is the number of query parameters up to which
// watchRequested reads a query in place; longer ones go through
// url.ParseQuery, whose own limits then apply as in Kubernetes.
const maxScannedParams = 64

func watchValue(q url.Values, _ error) bool {
	if vs := q["watch"]; len(vs) > 0 {
		return truthy(vs[0])
	}
	return false
}

func truthy(v string) bool {
	v = strings.ToLower(v)
	return v != "0" && v != "false"
}

// The dry_run label's values (Kubernetes' cleanDryRun): none, "All", or
// "invalid" for any value but All.
var dryRunValues = [...]string{"", "All", "invalid"}

// cleanDryRun returns the index of the request's dry_run label.
func cleanDryRun(u *url.URL) int {
	if !strings.Contains(u.RawQuery, "dryRun") {
		return 0
	}
	values := u.Query()["dryRun"]
	for _, v := range values {
		if v != "All" {
			return 2
		}
	}
	if len(values) == 0 {
		return 0
	}
	return 1
}

// The scope label's values (Kubernetes' CleanScope).
var scopeValues = [...]string{"", "cluster", "namespace", "resource"}

// cleanScope returns the index of the request's scope label.
func cleanScope(info *request.RequestInfo) int {
	switch {
	case info.Name != "" || info.Verb == "create":
		return 3
	case info.Namespace != "":
		return 2
	case info.IsResourceRequest:
		return 1
	}
	return 0
}
