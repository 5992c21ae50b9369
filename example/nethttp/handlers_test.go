package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/aggauthtest"
	"github.com/aggauth/aggauth/example/internal/demo"
)

// TestHandlers: the routes behind the real chain, against a fake cluster where
// alice and carol (who has a token) may use widgets.
func TestHandlers(t *testing.T) {
	cluster := aggauthtest.NewCluster(t, aggauthtest.Options{
		Rules:  []aggauthtest.Rule{{Users: []string{"alice", "carol"}, Resources: []string{"widgets"}}},
		Tokens: map[string]user.Info{"carol-token": &user.DefaultInfo{Name: "carol"}},
	})
	chain, err := cluster.NewChain(aggauth.Options{})
	require.NoError(t, err)
	disc, err := demo.Discovery()
	require.NoError(t, err)
	h := routes(chain, disc, demo.NewStore(), http.NotFoundHandler())
	alice, carol := cluster.FrontProxy().As("alice"), aggauthtest.BearerToken("carol-token")
	for i, tt := range []struct {
		who        aggauthtest.Caller
		method, ns string
		want       int
	}{
		{alice, "GET", "default", 200}, {alice, "GET", "default", 200}, // one review: cached
		{cluster.FrontProxy().As("bob"), "GET", "default", 403},
		{aggauthtest.Caller{}.As("alice"), "GET", "default", 401}, // a spoofed header
		{cluster.RogueProxy().As("alice"), "GET", "default", 401},
		{carol, "GET", "default", 200}, {carol, "GET", "default", 200}, // one token review
		{alice, "POST", "default", 201}, {alice, "POST", "nowhere", 404},
	} {
		rec := tt.who.Do(h, tt.method, "/apis/demo.aggauth.io/v1/namespaces/"+tt.ns+"/widgets", strings.NewReader(`{"metadata":{"name":"w1"}}`))
		assert.Equal(t, tt.want, rec.Code, "row %d, %s in %s: got %d %s; want %d", i, tt.method, tt.ns, rec.Code, rec.Body, tt.want)
	}
	assert.Equal(t, aggauthtest.Counts{SubjectAccessReviews: 5, TokenReviews: 1}, cluster.Counts())
}
