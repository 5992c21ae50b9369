//go:build hostile

package hostile

// The two request paths under attack, built as bench/load/fixture builds them:
// aggauth's middleware.NewChain with the front-proxy and client-certificate
// Union and the SubjectAccessReview Authorizer, and Kubernetes' filters doing
// the same job (WithRequestInfo, WithAuthentication with the delegating
// authenticators, WithAuthorization with the webhook authorizer). Both ask the
// same fake kube-apiserver (newSARServer, package fakekube).

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	authorizationcel "k8s.io/apiserver/pkg/authorization/cel"
	"k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/apiserver/plugin/pkg/authorizer/webhook"
	"k8s.io/client-go/kubernetes/scheme"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/authz"
	"github.com/aggauth/aggauth/internal/fakekube"
	"github.com/aggauth/aggauth/middleware"
)

// impl is one request path under attack.
type impl struct {
	name    string
	handler http.Handler      // the chain in front of okHandler
	authz   *authz.Authorizer // aggauth's authorizer; nil for Kubernetes
}

// chainOptions configure both implementations alike.
type chainOptions struct {
	sar    *fakekube.Server // kube-apiserver; nil: allow every authenticated request
	authz  authz.Options    // aggauth's; its TTLs are also the webhook authorizer's
	logger *slog.Logger     // aggauth's chain logger; default: discard
}

var discard = slog.New(slog.DiscardHandler)

// builders are the implementations each test attacks, aggauth first.
var builders = []func(testing.TB, *pki, chainOptions) *impl{newAggauth, newKubernetes}

// aggauthUnion is aggauth's authentication of the PKI's front proxy and
// client certificates.
func aggauthUnion(t testing.TB, p *pki) *authn.Union {
	t.Helper()
	fp, err := authn.NewFrontProxy(authn.FrontProxyOptions{
		Config: authn.NewDynamicRequestHeader(authn.NewRequestHeaderConfig(bundle(t, p.proxyCA.PEM()), proxyName))})
	require.NoError(t, err)
	cc, err := authn.NewClientCert(authn.ClientCertOptions{CA: authn.NewDynamicCA(bundle(t, p.clientCA.PEM()))})
	require.NoError(t, err)
	union, err := authn.NewUnion(authn.UnionOptions{FrontProxy: fp, ClientCert: cc})
	require.NoError(t, err)
	return union
}

func newAggauth(t testing.TB, p *pki, o chainOptions) *impl {
	t.Helper()
	union := aggauthUnion(t, p)
	im := &impl{name: "aggauth"}
	var az authorizer.UnconditionalAuthorizer = authorizerfactory.NewAlwaysAllowAuthorizer()
	if o.sar != nil {
		client, err := authz.NewReviewClient(restConfig(o.sar), authz.ReviewClientOptions{})
		require.NoError(t, err)
		if o.authz.Logger == nil {
			o.authz.Logger = discard
		}
		o.authz.Client = client
		im.authz, err = authz.New(o.authz)
		require.NoError(t, err)
		az = im.authz
	}
	if o.logger == nil {
		o.logger = discard
	}
	chain, err := middleware.NewChain(middleware.ChainOptions{
		Authentication: middleware.AuthenticationOptions{Authenticator: union, Logger: o.logger},
		Authorization:  middleware.AuthorizationOptions{Authorizer: az},
	})
	require.NoError(t, err)
	im.handler = chain.Handler(okHandler)
	return im
}

func bundle(t testing.TB, pemBytes []byte) *authn.CABundle {
	b, err := authn.NewCABundle(pemBytes)
	require.NoError(t, err)
	return b
}

// newKubernetes returns k8s.io/apiserver's filters in the order of its
// DefaultBuildHandlerChain, with what DelegatingAuthenticationOptions and
// DelegatingAuthorizationOptions build (anonymous off, like aggauth's).
func newKubernetes(t testing.TB, p *pki, o chainOptions) *impl {
	t.Helper()
	rh, clientCA := kubernetesCAs(t, p)
	auth, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		RequestHeaderConfig: rh, ClientCertificateCAContentProvider: clientCA}.New()
	require.NoError(t, err)
	var az authorizer.UnconditionalAuthorizer = authorizerfactory.NewAlwaysAllowAuthorizer()
	if o.sar != nil {
		allow, deny := orDefault(o.authz.AllowTTL, authz.DefaultAllowTTL), orDefault(o.authz.DenyTTL, authz.DefaultDenyTTL)
		var err error
		az, err = kubernetesAuthorizerTTL(restConfig(o.sar), allow, deny)
		require.NoError(t, err)
	}
	h := filters.WithAuthorization(okHandler, az, scheme.Codecs)
	h = filters.WithAuthentication(h, auth, filters.Unauthorized(scheme.Codecs), nil, rh)
	return &impl{name: "kubernetes", handler: filters.WithRequestInfo(h, resolver)}
}

// kubernetesCAs returns what a generic apiserver's delegated authentication
// reads from the extension-apiserver-authentication ConfigMap: the
// requestheader configuration (the front-proxy CA, the standard headers,
// the proxy's name) and the client CA.
func kubernetesCAs(t testing.TB, p *pki) (*authenticatorfactory.RequestHeaderConfig, dynamiccertificates.CAContentProvider) {
	t.Helper()
	proxyCA, err := dynamiccertificates.NewStaticCAContent("request-header", p.proxyCA.PEM())
	require.NoError(t, err)
	clientCA, err := dynamiccertificates.NewStaticCAContent("client-ca", p.clientCA.PEM())
	require.NoError(t, err)
	type s = headerrequest.StaticStringSlice
	return &authenticatorfactory.RequestHeaderConfig{
		UsernameHeaders: s{"X-Remote-User"}, UIDHeaders: s{}, GroupHeaders: s{"X-Remote-Group"},
		ExtraHeaderPrefixes: s{"X-Remote-Extra-"}, CAContentProvider: proxyCA, AllowedClientNames: s{proxyName},
	}, clientCA
}

// resolver is Kubernetes' RequestInfo resolver, as a generic apiserver
// configures it.
var resolver = &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}

// kubernetesAuthorizer is the webhook authorizer a generic apiserver's
// delegated authorization builds, with its default TTLs, on a client of its
// own for cfg.
func kubernetesAuthorizer(cfg *rest.Config) (authorizer.UnconditionalAuthorizer, error) {
	return kubernetesAuthorizerTTL(cfg, authz.DefaultAllowTTL, authz.DefaultDenyTTL)
}

func kubernetesAuthorizerTTL(cfg *rest.Config, allow, deny time.Duration) (authorizer.UnconditionalAuthorizer, error) {
	client, err := authorizationv1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return webhook.NewFromInterface(client, allow, deny, *webhook.DefaultRetryBackoff(),
		authorizer.DecisionNoOpinion, authorizerfactory.NewDelegatingAuthorizerMetrics(), authorizationcel.NewDefaultCompiler())
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// newSARServer starts the fake kube-apiserver both implementations ask: it
// answers SubjectAccessReviews with decide after latency (or holds them while
// held), over HTTP/2 with kube-apiserver's 1,000 streams per connection
// (--http2-max-streams-per-connection), so that one connection carries every
// review in flight, as in a cluster. It keeps no review, only the counts.
func newSARServer(t testing.TB, latency time.Duration, decide func(authorizationv1.SubjectAccessReviewSpec) bool) *fakekube.Server {
	s, err := fakekube.Start(fakekube.Options{
		Latency: latency, MaxConcurrentStreams: 1000, DiscardReviews: true,
		Authorize: func(spec authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
			allowed := decide(spec)
			return authorizationv1.SubjectAccessReviewStatus{Allowed: allowed, Denied: !allowed, Reason: "hostile suite"}, nil
		},
	})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func allowAll(authorizationv1.SubjectAccessReviewSpec) bool { return true }

// restConfig is the client configuration both implementations get, with
// Kubernetes' delegated authorization limits (200 QPS, burst 400, 10 s).
func restConfig(s *fakekube.Server) *rest.Config {
	c := s.RestConfig()
	c.QPS, c.Burst, c.Timeout = authz.DefaultReviewClientQPS, authz.DefaultReviewClientBurst, authz.DefaultReviewClientTimeout
	return c
}
