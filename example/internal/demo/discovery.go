package demo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The discovery documents. The aggregator marks the APIService
// v1.demo.aggauth.io Available once GET VersionPath answers 200; kubectl reads
// them to map "widgets" to its path.
var (
	groupVersion = metav1.GroupVersionForDiscovery{GroupVersion: GroupVersion, Version: Version}

	// APIGroup is the answer to GET GroupPath.
	APIGroup = &metav1.APIGroup{
		TypeMeta:         metav1.TypeMeta{APIVersion: "v1", Kind: "APIGroup"},
		Name:             Group,
		Versions:         []metav1.GroupVersionForDiscovery{groupVersion},
		PreferredVersion: groupVersion,
	}

	// APIGroupList is the answer to GET /apis.
	APIGroupList = &metav1.APIGroupList{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "APIGroupList"},
		Groups:   []metav1.APIGroup{*APIGroup},
	}

	// APIResourceList is the answer to GET VersionPath.
	APIResourceList = &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{APIVersion: "v1", Kind: "APIResourceList"},
		GroupVersion: GroupVersion,
		APIResources: []metav1.APIResource{{
			Name:         Resource,
			SingularName: "widget",
			Namespaced:   true,
			Kind:         Kind,
			Verbs:        metav1.Verbs{"get", "list", "create", "delete"},
		}},
	}
)

// aggregatedMediaType is the aggregated discovery (apidiscovery.k8s.io/v2)
// document kube-apiserver's aggregator asks GET /apis for.
const aggregatedMediaType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// APIGroupDiscoveryList is the aggregated discovery answer to GET /apis.
var APIGroupDiscoveryList = &apidiscoveryv2.APIGroupDiscoveryList{
	TypeMeta: metav1.TypeMeta{APIVersion: "apidiscovery.k8s.io/v2", Kind: "APIGroupDiscoveryList"},
	Items: []apidiscoveryv2.APIGroupDiscovery{{
		ObjectMeta: metav1.ObjectMeta{Name: Group},
		Versions: []apidiscoveryv2.APIVersionDiscovery{{
			Version: Version,
			Resources: []apidiscoveryv2.APIResourceDiscovery{{
				Resource:         Resource,
				ResponseKind:     &metav1.GroupVersionKind{Group: Group, Version: Version, Kind: Kind},
				Scope:            apidiscoveryv2.ScopeNamespace,
				SingularResource: "widget",
				Verbs:            []string{"get", "list", "create", "delete"},
			}},
			Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent,
		}},
	}},
}

// ServeAPIs answers GET /apis. The aggregator asks, as system:kube-aggregator in
// system:masters, for aggregated discovery; answering with it (and its ETag, so
// that its refreshes are 304s) spares the aggregator a fallback to
// GET /apis/<group>/<version> as system:kube-aggregator without groups, which
// would need a SubjectAccessReview. Other clients get the APIGroupList.
func ServeAPIs(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Accept")
	if !strings.Contains(r.Header.Get("Accept"), "g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList") {
		WriteObject(w, http.StatusOK, APIGroupList)
		return
	}
	w.Header().Set("ETag", aggregatedETag)
	if r.Header.Get("If-None-Match") == aggregatedETag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", aggregatedMediaType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(aggregatedBody)
}

var aggregatedBody, aggregatedETag = func() ([]byte, string) {
	body, err := json.Marshal(APIGroupDiscoveryList)
	if err != nil {
		panic("demo: " + err.Error())
	}
	sum := sha256.Sum256(body)
	return append(body, '\n'), `"` + hex.EncodeToString(sum[:]) + `"`
}()
