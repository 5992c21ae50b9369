package servertest

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/example/internal/demo"
)

// aggregatedAccept is what kube-apiserver's aggregator asks GET /apis for.
const aggregatedAccept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"

// testDiscovery: the aggregator's probes (system:masters, authorized without a
// review) get the discovery documents of demo.Discovery, as Kubernetes writes
// them, and the OpenAPI documents, over HTTP/2.
func (e *Env) testDiscovery(t *testing.T) {
	reviews := len(e.Cluster.Reviews())
	tests := []struct {
		path, accept, contentType string
		check                     func(t *testing.T, body []byte)
	}{
		{"/apis", "", "application/json", func(t *testing.T, body []byte) {
			l := decode[metav1.APIGroupList](t, body)
			assert.Equal(t, metav1.TypeMeta{Kind: "APIGroupList"}, l.TypeMeta, "no apiVersion, as kube-apiserver writes it")
			require.Len(t, l.Groups, 1)
			assert.Equal(t, demo.Group, l.Groups[0].Name)
		}},
		{"/apis", aggregatedAccept, "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", func(t *testing.T, body []byte) {
			l := decode[apidiscoveryv2.APIGroupDiscoveryList](t, body)
			require.Len(t, l.Items, 1)
			require.Len(t, l.Items[0].Versions, 1)
			require.Len(t, l.Items[0].Versions[0].Resources, 1)
			r := l.Items[0].Versions[0].Resources[0]
			assert.Equal(t, demo.Resource, r.Resource)
			// Group and version are the enclosing ones, as kube-apiserver sends them.
			assert.Equal(t, &metav1.GroupVersionKind{Kind: demo.Kind}, r.ResponseKind)
			assert.Equal(t, apidiscoveryv2.ScopeNamespace, r.Scope)
		}},
		{demo.GroupPath, "", "application/json", func(t *testing.T, body []byte) {
			g := decode[metav1.APIGroup](t, body)
			assert.Equal(t, "APIGroup", g.Kind)
			assert.Equal(t, demo.GroupVersion, g.PreferredVersion.GroupVersion)
		}},
		{demo.VersionPath, "", "application/json", func(t *testing.T, body []byte) {
			l := decode[metav1.APIResourceList](t, body)
			assert.Equal(t, "APIResourceList", l.Kind)
			assert.Equal(t, demo.GroupVersion, l.GroupVersion)
			require.Len(t, l.APIResources, 2)
			r := l.APIResources[0]
			assert.Equal(t, "widgets", r.Name)
			assert.True(t, r.Namespaced)
			assert.Equal(t, "Widget", r.Kind)
			assert.ElementsMatch(t, []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}, []string(r.Verbs))
			assert.Equal(t, []string{"wg"}, r.ShortNames)
			assert.Equal(t, []string{"all", "demo"}, r.Categories)
			assert.Equal(t, "widgets/status", l.APIResources[1].Name)
			assert.Equal(t, []string{"get"}, []string(l.APIResources[1].Verbs))
		}},
		{"/openapi/v2", "", "application/json", func(t *testing.T, body []byte) {
			assert.Contains(t, string(body), `"swagger":"2.0"`)
		}},
		{"/openapi/v3", "", "application/json", func(t *testing.T, body []byte) {
			assert.Contains(t, string(body), "/openapi/v3/apis/"+demo.GroupVersion+"?hash=")
		}},
	}
	for _, tt := range tests {
		name := tt.path
		if tt.accept != "" {
			name += ", aggregated"
		}
		t.Run(name, func(t *testing.T) {
			h := aggregator.Clone()
			if tt.accept != "" {
				h.Set("Accept", tt.accept)
			}
			resp, body := e.Do(t, e.Proxy, http.MethodGet, tt.path, h, "")
			require.Equal(t, http.StatusOK, resp.StatusCode, "got %d %s; want 200", resp.StatusCode, body)
			assert.Equal(t, 2, resp.ProtoMajor, "got %s; want HTTP/2", resp.Proto)
			assert.Equal(t, tt.contentType, resp.Header.Get("Content-Type"))
			tt.check(t, body)
		})
	}
	assert.Len(t, e.Cluster.Reviews(), reviews, "system:masters is authorized without a SubjectAccessReview")
}
