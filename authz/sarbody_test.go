package authz_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	authorizationcel "k8s.io/apiserver/pkg/authorization/cel"
	"k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/plugin/pkg/authorizer/webhook"
	webhookmetrics "k8s.io/apiserver/plugin/pkg/authorizer/webhook/metrics"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"

	"github.com/aggauth/aggauth/authz"
	"github.com/aggauth/aggauth/requestinfo"
)

// TestSARBodyMatchesKubernetes sends the same requests through Kubernetes'
// webhook authorizer and ours, against one recording SAR server, and compares
// the reviews it received, decoded and byte for byte.
func TestSARBodyMatchesKubernetes(t *testing.T) {
	srv := newSARServer(t, allowAll)
	kubeClient, err := authorizationv1client.NewForConfig(restConfig(srv))
	require.NoError(t, err)
	kube, err := webhook.NewFromInterface(kubeClient, time.Minute, time.Minute, authz.DefaultRetryBackoff(),
		authorizer.DecisionNoOpinion, webhookmetrics.NoopAuthorizerMetrics{}, authorizationcel.NewDefaultCompiler())
	require.NoError(t, err)
	ours := newTestAuthorizer(t, srv, authz.Options{AlwaysAllowPaths: []string{}, AlwaysAllowGroups: []string{}})

	users := map[string]*user.DefaultInfo{
		"full": {Name: "alice", UID: "6f1c", Groups: []string{"dev", "system:authenticated"},
			Extra: map[string][]string{"authentication.kubernetes.io/credential-id": {"JTI=1"}, "scopes": {"a", "b"}, "empty": {}, "nil": nil}},
		"name only":   {Name: "bob"},
		"empty extra": {Name: "carol", Extra: map[string][]string{}},
	}
	requests := []struct{ name, method, path, query string }{
		{"resource get", "GET", "/apis/apps/v1/namespaces/ns/deployments/web", ""},
		{"subresource", "PUT", "/api/v1/namespaces/ns/pods/p/status", ""},
		{"cluster scope create", "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", ""},
		{"non-resource", "GET", "/metrics", ""},
		{"non-resource head", "HEAD", "/openapi/v3", ""},
		{"list with selectors", "GET", "/api/v1/namespaces/ns/pods", "labelSelector=app%3Dweb,tier+in+(a,b),!legacy,x,y!%3Dz&fieldSelector=spec.nodeName%3Dn1,status.phase!%3DFailed"},
		{"dropped operators", "GET", "/api/v1/pods", "labelSelector=a%3E1,b%3C2&watch=true"},
		{"unparsable selectors", "GET", "/api/v1/pods", "labelSelector=%21%21&fieldSelector=bad"},
		{"named by field selector", "GET", "/api/v1/namespaces/ns/pods", "fieldSelector=metadata.name%3Dp1"},
		{"deletecollection", "DELETE", "/apis/g.io/v1/namespaces/ns/widgets", "labelSelector=env+notin+(prod)"},
	}
	for uname, u := range users {
		for _, rq := range requests {
			t.Run(uname+"/"+rq.name, func(t *testing.T) {
				req := newRequest(rq.method, rq.path, rq.query)
				info, err := kubeResolver.NewRequestInfo(req)
				require.NoError(t, err)
				kubeAttrs, err := filters.GetAuthorizerAttributes(request.WithRequestInfo(request.WithUser(context.Background(), u), info))
				require.NoError(t, err)
				ourAttrs, err := requestinfo.NewAttributes(req, u)
				require.NoError(t, err)

				// Kubernetes first, then ours with our attributes and with Kubernetes' attributes.
				for i, attrs := range []authorizer.Attributes{kubeAttrs, ourAttrs, kubeAttrs} {
					a := authorizer.UnconditionalAuthorizer(ours)
					if i == 0 {
						a = kube
					}
					d, _, err := a.Authorize(context.Background(), attrs)
					require.NoError(t, err)
					require.Equal(t, authorizer.DecisionAllow, d)
				}
				reviews, bodies := srv.Reviews(), srv.ReviewBodies()
				n := len(reviews)
				require.GreaterOrEqual(t, n, 3)
				for _, i := range []int{n - 2, n - 1} {
					assert.Equal(t, reviews[n-3].Spec, reviews[i].Spec)
					assert.Equal(t, string(bodies[n-3]), string(bodies[i]))
				}
			})
		}
	}
}

// kubeResolver is kube-apiserver's resolver, configured as for every apiserver.
var kubeResolver = &request.RequestInfoFactory{
	APIPrefixes:          sets.NewString("api", "apis"),
	GrouplessAPIPrefixes: sets.NewString("api"),
}

func newRequest(method, path, rawQuery string) *http.Request {
	return &http.Request{Method: method, URL: &url.URL{Path: path, RawQuery: rawQuery}, Header: http.Header{}}
}
