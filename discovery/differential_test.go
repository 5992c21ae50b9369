package discovery_test

import (
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apiserver/pkg/endpoints"
	kdiscovery "k8s.io/apiserver/pkg/endpoints/discovery"
	"k8s.io/apiserver/pkg/endpoints/discovery/aggregated"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	"k8s.io/client-go/discovery"

	aggdiscovery "github.com/aggauth/aggauth/discovery"
)

// k8sCase is a declaration and the equivalent installed API as
// k8s.io/apiserver's GenericAPIServer.InstallAPIGroups registers it with its
// discovery handlers: the APIGroups, the APIResources APIInstaller.Install
// returns for each version (sorted by name, verbs sorted, singularName on
// resources only, the GroupVersionKindProvider's group and version on a
// scale subresource) and, when the aggregator's APIService priorities are
// in play, the priorities.
type k8sCase struct {
	name       string
	groups     func(testing.TB) []aggdiscovery.Group
	apiGroups  []metav1.APIGroup
	resources  map[string][]metav1.APIResource // by group/version
	priorities map[metav1.GroupVersion][2]int  // group, version priority; nil: GenericAPIServer's defaults
}

func k8sGroup(name string, versions ...string) metav1.APIGroup {
	g := metav1.APIGroup{Name: name}
	for _, v := range versions {
		g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: name + "/" + v, Version: v})
	}
	g.PreferredVersion = g.Versions[0]
	return g
}

func things(namespaced bool) []metav1.APIResource {
	return []metav1.APIResource{{Name: "things", SingularName: "thing", Namespaced: namespaced, Kind: "Thing", Verbs: metav1.Verbs{"get", "list"}}}
}

func thingsGroup(name string, versions ...string) aggdiscovery.Group {
	g := aggdiscovery.Group{Name: name}
	for _, v := range versions {
		g.Versions = append(g.Versions, aggdiscovery.Version{Name: v, Resources: []aggdiscovery.Resource{
			{Plural: "things", Kind: "Thing", Namespaced: true, Verbs: metav1.Verbs{"list", "get"}},
		}})
	}
	return g
}

var k8sCases = []k8sCase{
	{
		name:      "demo widgets with status",
		groups:    func(t testing.TB) []aggdiscovery.Group { return []aggdiscovery.Group{demoGroup(t)} },
		apiGroups: []metav1.APIGroup{k8sGroup("demo.aggauth.io", "v1")},
		resources: map[string][]metav1.APIResource{"demo.aggauth.io/v1": {
			{Name: "widgets", SingularName: "widget", Namespaced: true, Kind: "Widget", ShortNames: []string{"wd"}, Categories: []string{"all"},
				Verbs: metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}},
			{Name: "widgets/status", Namespaced: true, Kind: "Widget", Verbs: metav1.Verbs{"get", "patch", "update"}},
		}},
	},
	{
		name:      "cluster-scoped gadgets with scale, and bolts",
		groups:    func(t testing.TB) []aggdiscovery.Group { return []aggdiscovery.Group{opsGroup(t)} },
		apiGroups: []metav1.APIGroup{k8sGroup("ops.example.com", "v1")},
		resources: map[string][]metav1.APIResource{"ops.example.com/v1": {
			{Name: "bolts", SingularName: "bolt", Namespaced: true, Kind: "Bolt", Verbs: metav1.Verbs{"get", "list"}},
			{Name: "gadgets", SingularName: "gadget", Kind: "Gadget", Verbs: metav1.Verbs{"create", "delete", "get", "list"}},
			{Name: "gadgets/scale", Group: "autoscaling", Version: "v1", Kind: "Scale", Verbs: metav1.Verbs{"get", "patch", "update"}},
		}},
	},
	{
		name: "two groups of two versions in Kubernetes' default order",
		groups: func(testing.TB) []aggdiscovery.Group {
			return []aggdiscovery.Group{thingsGroup("a.example.com", "v1", "v1beta1"), thingsGroup("b.example.com", "v2", "v1")}
		},
		apiGroups: []metav1.APIGroup{k8sGroup("a.example.com", "v1", "v1beta1"), k8sGroup("b.example.com", "v2", "v1")},
		resources: map[string][]metav1.APIResource{
			"a.example.com/v1": things(true), "a.example.com/v1beta1": things(true),
			"b.example.com/v2": things(true), "b.example.com/v1": things(true),
		},
	},
	{
		name: "preference order set by APIService priorities",
		groups: func(testing.TB) []aggdiscovery.Group {
			return []aggdiscovery.Group{thingsGroup("z.example.com", "v1beta1", "v1"), thingsGroup("c.example.com", "v1")}
		},
		apiGroups: []metav1.APIGroup{k8sGroup("z.example.com", "v1beta1", "v1"), k8sGroup("c.example.com", "v1")},
		resources: map[string][]metav1.APIResource{
			"z.example.com/v1beta1": things(true), "z.example.com/v1": things(true), "c.example.com/v1": things(true),
		},
		priorities: map[metav1.GroupVersion][2]int{
			{Group: "z.example.com", Version: "v1beta1"}: {2000, 20},
			{Group: "z.example.com", Version: "v1"}:      {2000, 10},
			{Group: "c.example.com", Version: "v1"}:      {1000, 10},
		},
	},
}

// noAddresses leaves serverAddressByClientCIDRs out of /apis, as we do.
type noAddresses struct{}

func (noAddresses) ServerAddressByClientCIDRs(net.IP) []metav1.ServerAddressByClientCIDR { return nil }

// codecs decode every document: metav1 (unversioned) and apidiscovery v2.
func testCodecs(t testing.TB) serializer.CodecFactory {
	scheme := runtime.NewScheme()
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	require.NoError(t, apidiscoveryv2.AddToScheme(scheme))
	return serializer.NewCodecFactory(scheme)
}

// k8sServer serves c with k8s.io/apiserver's discovery handlers, routed as
// GenericAPIServer's director routes them; a path or method without a route
// gets go-restful's serviceErrorHandler answer.
func k8sServer(t testing.TB, c k8sCase) http.Handler {
	codecs := testCodecs(t)
	root := kdiscovery.NewRootAPIsHandler(noAddresses{}, codecs)
	manager := aggregated.NewResourceManager("apis")
	routes := map[string]http.Handler{}
	for _, g := range c.apiGroups {
		root.AddGroup(g)
		routes["/apis/"+g.Name] = kdiscovery.NewAPIGroupHandler(codecs, g)
		for _, v := range g.Versions {
			list := c.resources[v.GroupVersion]
			gv := schema.GroupVersion{Group: g.Name, Version: v.Version}
			routes["/apis/"+v.GroupVersion] = kdiscovery.NewAPIVersionHandler(codecs, gv,
				kdiscovery.APIResourceListerFunc(func() []metav1.APIResource { return list }))
			resources, err := endpoints.ConvertGroupVersionIntoToDiscovery(list)
			require.NoError(t, err)
			manager.AddGroupVersion(g.Name, apidiscoveryv2.APIVersionDiscovery{
				Version: v.Version, Resources: resources, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent,
			})
		}
	}
	for gv, p := range c.priorities {
		manager.SetGroupVersionPriority(gv, p[0], p[1])
	}
	routes["/apis"] = aggregated.WrapAggregatedDiscoveryToHandler(root, manager, nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := routes[strings.TrimSuffix(r.URL.Path, "/")]
		code := http.StatusNotFound
		if ok {
			if r.Method == http.MethodGet {
				h.ServeHTTP(w, r)
				return
			}
			code = http.StatusMethodNotAllowed
		}
		responsewriters.ErrorNegotiated(apierrors.NewGenericServerResponse(code, "", schema.GroupResource{}, "", "", 0, false),
			codecs, schema.GroupVersion{}, w, r)
	})
}

const (
	aggJSON  = discovery.AcceptV2
	aggProto = "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
	v2beta1  = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
)

// The Accept headers sent to /apis, and a subset for the other documents.
var (
	apisAccepts = []string{
		"", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "*/*", "application/*",
		"application/json;q=0.5,application/vnd.kubernetes.protobuf", "text/html", "application/json;as=Table;v=v1;g=meta.k8s.io",
		aggJSON, aggProto, aggJSON + ",application/json", "application/json," + aggJSON, aggJSON + ";profile=nopeer",
		"application/yaml;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", v2beta1, v2beta1 + ",application/json",
	}
	docAccepts = []string{"", "application/vnd.kubernetes.protobuf", "application/yaml", "text/html", aggJSON}
)

type diffRequest struct {
	method, target, accept, userAgent string
}

func diffRequests(c k8sCase) []diffRequest {
	var reqs []diffRequest
	for _, a := range apisAccepts {
		reqs = append(reqs, diffRequest{"GET", "/apis", a, ""})
	}
	reqs = append(reqs, diffRequest{"GET", "/apis/", "", "curl/8.5.0"}, diffRequest{"GET", "/apis?pretty=true", aggJSON, ""},
		diffRequest{"GET", "/apis?pretty=0", "", "Mozilla/5.0"})
	for _, g := range c.apiGroups {
		targets := []string{"/apis/" + g.Name}
		for _, v := range g.Versions {
			targets = append(targets, "/apis/"+v.GroupVersion)
		}
		for _, target := range targets {
			for _, a := range docAccepts {
				reqs = append(reqs, diffRequest{"GET", target, a, ""})
			}
			reqs = append(reqs, diffRequest{"GET", target + "/", "", "curl/8.5.0"})
		}
		for _, a := range []string{"", "application/vnd.kubernetes.protobuf", "text/html"} {
			reqs = append(reqs, diffRequest{"GET", "/apis/" + g.Name + "/v9", a, ""})
		}
		reqs = append(reqs, diffRequest{"POST", "/apis/" + g.Versions[0].GroupVersion, "", ""})
	}
	for _, a := range []string{"", "application/yaml", "text/html"} {
		reqs = append(reqs, diffRequest{"GET", "/apis/unknown.example.com", a, ""})
	}
	return reqs
}

// TestDifferential sends the same requests to our handler and to
// k8s.io/apiserver's handlers for the equivalent installed API: the answers
// must have the same status, Content-Type and bytes, and decode into equal
// values; aggregated discovery must have the same ETag, Cache-Control and
// Vary.
func TestDifferential(t *testing.T) {
	codecs := testCodecs(t)
	for _, c := range k8sCases {
		t.Run(c.name, func(t *testing.T) {
			ours := mustNew(t, c.groups(t)...).Handler(nil)
			theirs := k8sServer(t, c)
			for _, req := range diffRequests(c) {
				t.Run(req.method+" "+req.target+" "+req.accept+" "+req.userAgent, func(t *testing.T) {
					header := []string{"Accept", req.accept, "User-Agent", req.userAgent}
					want := get(theirs, req.method, req.target, header...)
					got := get(ours, req.method, req.target, header...)
					require.Equal(t, want.Code, got.Code, "status")
					assert.Equal(t, want.Header().Get("Content-Type"), got.Header().Get("Content-Type"), "Content-Type")
					if want.Header().Get("ETag") != "" {
						for _, h := range []string{"ETag", "Cache-Control", "Vary"} {
							assert.Equal(t, want.Header().Get(h), got.Header().Get(h), h)
						}
					}
					assert.Equal(t, decode(t, codecs, req.target, want), decode(t, codecs, req.target, got), "decoded")
					assert.Equal(t, want.Body.String(), got.Body.String(), "bytes")
				})
			}
		})
	}
}

// decode decodes an answer into the type its path and Content-Type say.
func decode(t *testing.T, codecs serializer.CodecFactory, target string, w *httptest.ResponseRecorder) runtime.Object {
	t.Helper()
	if w.Code == http.StatusNotModified {
		return nil
	}
	contentType, params, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
	require.NoError(t, err)
	var into runtime.Object
	path := strings.Trim(strings.SplitN(target, "?", 2)[0], "/")
	switch {
	case w.Code >= 400:
		into = &metav1.Status{}
	case params["as"] == "APIGroupDiscoveryList":
		into = &apidiscoveryv2.APIGroupDiscoveryList{}
	case path == "apis":
		into = &metav1.APIGroupList{}
	case strings.Count(path, "/") == 1:
		into = &metav1.APIGroup{}
	default:
		into = &metav1.APIResourceList{}
	}
	info, ok := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), contentType)
	require.True(t, ok, "a known media type: %s", contentType)
	_, _, err = info.Serializer.Decode(w.Body.Bytes(), nil, into)
	require.NoError(t, err)
	return into
}

// TestDifferentialETag checks aggregated discovery's cache validation: the
// same ETag as Kubernetes', 304 for it, 200 for another, whatever the
// encoding asked for.
func TestDifferentialETag(t *testing.T) {
	for _, c := range k8sCases {
		t.Run(c.name, func(t *testing.T) {
			ours := mustNew(t, c.groups(t)...).Handler(nil)
			theirs := k8sServer(t, c)
			etag := get(theirs, "GET", "/apis", "Accept", aggJSON).Header().Get("ETag")
			require.NotEmpty(t, etag)
			assert.Equal(t, etag, get(ours, "GET", "/apis", "Accept", aggJSON).Header().Get("ETag"))
			for _, tc := range []struct {
				accept, ifNoneMatch string
				want                int
			}{
				{aggJSON, etag, http.StatusNotModified},
				{aggProto, etag, http.StatusNotModified},
				{aggJSON, `"0123"`, http.StatusOK},
				{aggJSON, "", http.StatusOK},
				{"application/json", etag, http.StatusOK}, // the APIGroupList has no ETag in Kubernetes
			} {
				header := []string{"Accept", tc.accept, "If-None-Match", tc.ifNoneMatch}
				want := get(theirs, "GET", "/apis", header...)
				got := get(ours, "GET", "/apis", header...)
				assert.Equal(t, tc.want, want.Code, "Kubernetes, Accept %s, If-None-Match %s", tc.accept, tc.ifNoneMatch)
				assert.Equal(t, want.Code, got.Code, "Accept %s, If-None-Match %s", tc.accept, tc.ifNoneMatch)
				assert.Equal(t, want.Body.String(), got.Body.String())
			}
		})
	}
}
