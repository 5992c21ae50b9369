package aggauth_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/aggauthtest"
	"github.com/aggauth/aggauth/authz"
)

// How long, and how often, a test waits for a chain to be ready.
const readyWait, readyTick = 10 * time.Second, 5 * time.Millisecond

// allowAlice is an authorizer that allows alice everything.
var allowAlice = authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.GetUser().GetName() == "alice" {
		return authorizer.DecisionAllow, "alice", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
})

// TestOptionsRefused: options that contradict each other are refused by New,
// before it connects to anything.
func TestOptionsRefused(t *testing.T) {
	pem := []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	sar := fake.NewClientset().AuthorizationV1().SubjectAccessReviews()
	tests := []struct {
		name    string
		opts    aggauth.Options
		wantErr string
	}{
		{"client CA file and bytes", aggauth.Options{ClientCAFile: "/ca", ClientCA: pem}, "ClientCAFile and ClientCA are both set"},
		{"front-proxy CA file and bytes", aggauth.Options{RequestHeader: aggauth.RequestHeaderOptions{ClientCAFile: "/ca", ClientCA: pem}},
			"RequestHeader.ClientCAFile and RequestHeader.ClientCA are both set"},
		{"tokens skipped and a client", aggauth.Options{SkipTokenReview: true, TokenReviewClient: fake.NewClientset().AuthenticationV1().TokenReviews()},
			"SkipTokenReview and TokenReviewClient"},
		{"an authorizer and a client", aggauth.Options{Authorizer: allowAlice, SubjectAccessReviewClient: sar}, "Authorizer and SubjectAccessReviewClient"},
		{"bytes that are no CA", aggauth.Options{SkipInClusterLookup: true, ClientCA: []byte("not PEM")}, "aggauth: ClientCA:"},
		{"a bad always-allowed path", aggauth.Options{SkipInClusterLookup: true, ClientCA: aggauthtest.NewCluster(t, aggauthtest.Options{}).ClientCA(),
			SkipTokenReview: true, DisableNamespaceLifecycle: true, Authorizer: allowAlice, AlwaysAllowPaths: []string{"/a*/b"}}, "AlwaysAllowPaths"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := aggauth.New(t.Context(), tt.opts)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// TestNoConnection: with the CAs in memory, a token review client, an
// authorizer and a clientset given, New reads no file and makes no connection
// (no kubeconfig is set, and the test runs outside a cluster), and the chain
// works as with the cluster: an embedded server, or a test with client-go's
// fakes.
func TestNoConnection(t *testing.T) {
	noLeaks(t)
	cluster := aggauthtest.NewCluster(t, aggauthtest.Options{}) // certificates only: no chain reaches it
	cs := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}})
	var tokenReviews atomic.Int64
	cs.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		tokenReviews.Add(1)
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview).DeepCopy()
		if tr.Spec.Token == "alice-token" {
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "alice"}}
		}
		return true, tr, nil
	})
	chain, err := aggauth.New(context.Background(), aggauth.Options{
		SkipInClusterLookup: true,
		ClientCA:            cluster.ClientCA(),
		RequestHeader:       aggauth.RequestHeaderOptions{ClientCA: cluster.FrontProxyCA(), AllowedNames: []string{aggauthtest.ProxyCommonName}},
		TokenReviewClient:   cs.AuthenticationV1().TokenReviews(),
		Authorizer:          allowAlice,
		Clientset:           cs,
		Logger:              quiet,
	})
	require.NoError(t, err)
	defer chain.Close()
	require.Eventually(t, func() bool { return chain.Ready() == nil }, readyWait, readyTick)
	h := chain.Handler(whoami)
	const widgets = "/apis/demo.aggauth.io/v1/namespaces/default/widgets"
	tests := []struct {
		name   string
		caller aggauthtest.Caller
		method string
		path   string
		want   int
	}{
		{"front proxy, allowed", cluster.FrontProxy().As("alice"), http.MethodGet, widgets, http.StatusOK},
		{"front proxy, not allowed", cluster.FrontProxy().As("bob"), http.MethodGet, widgets, http.StatusForbidden},
		{"always-allowed group", cluster.FrontProxy().As("bob", "system:masters"), http.MethodGet, widgets, http.StatusOK},
		{"client certificate", cluster.User("alice"), http.MethodGet, widgets, http.StatusOK},
		{"rogue proxy", cluster.RogueProxy().As("alice"), http.MethodGet, widgets, http.StatusUnauthorized},
		{"token", aggauthtest.BearerToken("alice-token"), http.MethodGet, widgets, http.StatusOK},
		{"unknown token", aggauthtest.BearerToken("x"), http.MethodGet, widgets, http.StatusUnauthorized},
		{"create", cluster.FrontProxy().As("alice"), http.MethodPost, widgets, http.StatusOK},
		{"create, no namespace", cluster.FrontProxy().As("alice"), http.MethodPost, strings.Replace(widgets, "default", "nowhere", 1), http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.caller.Do(h, tt.method, tt.path, strings.NewReader("{}"))
			assert.Equal(t, tt.want, rec.Code, "got %d %s; want %d", rec.Code, rec.Body, tt.want)
		})
	}
	assert.Equal(t, int64(2), tokenReviews.Load(), "the fake clientset's reactor answered")
	assert.Equal(t, aggauthtest.Counts{}, cluster.Counts(), "nothing reached the cluster")
	assert.Nil(t, chain.Authorizer(), "no SubjectAccessReview authorizer")
	assert.NotEmpty(t, chain.Collectors())
}

// countingSARs counts the SubjectAccessReviews it creates through next.
type countingSARs struct {
	next  authz.SubjectAccessReviewCreator
	count atomic.Int64
}

func (c *countingSARs) Create(ctx context.Context, sar *authorizationv1.SubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	c.count.Add(1)
	return c.next.Create(ctx, sar, opts)
}

// TestSubjectAccessReviewClient: a client given in Options sends the reviews,
// behind the authorizer's cache.
func TestSubjectAccessReviewClient(t *testing.T) {
	noLeaks(t)
	c := newCluster(t)
	next, err := authz.NewReviewClient(c.RESTConfig(), authz.ReviewClientOptions{})
	require.NoError(t, err)
	sars := &countingSARs{next: next}
	chain, err := c.NewChain(aggauth.Options{SubjectAccessReviewClient: sars, Logger: quiet})
	require.NoError(t, err)
	h := chain.Handler(whoami)
	for range 3 {
		code, body := get(h, "/apis/demo.aggauth.io/v1/widgets", c.FrontProxy().As("alice"))
		assert.Equal(t, http.StatusOK, code, body)
	}
	assert.Equal(t, int64(1), sars.count.Load(), "one review, then the cache")
	assert.Equal(t, int64(1), c.Counts().SubjectAccessReviews)
	assert.NotNil(t, chain.Authorizer())
}

// TestClose: Close stops what New started (the ConfigMap and namespace
// informers, a CA file watcher) without New's context ending, and is safe to
// call twice.
func TestClose(t *testing.T) {
	noLeaks(t)
	c := newCluster(t)
	o := aggauth.NewOptions()
	o.Kubeconfig, o.Logger = c.kubeconfig, quiet
	o.ClientCAFile = c.file(t, "client-ca.crt", c.ClientCA())
	chain, err := aggauth.New(context.Background(), *o)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return chain.Ready() == nil }, readyWait, readyTick)
	chain.Close()
	chain.Close()
	code, _ := get(chain.Handler(whoami), "/healthz", aggauthtest.Caller{})
	assert.Equal(t, http.StatusOK, code, "a closed chain still answers")
}

// TestClientsetReadsConfigMap: Clientset reads the authentication ConfigMap
// (client-go's fake clientset holding it here).
func TestClientsetReadsConfigMap(t *testing.T) {
	noLeaks(t)
	cluster := aggauthtest.NewCluster(t, aggauthtest.Options{}) // certificates only
	cs := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "extension-apiserver-authentication"},
		Data: map[string]string{
			"requestheader-client-ca-file":   string(cluster.FrontProxyCA()),
			"requestheader-allowed-names":    `["` + aggauthtest.ProxyCommonName + `"]`,
			"requestheader-username-headers": `["X-Remote-User"]`,
			"requestheader-group-headers":    `["X-Remote-Group"]`,
		},
	})
	chain, err := aggauth.New(context.Background(), aggauth.Options{
		Clientset: cs, SkipTokenReview: true, Authorizer: allowAlice, DisableNamespaceLifecycle: true, Logger: quiet,
	})
	require.NoError(t, err)
	defer chain.Close()
	require.NoError(t, chain.Ready())
	code, body := get(chain.Handler(whoami), "/apis/demo.aggauth.io/v1/widgets", cluster.FrontProxy().As("alice"))
	assert.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, "alice", body)
}
