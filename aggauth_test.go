package aggauth_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/authz"
	"github.com/aggauth/aggauth/internal/fakekube"
	"github.com/aggauth/aggauth/internal/testpki"
)

// cluster is a fake kube-apiserver with its certificates and a kubeconfig.
type cluster struct {
	proxyCA, clientCA *testpki.Cert
	proxy, alice      *testpki.Cert
	kube              *fakekube.Server
	kubeconfig        string
	dir               string
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	c := &cluster{
		proxyCA:  testpki.NewCA("front-proxy-ca", testpki.ECDSA),
		clientCA: testpki.NewCA("client-ca", testpki.ECDSA),
		dir:      t.TempDir(),
	}
	c.proxy = c.proxyCA.Issue(testpki.Spec{CommonName: "front-proxy-client"})
	c.alice = c.clientCA.Issue(testpki.Spec{CommonName: "alice", Organizations: []string{"devs"}})
	kube, err := fakekube.Start(fakekube.Options{
		FrontProxyCA: c.proxyCA.PEM(), ClientCA: c.clientCA.PEM(),
		Authorize: func(spec authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
			return authorizationv1.SubjectAccessReviewStatus{Allowed: spec.User == "alice", Reason: "alice only"}, nil
		},
		// alice-token is alice's, bound to the audience "api" (and to
		// kube-apiserver's own when none is asked for).
		Authenticate: func(spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
			auds := []string{"https://kubernetes.default.svc"}
			if spec.Audiences != nil {
				auds = authenticator.Audiences(spec.Audiences).Intersect(authenticator.Audiences{"api"})
			}
			if spec.Token != "alice-token" || len(auds) == 0 {
				return authenticationv1.TokenReviewStatus{}, nil
			}
			return authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: auds,
				User: authenticationv1.UserInfo{Username: "alice", Groups: []string{"devs"}}}, nil
		},
	})
	require.NoError(t, err)
	t.Cleanup(kube.Close)
	c.kube = kube
	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	require.NoError(t, kube.WriteKubeconfig(c.kubeconfig))
	return c
}

// file writes data to name in the cluster's directory and returns its path.
func (c *cluster) file(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(c.dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

// get sends GET path through h with the given client certificate and headers
// and returns the code and the user the handler saw.
func get(h http.Handler, path string, cert *testpki.Cert, headers ...string) (int, string) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if cert != nil {
		req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Cert}}
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

// whoami answers with the caller's name.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	u, _ := request.UserFrom(r.Context())
	_, _ = io.WriteString(w, u.GetName())
})

var quiet = slog.New(slog.DiscardHandler)

// TestNew builds the chain over the configuration matrix of Kubernetes'
// delegating authentication: from the cluster's ConfigMap, from files, with
// the lookup skipped, and the failures New must report.
func TestNew(t *testing.T) {
	noLeaks(t)
	c := newCluster(t)
	widgets := "/apis/demo.aggauth.io/v1/namespaces/default/widgets"
	tests := []struct {
		name    string
		opts    func(o *aggauth.Options)
		wantErr string
		// proxy and client: whether the front proxy's user and alice's own
		// certificate are authenticated.
		proxy, client bool
	}{
		{name: "from the ConfigMap", opts: func(*aggauth.Options) {}, proxy: true, client: true},
		{name: "front proxy from files", opts: func(o *aggauth.Options) {
			o.RequestHeader.ClientCAFile = c.file(t, "proxy-ca.crt", c.proxyCA.PEM())
			o.RequestHeader.AllowedNames = []string{"front-proxy-client"}
		}, proxy: true, client: true},
		{name: "both from files, lookup skipped", opts: func(o *aggauth.Options) {
			o.SkipInClusterLookup = true
			o.ClientCAFile = c.file(t, "client-ca.crt", c.clientCA.PEM())
			o.RequestHeader.ClientCAFile = c.file(t, "proxy-ca.crt", c.proxyCA.PEM())
		}, proxy: true, client: true},
		{name: "client CA file only, lookup skipped", opts: func(o *aggauth.Options) {
			o.SkipInClusterLookup = true
			o.ClientCAFile = c.file(t, "client-ca.crt", c.clientCA.PEM())
		}, proxy: false, client: true},
		{name: "nothing to authenticate with", opts: func(o *aggauth.Options) { o.SkipInClusterLookup = true },
			wantErr: "no authentication configured"},
		{name: "unreadable CA file", opts: func(o *aggauth.Options) { o.ClientCAFile = filepath.Join(c.dir, "missing") },
			wantErr: "reading CA file"},
		{name: "ConfigMap unreadable", opts: func(o *aggauth.Options) { o.Kubeconfig = c.unauthorized(t) },
			wantErr: "cannot read ConfigMap kube-system/extension-apiserver-authentication"},
		{name: "ConfigMap unreadable, tolerated", opts: func(o *aggauth.Options) {
			o.Kubeconfig = c.unauthorized(t)
			o.TolerateInClusterLookupFailure = true
		}, proxy: false, client: false},
		{name: "shared CA without allowed names", opts: func(o *aggauth.Options) {
			o.ClientCAFile = c.file(t, "proxy-ca.crt", c.proxyCA.PEM())
			o.RequestHeader.ClientCAFile = o.ClientCAFile
		}, wantErr: "shares a certificate"},
		{name: "no kubeconfig outside a cluster", opts: func(o *aggauth.Options) { o.Kubeconfig = "" },
			wantErr: "outside a cluster, set --kubeconfig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			o := aggauth.NewOptions()
			o.Kubeconfig, o.Logger = c.kubeconfig, quiet
			tt.opts(o)
			chain, err := aggauth.New(ctx, *o)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			h := chain.Handler(whoami)
			code, body := get(h, widgets, c.proxy, "X-Remote-User", "alice")
			assert.Equal(t, tt.proxy, code == http.StatusOK, "front proxy: %d %s", code, body)
			code, body = get(h, widgets, c.alice)
			assert.Equal(t, tt.client, code == http.StatusOK, "client certificate: %d %s", code, body)
			if tt.client {
				assert.Equal(t, "alice", body)
			}
			code, _ = get(h, widgets, c.proxy, "X-Remote-User", "bob")
			if tt.proxy {
				assert.Equal(t, http.StatusForbidden, code, "bob is not allowed")
			}
			code, _ = get(h, "/healthz", nil)
			assert.Equal(t, http.StatusOK, code)
			require.Eventually(t, func() bool { return chain.Ready() == nil || !tt.proxy }, 10*time.Second, time.Millisecond)
			assert.NotEmpty(t, chain.Collectors())
		})
	}
}

// TestBearerTokens: direct callers with a bearer token are authenticated by
// TokenReview (cached, with the audiences of --api-audiences), unless
// SkipTokenReview; the token's metrics are among the chain's collectors.
func TestBearerTokens(t *testing.T) {
	noLeaks(t)
	c := newCluster(t)
	widgets := "/apis/demo.aggauth.io/v1/namespaces/default/widgets"
	tests := []struct {
		name        string
		opts        func(o *aggauth.Options)
		alice, bad  int
		reviewsSent int
	}{
		{name: "default", opts: func(*aggauth.Options) {}, alice: http.StatusOK, bad: http.StatusUnauthorized, reviewsSent: 2},
		{name: "audiences bound", opts: func(o *aggauth.Options) { o.APIAudiences = []string{"api", "other"} },
			alice: http.StatusOK, bad: http.StatusUnauthorized, reviewsSent: 2},
		{name: "audiences not bound", opts: func(o *aggauth.Options) { o.APIAudiences = []string{"other"} },
			alice: http.StatusUnauthorized, bad: http.StatusUnauthorized, reviewsSent: 2},
		{name: "not cached", opts: func(o *aggauth.Options) { o.TokenWebhookCacheTTL = -1 },
			alice: http.StatusOK, bad: http.StatusUnauthorized, reviewsSent: 4},
		{name: "skipped", opts: func(o *aggauth.Options) { o.SkipTokenReview = true },
			alice: http.StatusUnauthorized, bad: http.StatusUnauthorized, reviewsSent: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			o := aggauth.NewOptions()
			o.Kubeconfig, o.Logger = c.kubeconfig, quiet
			tt.opts(o)
			chain, err := aggauth.New(ctx, *o)
			require.NoError(t, err)
			h := chain.Handler(whoami)
			before := c.kube.TokenReviewCounts().Received
			for range 2 {
				code, body := get(h, widgets, nil, "Authorization", "Bearer alice-token")
				assert.Equal(t, tt.alice, code, body)
				if code == http.StatusOK {
					assert.Equal(t, "alice", body)
				}
				code, _ = get(h, widgets, nil, "Authorization", "Bearer mallory-token")
				assert.Equal(t, tt.bad, code)
			}
			assert.Equal(t, int64(tt.reviewsSent), c.kube.TokenReviewCounts().Received-before)
			names := map[string]bool{}
			for _, col := range chain.Collectors() {
				ch := make(chan *prometheus.Desc, 16)
				col.Describe(ch)
				close(ch)
				for d := range ch {
					names[d.String()] = true
				}
			}
			found := false
			for n := range names {
				found = found || strings.Contains(n, "aggauth_authn_token_requests_total")
			}
			assert.Equal(t, !o.SkipTokenReview, found, "the token metrics are collected")
		})
	}
}

// noLeaks checks, once the test and its cleanups (the fake kube-apiserver's
// Close among them) are done, that no goroutine it started is left.
func noLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// unauthorized writes a kubeconfig for the fake kube-apiserver without its
// token: every call is refused.
func (c *cluster) unauthorized(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(c.kubeconfig)
	require.NoError(t, err)
	s := string(data)
	i := strings.Index(s, "token: ")
	require.Positive(t, i)
	return c.file(t, "bad-kubeconfig", []byte(s[:i]+"token: wrong\n"))
}

// A failed New stops what it started: no goroutine is left behind.
func TestNewFailureStopsWhatItStarted(t *testing.T) {
	noLeaks(t)
	c := newCluster(t)
	o := aggauth.NewOptions()
	o.Kubeconfig, o.Logger = c.kubeconfig, quiet
	// Refused once the namespace informer started: the shared CA is checked
	// when the chain is composed.
	o.ClientCAFile = c.file(t, "proxy-ca.crt", c.proxyCA.PEM())
	o.RequestHeader.ClientCAFile = o.ClientCAFile
	_, err := aggauth.New(context.Background(), *o)
	require.ErrorContains(t, err, "shares a certificate")
}

func ExampleNew() {
	// A stand-in for kube-apiserver; in a cluster, NewOptions' defaults reach
	// the real one with the pod's service account.
	proxyCA := testpki.NewCA("front-proxy-ca", testpki.ECDSA)
	kube, err := fakekube.Start(fakekube.Options{FrontProxyCA: proxyCA.PEM()})
	if err != nil {
		panic(err)
	}
	defer kube.Close()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := kube.WriteKubeconfig(kubeconfig); err != nil {
		panic(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := aggauth.NewOptions()
	opts.Kubeconfig = kubeconfig
	opts.Logger = quiet
	chain, err := aggauth.New(ctx, *opts)
	if err != nil {
		panic(err)
	}
	h := chain.Handler(whoami)

	// What the aggregator sends: its front-proxy certificate and the user.
	proxy := proxyCA.Issue(testpki.Spec{CommonName: "front-proxy-client"})
	fmt.Println(get(h, "/apis/demo.aggauth.io/v1/namespaces/default/widgets", proxy, "X-Remote-User", "alice"))
	// The same headers without the certificate.
	fmt.Println(get(h, "/apis/demo.aggauth.io/v1/namespaces/default/widgets", nil, "X-Remote-User", "alice"))
	// Output:
	// 200 alice
	// 401 {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}
}

// countingLimiter counts the requests that waited for it.
type countingLimiter struct {
	flowcontrol.RateLimiter
	waits atomic.Int64
}

func (l *countingLimiter) Wait(ctx context.Context) error {
	l.waits.Add(1)
	return l.RateLimiter.Wait(ctx)
}

// TestClientsShareRateLimiter: the TokenReview and SubjectAccessReview
// clients take a rate limiter to share (aggauth.New gives both one built from
// QPS and Burst); without one, each builds its own, whatever the rest.Config
// carries.
func TestClientsShareRateLimiter(t *testing.T) {
	c := newCluster(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	require.NoError(t, err)
	shared := &countingLimiter{RateLimiter: flowcontrol.NewTokenBucketRateLimiter(1000, 1000)}
	tr, err := authn.NewTokenReviewClient(cfg, authn.TokenReviewClientOptions{RateLimiter: shared})
	require.NoError(t, err)
	sar, err := authz.NewClient(cfg, authz.ClientOptions{RateLimiter: shared})
	require.NoError(t, err)
	_, err = tr.Create(context.Background(), &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "alice-token"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = sar.Create(context.Background(), &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "alice"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(2), shared.waits.Load())

	cfg.RateLimiter = shared
	tr, err = authn.NewTokenReviewClient(cfg, authn.TokenReviewClientOptions{})
	require.NoError(t, err)
	_, err = tr.Create(context.Background(), &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "x"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(2), shared.waits.Load(), "the options decide, not the rest.Config")
}
