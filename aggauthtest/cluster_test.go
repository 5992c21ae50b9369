package aggauthtest_test

import (
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/kubernetes"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/aggauthtest"
)

var quiet = slog.New(slog.DiscardHandler)

// noLeaks checks, once the test and its cleanups (the cluster's Close among
// them) are done, that no goroutine it started is left.
func noLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// whoami answers with the caller's name, UID, groups and extra, after the
// WebSocket subprotocols it was sent, if any.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	u, _ := request.UserFrom(r.Context())
	if p, ok := r.Header["Sec-Websocket-Protocol"]; ok {
		_, _ = w.Write([]byte("[" + strings.Join(p, ";") + "] "))
	}
	_, _ = w.Write([]byte(u.GetName() + " " + u.GetUID() + " " + strings.Join(u.GetGroups(), ",")))
	for k, v := range u.GetExtra() {
		_, _ = w.Write([]byte(" " + k + "=" + strings.Join(v, ",")))
	}
})

func TestStartClusterRefuses(t *testing.T) {
	tests := []struct {
		name    string
		opts    aggauthtest.Options
		wantErr string
	}{
		{"a rule of both kinds", aggauthtest.Options{Rules: []aggauthtest.Rule{{}, {Resources: []string{"a"}, NonResourceURLs: []string{"/b"}}}}, "rule 1"},
		{"an empty token", aggauthtest.Options{Tokens: map[string]user.Info{"": &user.DefaultInfo{Name: "a"}}}, "Tokens"},
		{"a token without a user", aggauthtest.Options{Tokens: map[string]user.Info{"t": nil}}, "Tokens"},
		{"a user without a name", aggauthtest.Options{Tokens: map[string]user.Info{"t": &user.DefaultInfo{}}}, "Tokens"},
		{"a namespace twice", aggauthtest.Options{Namespaces: []string{"a"}, TerminatingNamespaces: []string{"a"}}, `"a"`},
		{"an empty namespace", aggauthtest.Options{Namespaces: []string{""}}, `""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := aggauthtest.StartCluster(tt.opts)
			if c != nil {
				c.Close()
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// TestCallers: each kind of caller, through the chain New builds against the
// cluster, in process.
func TestCallers(t *testing.T) {
	noLeaks(t)
	cluster := aggauthtest.NewCluster(t, aggauthtest.Options{
		Rules: []aggauthtest.Rule{{Users: []string{"alice", "carol"}}, {Groups: []string{"devs"}, Verbs: []string{"get"}}},
		Tokens: map[string]user.Info{"carol-token": &user.DefaultInfo{
			Name: "carol", UID: "c-1", Groups: []string{"ops"}, Extra: map[string][]string{"scopes": {"a", "b"}},
		}},
	})
	chain, err := cluster.NewChain(aggauth.Options{Logger: quiet})
	require.NoError(t, err)
	h := chain.Handler(whoami)
	const path = "/apis/demo.aggauth.io/v1/namespaces/default/widgets"
	tests := []struct {
		name     string
		caller   aggauthtest.Caller
		method   string
		wantCode int
		wantBody string // a prefix of the body
	}{
		{"aggregator, allowed", cluster.FrontProxy().As("alice", "x", "y"), http.MethodGet, http.StatusOK, "alice  x,y,system:authenticated"},
		{"aggregator, As twice", cluster.FrontProxy().As("bob", "devs").As("alice"), http.MethodGet, http.StatusOK, "alice  system:authenticated"},
		{"aggregator, with an extra", cluster.FrontProxy().As("alice").WithHeader("X-Remote-Extra-Scopes", "s"), http.MethodGet, http.StatusOK, "alice  system:authenticated scopes=s"},
		{"aggregator, by group", cluster.FrontProxy().As("bob", "devs"), http.MethodGet, http.StatusOK, "bob  devs,system:authenticated"},
		{"aggregator, verb not allowed", cluster.FrontProxy().As("bob", "devs"), http.MethodDelete, http.StatusForbidden, ""},
		{"aggregator, nobody", cluster.FrontProxy(), http.MethodGet, http.StatusUnauthorized, ""},
		{"rogue proxy", cluster.RogueProxy().As("alice"), http.MethodGet, http.StatusUnauthorized, ""},
		{"spoofed headers", aggauthtest.Caller{}.As("alice"), http.MethodGet, http.StatusUnauthorized, ""},
		{"no credentials", aggauthtest.Caller{}, http.MethodGet, http.StatusUnauthorized, ""},
		{"client certificate", cluster.User("carol", "ops"), http.MethodGet, http.StatusOK, "carol  ops,system:authenticated"},
		{"client certificate, not allowed", cluster.User("dave"), http.MethodGet, http.StatusForbidden, ""},
		{"token", aggauthtest.BearerToken("carol-token"), http.MethodGet, http.StatusOK, "carol c-1 ops,system:authenticated scopes=a,b"},
		{"unknown token", aggauthtest.BearerToken("mallory-token"), http.MethodGet, http.StatusUnauthorized, ""},
		// A browser's WebSocket client sends its token as a subprotocol; the
		// handler sees the others only.
		{"WebSocket token", webSocket("carol-token", "v5.channel.k8s.io"), http.MethodGet, http.StatusOK, "[v5.channel.k8s.io] carol c-1 ops,system:authenticated"},
		{"WebSocket token, unknown", webSocket("mallory-token", "v5.channel.k8s.io"), http.MethodGet, http.StatusUnauthorized, ""},
		{"WebSocket token, no other subprotocol", webSocket("carol-token"), http.MethodGet, http.StatusUnauthorized, ""},
		{"WebSocket token, not an upgrade", webSocketAs("h2c", "carol-token", "x"), http.MethodGet, http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.caller.Do(h, tt.method, path+"/w", nil)
			require.Equal(t, tt.wantCode, rec.Code, "got %d %s; want %d", rec.Code, rec.Body, tt.wantCode)
			if tt.wantBody != "" { // a client certificate's user has a credential ID after it
				assert.True(t, strings.HasPrefix(rec.Body.String(), tt.wantBody), "got %q; want %q", rec.Body, tt.wantBody)
			}
		})
	}
	before := cluster.Counts()
	for range 3 {
		assert.Equal(t, http.StatusOK, cluster.FrontProxy().As("alice", "x", "y").Do(h, http.MethodGet, path+"/w", nil).Code)
		assert.Equal(t, http.StatusOK, aggauthtest.BearerToken("carol-token").Do(h, http.MethodGet, path+"/w", nil).Code)
	}
	assert.Equal(t, before, cluster.Counts(), "answered from the chain's caches")
	assert.NotEmpty(t, cluster.Reviews())
}

// webSocket is a WebSocket client sending token as Kubernetes' bearer
// subprotocol, before the others.
func webSocket(token string, others ...string) aggauthtest.Caller {
	return webSocketAs("websocket", token, others...)
}

// webSocketAs is webSocket asking to upgrade to upgrade.
func webSocketAs(upgrade, token string, others ...string) aggauthtest.Caller {
	protocols := append([]string{"base64url.bearer.authorization.k8s.io." + base64.RawURLEncoding.EncodeToString([]byte(token))}, others...)
	return aggauthtest.Caller{}.WithHeader("Upgrade", upgrade).WithHeader("Connection", "Upgrade").
		WithHeader("Sec-WebSocket-Protocol", strings.Join(protocols, ", "))
}

// TestNewChainOptions: NewChain takes New's options as they are, and the
// cluster's CAs serve Options' bundles in memory.
func TestNewChainOptions(t *testing.T) {
	noLeaks(t)
	cluster := aggauthtest.NewCluster(t, aggauthtest.Options{
		Rules:  []aggauthtest.Rule{{}},
		Tokens: map[string]user.Info{"t": &user.DefaultInfo{Name: "carol"}},
	})
	tests := []struct {
		name         string
		opts         aggauth.Options
		proxy, token int
	}{
		{"defaults", aggauth.Options{}, http.StatusOK, http.StatusOK},
		{"no token reviews", aggauth.Options{SkipTokenReview: true}, http.StatusOK, http.StatusUnauthorized},
		{"CAs in memory", aggauth.Options{
			SkipInClusterLookup: true, ClientCA: cluster.ClientCA(),
			RequestHeader: aggauth.RequestHeaderOptions{ClientCA: cluster.FrontProxyCA(), AllowedNames: []string{aggauthtest.ProxyCommonName}},
		}, http.StatusOK, http.StatusOK},
		{"another proxy name allowed", aggauth.Options{
			RequestHeader: aggauth.RequestHeaderOptions{ClientCA: cluster.FrontProxyCA(), AllowedNames: []string{"other"}},
		}, http.StatusUnauthorized, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Logger = quiet
			chain, err := cluster.NewChain(tt.opts)
			require.NoError(t, err)
			defer chain.Close()
			h := chain.Handler(whoami)
			rec := cluster.FrontProxy().As("alice").Do(h, http.MethodGet, "/api/v1/namespaces", nil)
			assert.Equal(t, tt.proxy, rec.Code, "front proxy: got %d %s; want %d", rec.Code, rec.Body, tt.proxy)
			rec = aggauthtest.BearerToken("t").Do(h, http.MethodGet, "/api/v1/namespaces", nil)
			assert.Equal(t, tt.token, rec.Code, "token: got %d %s; want %d", rec.Code, rec.Body, tt.token)
		})
	}
	_, err := cluster.NewChain(aggauth.Options{SkipInClusterLookup: true})
	assert.ErrorContains(t, err, "no authentication configured", "New's errors are returned")
}

// TestClose: Close stops the chains built against the cluster, then the
// cluster; a second Close does nothing; NewChain afterwards fails.
func TestClose(t *testing.T) {
	noLeaks(t)
	cluster, err := aggauthtest.StartCluster(aggauthtest.Options{})
	require.NoError(t, err)
	for range 2 {
		_, err := cluster.NewChain(aggauth.Options{Logger: quiet})
		require.NoError(t, err)
	}
	cluster.Close()
	cluster.Close()
	_, err = cluster.NewChain(aggauth.Options{Logger: quiet})
	assert.Error(t, err)
}

// TestRESTConfig: a client of the test's own reaches the cluster.
func TestRESTConfig(t *testing.T) {
	noLeaks(t)
	cluster := aggauthtest.NewCluster(t, aggauthtest.Options{TerminatingNamespaces: []string{"old"}})
	client, err := kubernetes.NewForConfig(cluster.RESTConfig())
	require.NoError(t, err)
	l, err := client.CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	var names []string
	for _, ns := range l.Items {
		names = append(names, ns.Name+":"+string(ns.Status.Phase))
	}
	assert.Equal(t, []string{"default:Active", "kube-system:Active", "old:Terminating"}, names)
}
