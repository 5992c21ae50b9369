package aggauth_test

// The README's "Testing your handlers" (README.md), the test of its complete
// server (readme_example_test.go), as the README shows it: TestReadme checks
// that they stay the same.

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/aggauthtest"
)

// TestWidgets serves the routes through the real chain, against a fake
// cluster where alice may use widgets and carol may only list them.
func TestWidgets(t *testing.T) {
	cluster := aggauthtest.NewCluster(t, aggauthtest.Options{
		Rules: []aggauthtest.Rule{
			{Users: []string{"alice"}, Resources: []string{"widgets"}},
			{Users: []string{"carol"}, Verbs: []string{"list"}, Resources: []string{"widgets"}},
		},
		Tokens: map[string]user.Info{"carol-token": &user.DefaultInfo{Name: "carol"}},
	})
	chain, err := cluster.NewChain(aggauth.Options{})
	require.NoError(t, err)
	h, err := routes(chain, &widgetStore{})
	require.NoError(t, err)

	const widgets = "/apis/demo.aggauth.io/v1/namespaces/default/widgets"
	alice := cluster.FrontProxy().As("alice") // as kube-apiserver's aggregator forwards alice
	tests := []struct {
		name         string
		caller       aggauthtest.Caller
		method, path string
		body         string
		want         int
	}{
		{"alice creates", alice, "POST", widgets, `{"metadata":{"name":"w1"}}`, http.StatusCreated},
		{"alice lists", alice, "GET", widgets, "", http.StatusOK},
		{"alice lists again: the review is cached", alice, "GET", widgets, "", http.StatusOK},
		{"bob is not allowed", cluster.FrontProxy().As("bob"), "GET", widgets, "", http.StatusForbidden},
		{"a spoofed X-Remote-User", aggauthtest.Caller{}.As("alice"), "GET", widgets, "", http.StatusUnauthorized},
		{"a rogue proxy", cluster.RogueProxy().As("alice"), "GET", widgets, "", http.StatusUnauthorized},
		{"carol's token lists", aggauthtest.BearerToken("carol-token"), "GET", widgets, "", http.StatusOK},
		{"carol's token may not create", aggauthtest.BearerToken("carol-token"), "POST", widgets, `{"metadata":{"name":"w2"}}`, http.StatusForbidden},
		{"no such namespace", alice, "POST", strings.Replace(widgets, "default", "nowhere", 1), `{"metadata":{"name":"w1"}}`, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.caller.Do(h, tt.method, tt.path, strings.NewReader(tt.body))
			assert.Equal(t, tt.want, rec.Code, "got %d %s; want %d", rec.Code, rec.Body, tt.want)
		})
	}
	// alice's create, list, create elsewhere; bob; carol's list and create.
	assert.Equal(t, aggauthtest.Counts{SubjectAccessReviews: 6, TokenReviews: 1}, cluster.Counts())
}
