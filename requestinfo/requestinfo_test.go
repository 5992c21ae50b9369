package requestinfo_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/klog/v2"

	"github.com/aggauth/aggauth/requestinfo"
)

func init() {
	// Kubernetes' resolver logs every query it cannot decode; the corpus has many.
	klog.SetLogger(logr.Discard())
}

// kubeResolver is kube-apiserver's resolver, configured as for every apiserver.
var kubeResolver = &request.RequestInfoFactory{
	APIPrefixes:          sets.NewString("api", "apis"),
	GrouplessAPIPrefixes: sets.NewString("api"),
}

func newRequest(method, path, rawQuery string) *http.Request {
	return &http.Request{Method: method, URL: &url.URL{Path: path, RawQuery: rawQuery}, Header: http.Header{}}
}

func TestNewRequestInfo(t *testing.T) {
	tests := []struct {
		name, method, path, query string
		want                      request.RequestInfo
		wantErr                   bool
	}{
		{name: "namespaced list with selector", method: "GET", path: "/api/v1/namespaces/ns/pods", query: "labelSelector=app%3Dweb",
			want: request.RequestInfo{IsResourceRequest: true, Path: "/api/v1/namespaces/ns/pods", Verb: "list", APIPrefix: "api",
				APIVersion: "v1", Namespace: "ns", Resource: "pods", Parts: []string{"pods"}, LabelSelector: "app=web"}},
		{name: "group create", method: "POST", path: "/apis/apps/v1/namespaces/ns/deployments",
			want: request.RequestInfo{IsResourceRequest: true, Path: "/apis/apps/v1/namespaces/ns/deployments", Verb: "create", APIPrefix: "apis",
				APIGroup: "apps", APIVersion: "v1", Namespace: "ns", Resource: "deployments", Parts: []string{"deployments"}}},
		{name: "namespace is its own namespace", method: "GET", path: "/api/v1/namespaces/foo",
			want: request.RequestInfo{IsResourceRequest: true, Path: "/api/v1/namespaces/foo", Verb: "get", APIPrefix: "api",
				APIVersion: "v1", Namespace: "foo", Resource: "namespaces", Name: "foo", Parts: []string{"namespaces", "foo"}}},
		{name: "namespace subresource", method: "PUT", path: "/api/v1/namespaces/foo/finalize",
			want: request.RequestInfo{IsResourceRequest: true, Path: "/api/v1/namespaces/foo/finalize", Verb: "update", APIPrefix: "api",
				APIVersion: "v1", Namespace: "foo", Resource: "namespaces", Name: "foo", Subresource: "finalize",
				Parts: []string{"namespaces", "foo", "finalize"}}},
		{name: "watch via query", method: "GET", path: "/api/v1/pods", query: "watch=1&fieldSelector=spec.nodeName%3Dn1",
			want: request.RequestInfo{IsResourceRequest: true, Path: "/api/v1/pods", Verb: "watch", APIPrefix: "api",
				APIVersion: "v1", Resource: "pods", Parts: []string{"pods"}, FieldSelector: "spec.nodeName=n1"}},
		{name: "list named by field selector", method: "GET", path: "/api/v1/namespaces/ns/pods", query: "fieldSelector=metadata.name%3Dp1",
			want: request.RequestInfo{IsResourceRequest: true, Path: "/api/v1/namespaces/ns/pods", Verb: "list", APIPrefix: "api",
				APIVersion: "v1", Namespace: "ns", Resource: "pods", Name: "p1", Parts: []string{"pods"}, FieldSelector: "metadata.name=p1"}},
		{name: "bad label selector drops the name", method: "GET", path: "/api/v1/pods", query: "fieldSelector=metadata.name%3Dp1&labelSelector=%21%21",
			want: request.RequestInfo{IsResourceRequest: true, Path: "/api/v1/pods", Verb: "list", APIPrefix: "api",
				APIVersion: "v1", Resource: "pods", Parts: []string{"pods"}, FieldSelector: "metadata.name=p1", LabelSelector: "!!"}},
		{name: "deletecollection", method: "DELETE", path: "/apis/g.io/v1/widgets", query: "labelSelector=a",
			want: request.RequestInfo{IsResourceRequest: true, Path: "/apis/g.io/v1/widgets", Verb: "deletecollection", APIPrefix: "apis",
				APIGroup: "g.io", APIVersion: "v1", Resource: "widgets", Parts: []string{"widgets"}, LabelSelector: "a"}},
		{name: "watch path prefix keeps no selectors", method: "GET", path: "/api/v1/watch/namespaces/ns/pods", query: "labelSelector=a",
			want: request.RequestInfo{IsResourceRequest: true, Path: "/api/v1/watch/namespaces/ns/pods", Verb: "watch", APIPrefix: "api",
				APIVersion: "v1", Namespace: "ns", Resource: "pods", Parts: []string{"pods"}}},
		{name: "proxy has no subresource", method: "GET", path: "/api/v1/proxy/namespaces/ns/pods/p/a/b",
			want: request.RequestInfo{IsResourceRequest: true, Path: "/api/v1/proxy/namespaces/ns/pods/p/a/b", Verb: "proxy", APIPrefix: "api",
				APIVersion: "v1", Namespace: "ns", Resource: "pods", Name: "p", Parts: []string{"pods", "p", "a", "b"}}},
		{name: "discovery is non-resource", method: "GET", path: "/apis/g.io/v1",
			want: request.RequestInfo{Path: "/apis/g.io/v1", Verb: "get", APIPrefix: "apis"}},
		{name: "head on non-resource", method: "HEAD", path: "/healthz",
			want: request.RequestInfo{Path: "/healthz", Verb: "head"}},
		{name: "special verb without target", method: "GET", path: "/api/v1/watch", wantErr: true,
			want: request.RequestInfo{IsResourceRequest: true, Path: "/api/v1/watch", Verb: "get", APIPrefix: "api", APIVersion: "v1"}},
		{name: "long path", method: "GET", path: "/apis/g/v1/namespaces/ns/r/n/s/a/b/c/d/e",
			want: request.RequestInfo{IsResourceRequest: true, Path: "/apis/g/v1/namespaces/ns/r/n/s/a/b/c/d/e", Verb: "get", APIPrefix: "apis",
				APIGroup: "g", APIVersion: "v1", Namespace: "ns", Resource: "r", Name: "n", Subresource: "s",
				Parts: []string{"r", "n", "s", "a", "b", "c", "d", "e"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(tt.method, tt.path, tt.query)
			got, err := requestinfo.New(req)
			if tt.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.want, *got)
			assertSameAsKubernetes(t, req)
		})
	}
}

// assertSameAsKubernetes resolves req with both resolvers and compares the
// RequestInfo, the error and the authorizer attributes, selectors included.
func assertSameAsKubernetes(t testing.TB, req *http.Request) {
	t.Helper()
	want, wantErr := kubeResolver.NewRequestInfo(req)
	got, gotErr := requestinfo.New(req)
	desc := req.Method + " " + req.URL.Path + " ? " + req.URL.RawQuery
	if wantErr != nil {
		require.Error(t, gotErr, desc)
		require.Equal(t, wantErr.Error(), gotErr.Error(), desc)
	} else {
		require.NoError(t, gotErr, desc)
	}
	require.Equal(t, *want, *got, desc)

	u := &user.DefaultInfo{Name: "alice"}
	ctx := request.WithRequestInfo(request.WithUser(context.Background(), u), want)
	wantAttrs, err := filters.GetAuthorizerAttributes(ctx)
	require.NoError(t, err)
	gotAttrs, _ := requestinfo.NewAttributes(req, u)
	assertSameAttributes(t, wantAttrs, gotAttrs, desc)
	assertSameAttributes(t, wantAttrs, requestinfo.AttributesFor(u, want), desc)
}

func assertSameAttributes(t testing.TB, want, got authorizer.Attributes, desc string) {
	t.Helper()
	require.Equal(t, want.GetUser(), got.GetUser(), desc)
	require.Equal(t, want.GetVerb(), got.GetVerb(), desc)
	require.Equal(t, want.IsReadOnly(), got.IsReadOnly(), desc)
	require.Equal(t, want.GetNamespace(), got.GetNamespace(), desc)
	require.Equal(t, want.GetResource(), got.GetResource(), desc)
	require.Equal(t, want.GetSubresource(), got.GetSubresource(), desc)
	require.Equal(t, want.GetName(), got.GetName(), desc)
	require.Equal(t, want.GetAPIGroup(), got.GetAPIGroup(), desc)
	require.Equal(t, want.GetAPIVersion(), got.GetAPIVersion(), desc)
	require.Equal(t, want.IsResourceRequest(), got.IsResourceRequest(), desc)
	require.Equal(t, want.GetPath(), got.GetPath(), desc)
	wf, wfErr := want.GetFieldSelector()
	gf, gfErr := got.GetFieldSelector()
	require.Equal(t, wf, gf, desc)
	require.Equal(t, errString(wfErr), errString(gfErr), desc)
	wl, wlErr := want.GetLabelSelector()
	gl, glErr := got.GetLabelSelector()
	require.Equal(t, wl, gl, desc)
	require.Equal(t, errString(wlErr), errString(glErr), desc)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Pools the corpus draws from; many entries are hostile on purpose.
var (
	corpusMethods  = []string{"GET", "GET", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "DELETE", "OPTIONS", "CONNECT", "get", "", "PROPFIND"}
	corpusSegments = []string{"", "api", "apis", "v1", "v1beta1", "apps", "g.example.com", "namespaces", "namespaces", "ns1",
		"default", "pods", "deployments", "status", "finalize", "proxy", "watch", "log", "scale", "..", ".", "%2F", "%",
		"a b", "name", "Watch", "API", "x", "*", "?", "ünï", "namespace"}
	corpusParams = []string{"watch=true", "watch=1", "watch=0", "watch=false", "watch=FALSE", "watch=fal%C5%BFe", "watch=",
		"watch", "wat%63h=true", "w%61tch=0", "watch=%zz", "watch=yes&watch=0", "%zz=1",
		"labelSelector=app%3Dweb", "labelSelector=a+in+(b,c)", "labelSelector=a%20notin%20(b),!c,d", "labelSelector=%21%21",
		"labelSelector=%zz", "labelSelector=", "labelSelector=a%3E1", "labelSelector=x&labelSelector=y", "label%53elector=k",
		"fieldSelector=metadata.name%3Dfoo", "fieldSelector=metadata.name%3D%3Dfoo,spec.x!%3Dy", "fieldSelector=metadata.name%3D..",
		"fieldSelector=metadata.name%3Da%2Fb", "fieldSelector=metadata.name%3Da%25b", "fieldSelector=bad", "fieldSelector=",
		"fieldSelector=metadata.name!%3Dfoo", "fieldSelector=spec.nodeName%3Dn,metadata.name%3Dbar",
		"fieldSelector=metadata.name%3Dbar&fieldSelector=metadata.name%3Dbaz", "fieldSelector=%zz&fieldSelector=metadata.name%3Dq",
		"fieldSelector=metadata%5C.name%3Dz", "fieldSelector=metadata.name%3D", "fieldSelector=metadata.name%3Da%5C,b",
		"limit=10", "limit=x", "limit=", "limit=99999999999999999999", "timeoutSeconds=5", "timeoutSeconds=-x",
		"resourceVersion=1", "resourceVersionMatch=NotOlderThan", "allowWatchBookmarks=true", "sendInitialEvents=x",
		"a;b=c", "watch=1;x", "&&", "=x", "&", "x=%", "+=+", "continue=abc"}
)

func corpusPath(r *rand.Rand) string {
	var parts []string
	switch r.IntN(3) {
	case 0: // anything
		for n := r.IntN(11); n > 0; n-- {
			parts = append(parts, corpusSegments[r.IntN(len(corpusSegments))])
		}
	case 1: // core group shaped
		parts = append(parts, "api", "v1")
		for n := r.IntN(7); n > 0; n-- {
			parts = append(parts, corpusSegments[r.IntN(len(corpusSegments))])
		}
	default: // named group shaped
		parts = append(parts, "apis", "g.example.com", "v1")
		for n := r.IntN(8); n > 0; n-- {
			parts = append(parts, corpusSegments[r.IntN(len(corpusSegments))])
		}
	}
	p := strings.Join(parts, "/")
	switch r.IntN(6) {
	case 0:
		return p
	case 1:
		return "/" + p + "/"
	case 2:
		return "//" + p
	default:
		return "/" + p
	}
}

func corpusQuery(r *rand.Rand) string {
	var params []string
	for n := r.IntN(5); n > 0; n-- {
		params = append(params, corpusParams[r.IntN(len(corpusParams))])
	}
	q := strings.Join(params, "&")
	switch r.IntN(200) {
	case 0: // past the in-place scanner: url.ParseQuery decides
		q = strings.Repeat("x=1&", 70) + q
	case 1: // past url.ParseQuery's limit on the number of parameters
		q = q + strings.Repeat("&x=1", 10001)
	}
	return q
}

// TestNewRequestInfoMatchesKubernetes is the differential test: tens of
// thousands of generated requests, resolved by both resolvers.
func TestNewRequestInfoMatchesKubernetes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 30000
	if testing.Short() {
		n = 5000
	}
	for i := 0; i < n; i++ {
		req := newRequest(corpusMethods[r.IntN(len(corpusMethods))], corpusPath(r), corpusQuery(r))
		assertSameAsKubernetes(t, req)
	}
}

func FuzzNewRequestInfo(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200; i++ {
		f.Add(corpusMethods[r.IntN(len(corpusMethods))], corpusPath(r), corpusQuery(r))
	}
	f.Fuzz(func(t *testing.T, method, path, rawQuery string) {
		assertSameAsKubernetes(t, newRequest(method, path, rawQuery))
	})
}
