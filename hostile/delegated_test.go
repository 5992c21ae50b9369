//go:build hostile

package hostile

// The whole assembly under attack where the attack crosses kinds of review
// (bearer tokens against authorization): aggauth.New, as a server deploys it,
// and Kubernetes' delegated authentication and authorization as a generic
// apiserver builds them (DelegatingAuthenticationOptions and
// DelegatingAuthorizationOptions: a TokenReview client and a
// SubjectAccessReview client of their own, each at 200 QPS / burst 400),
// both against one fake kube-apiserver that publishes the authentication
// ConfigMap and answers both kinds of review.

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/fakekube"
)

// cluster is the fake kube-apiserver of the delegated tests: it publishes the
// PKI's CAs in the authentication ConfigMap, authenticates tokens with
// authenticate and authorizes with authorize, each review after latency.
func cluster(t testing.TB, p *pki, latency time.Duration, authenticate fakekube.AuthenticateFunc,
	authorize func(authorizationv1.SubjectAccessReviewSpec) bool) *fakekube.Server {
	s, err := fakekube.Start(fakekube.Options{
		FrontProxyCA: p.proxyCA.PEM(), ClientCA: p.clientCA.PEM(), AllowedNames: []string{proxyName},
		Latency: latency, MaxConcurrentStreams: 1000, DiscardReviews: true, Authenticate: authenticate,
		Authorize: func(spec authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
			allowed := authorize(spec)
			return authorizationv1.SubjectAccessReviewStatus{Allowed: allowed, Denied: !allowed, Reason: "hostile suite"}, nil
		},
	})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// delegatedBuilders are the whole assemblies, aggauth first.
var delegatedBuilders = []func(testing.TB, *pki, *fakekube.Server, func(*rest.Config)) *impl{newAggauthAssembly, newKubernetesDelegated}

// newAggauthAssembly is aggauth.New against s, namespace admission off. wrap,
// when set, changes the client configuration (to wrap its transport).
func newAggauthAssembly(t testing.TB, p *pki, s *fakekube.Server, wrap func(*rest.Config)) *impl {
	t.Helper()
	cfg := s.RestConfig()
	if wrap != nil {
		wrap(cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	chain, err := aggauth.New(ctx, aggauth.Options{RESTConfig: cfg, DisableNamespaceLifecycle: true, Logger: discard})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return chain.Ready() == nil }, 10*time.Second, 10*time.Millisecond)
	return &impl{name: "aggauth", handler: chain.Handler(okHandler), authz: chain.Authorizer()}
}

// newKubernetesDelegated is what a generic apiserver's delegated options
// build: the delegating authenticator (request header, client certificate,
// TokenReview with its cache) and the webhook authorizer, each with a client
// of its own, behind WithRequestInfo, WithAuthentication and
// WithAuthorization.
func newKubernetesDelegated(t testing.TB, p *pki, s *fakekube.Server, wrap func(*rest.Config)) *impl {
	t.Helper()
	client := func() *rest.Config {
		cfg := restConfig(s)
		if wrap != nil {
			wrap(cfg)
		}
		return cfg
	}
	rh, clientCA := kubernetesCAs(t, p)
	tokens, err := kubernetes.NewForConfig(client())
	require.NoError(t, err)
	backoff := authn.DefaultTokenRetryBackoff() // options.DefaultAuthWebhookRetryBackoff(), the same schedule
	auth, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:           &apiserver.AnonymousAuthConfig{},
		RequestHeaderConfig: rh, ClientCertificateCAContentProvider: clientCA,
		TokenAccessReviewClient: tokens.AuthenticationV1(), TokenAccessReviewTimeout: 10 * time.Second,
		WebhookRetryBackoff: &backoff, CacheTTL: 10 * time.Second,
	}.New()
	require.NoError(t, err)
	az, err := kubernetesAuthorizer(client())
	require.NoError(t, err)
	h := filters.WithAuthorization(okHandler, az, scheme.Codecs)
	h = filters.WithAuthentication(h, auth, filters.Unauthorized(scheme.Codecs), nil, rh)
	return &impl{name: "kubernetes", handler: filters.WithRequestInfo(h, resolver)}
}

// tokenUser authenticates the tokens "good-<n>" as a member of
// system:masters (so that no SubjectAccessReview is needed after it), and
// no other.
func tokenUser(spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
	if len(spec.Token) > 5 && spec.Token[:5] == "good-" {
		return authenticationv1.TokenReviewStatus{Authenticated: true,
			User: authenticationv1.UserInfo{Username: "token-user", Groups: []string{"system:masters"}}}, nil
	}
	return authenticationv1.TokenReviewStatus{}, nil
}

// fromAddress returns an HTTP/1.1 transport without a client certificate
// whose connections come from the loopback address ip (127.0.0.0/8 is all
// local): a client the server tells apart from others by its address.
func fromAddress(p *pki, ip string) *http.Transport {
	tr := transport(p, nil, false)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	tr.DialContext = d.DialContext
	tr.MaxIdleConnsPerHost = 256
	return tr
}

// sendToken makes one request with a bearer token and returns its status.
func sendToken(ctx context.Context, c *http.Client, url, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	drain(resp)
	return resp.StatusCode, nil
}
