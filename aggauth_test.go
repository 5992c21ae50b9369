package aggauth_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
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
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/aggauthtest"
	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/authz"
)

// cluster is a fake cluster where alice (in group devs, with the token
// alice-token bound to the audience api) may do anything, with its
// kubeconfig in a directory of its own.
type cluster struct {
	*aggauthtest.Cluster
	kubeconfig string
	dir        string
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	c := &cluster{
		Cluster: aggauthtest.NewCluster(t, aggauthtest.Options{
			Rules:          []aggauthtest.Rule{{Users: []string{"alice"}}},
			Tokens:         map[string]user.Info{"alice-token": &user.DefaultInfo{Name: "alice", Groups: []string{"devs"}}},
			TokenAudiences: []string{"api"},
		}),
		dir: t.TempDir(),
	}
	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	require.NoError(t, c.WriteKubeconfig(c.kubeconfig))
	return c
}

// file writes data to name in the cluster's directory and returns its path.
func (c *cluster) file(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(c.dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

// get sends GET path through h as caller and returns the code and the body
// (the user the handler saw).
func get(h http.Handler, path string, caller aggauthtest.Caller) (int, string) {
	rec := caller.Do(h, http.MethodGet, path, nil)
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
			o.RequestHeader.ClientCAFile = c.file(t, "proxy-ca.crt", c.FrontProxyCA())
			o.RequestHeader.AllowedNames = []string{"front-proxy-client"}
		}, proxy: true, client: true},
		{name: "both from files, lookup skipped", opts: func(o *aggauth.Options) {
			o.SkipInClusterLookup = true
			o.ClientCAFile = c.file(t, "client-ca.crt", c.ClientCA())
			o.RequestHeader.ClientCAFile = c.file(t, "proxy-ca.crt", c.FrontProxyCA())
		}, proxy: true, client: true},
		{name: "client CA file only, lookup skipped", opts: func(o *aggauth.Options) {
			o.SkipInClusterLookup = true
			o.ClientCAFile = c.file(t, "client-ca.crt", c.ClientCA())
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
			o.ClientCAFile = c.file(t, "proxy-ca.crt", c.FrontProxyCA())
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
			code, body := get(h, widgets, c.FrontProxy().As("alice"))
			assert.Equal(t, tt.proxy, code == http.StatusOK, "front proxy: %d %s", code, body)
			code, body = get(h, widgets, c.User("alice", "devs"))
			assert.Equal(t, tt.client, code == http.StatusOK, "client certificate: %d %s", code, body)
			if tt.client {
				assert.Equal(t, "alice", body)
			}
			code, _ = get(h, widgets, c.FrontProxy().As("bob"))
			if tt.proxy {
				assert.Equal(t, http.StatusForbidden, code, "bob is not allowed")
			}
			code, _ = get(h, "/healthz", aggauthtest.Caller{})
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
			o := aggauth.NewOptions()
			o.Logger = quiet
			tt.opts(o)
			chain, err := c.NewChain(*o)
			require.NoError(t, err)
			defer chain.Close()
			h := chain.Handler(whoami)
			before := c.Counts().TokenReviews
			for range 2 {
				code, body := get(h, widgets, aggauthtest.BearerToken("alice-token"))
				assert.Equal(t, tt.alice, code, body)
				if code == http.StatusOK {
					assert.Equal(t, "alice", body)
				}
				code, _ = get(h, widgets, aggauthtest.BearerToken("mallory-token"))
				assert.Equal(t, tt.bad, code)
			}
			assert.Equal(t, int64(tt.reviewsSent), c.Counts().TokenReviews-before)
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
	o.ClientCAFile = c.file(t, "proxy-ca.crt", c.FrontProxyCA())
	o.RequestHeader.ClientCAFile = o.ClientCAFile
	_, err := aggauth.New(context.Background(), *o)
	require.ErrorContains(t, err, "shares a certificate")
}

func ExampleNew() {
	// A stand-in for kube-apiserver, where alice may do anything; in a
	// cluster, NewOptions' defaults reach the real one with the pod's service
	// account.
	cluster, err := aggauthtest.StartCluster(aggauthtest.Options{Rules: []aggauthtest.Rule{{Users: []string{"alice"}}}})
	if err != nil {
		panic(err)
	}
	defer cluster.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := aggauth.NewOptions()
	opts.RESTConfig = cluster.RESTConfig() // or opts.Kubeconfig, --kubeconfig
	opts.Logger = quiet
	chain, err := aggauth.New(ctx, *opts)
	if err != nil {
		panic(err)
	}
	h := chain.Handler(whoami)

	// What the aggregator sends: its front-proxy certificate and the user.
	fmt.Println(get(h, "/apis/demo.aggauth.io/v1/namespaces/default/widgets", cluster.FrontProxy().As("alice")))
	// The same headers without the certificate.
	fmt.Println(get(h, "/apis/demo.aggauth.io/v1/namespaces/default/widgets", aggauthtest.Caller{}.As("alice")))
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
	cfg := c.RESTConfig()
	shared := &countingLimiter{RateLimiter: flowcontrol.NewTokenBucketRateLimiter(1000, 1000)}
	tr, err := authn.NewReviewClient(cfg, authn.ReviewClientOptions{RateLimiter: shared})
	require.NoError(t, err)
	sar, err := authz.NewReviewClient(cfg, authz.ReviewClientOptions{RateLimiter: shared})
	require.NoError(t, err)
	_, err = tr.Create(context.Background(), &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "alice-token"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = sar.Create(context.Background(), &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "alice"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(2), shared.waits.Load())

	cfg.RateLimiter = shared
	tr, err = authn.NewReviewClient(cfg, authn.ReviewClientOptions{})
	require.NoError(t, err)
	_, err = tr.Create(context.Background(), &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "x"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(2), shared.waits.Load(), "the options decide, not the rest.Config")
}
