package middleware_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/middleware"
)

// TestEveryAssemblyAddsAuthenticatedGroup: however the Authentication step is
// assembled, an authenticated user gets system:authenticated once, as from
// Kubernetes' delegating authenticator; so RBAC bound to it matches.
func TestEveryAssemblyAddsAuthenticatedGroup(t *testing.T) {
	f := newTokenFixture(t)
	fp, err := authn.NewFrontProxy(authn.FrontProxyOptions{Config: f.holder})
	require.NoError(t, err)
	unionAuth, err := authn.NewUnion(authn.UnionOptions{FrontProxy: fp, Token: f.token})
	require.NoError(t, err)
	anon := authenticator.RequestFunc(func(*http.Request) (*authenticator.Response, bool, error) {
		return &authenticator.Response{User: &user.DefaultInfo{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}}, true, nil
	})
	token := func(r *http.Request) { r.Header.Set("Authorization", "Bearer good-1") }
	proxied := func(r *http.Request) {
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{f.proxy.Cert}}
		r.Header.Set("X-Remote-User", "bob")
		r.Header.Set("X-Remote-Group", "devs")
	}
	tests := []struct {
		name       string
		auth       authenticator.Request
		req        func(*http.Request)
		wantGroups []string
	}{
		{"union, token", unionAuth, token, []string{"devs", user.AllAuthenticated}},
		{"union, front proxy", unionAuth, proxied, []string{"devs", user.AllAuthenticated}},
		{"bare token", f.token, token, []string{"devs", user.AllAuthenticated}},
		{"bare front proxy", fp, proxied, []string{"devs", user.AllAuthenticated}},
		{"Kubernetes' union with its group adder", group.NewAuthenticatedGroupAdder(union.New(f.token)), token, []string{"devs", user.AllAuthenticated}},
		{"anonymous keeps its groups", anon, func(*http.Request) {}, []string{user.AllUnauthenticated}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, err := middleware.NewAuthentication(middleware.AuthenticationOptions{Authenticator: tt.auth})
			require.NoError(t, err)
			var got user.Info
			h := step.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got, _ = request.UserFrom(r.Context()) }))
			req := httptest.NewRequest(http.MethodGet, "/apis/demo.aggauth.io/v1/widgets", nil)
			tt.req(req)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			require.NotNil(t, got)
			assert.Equal(t, tt.wantGroups, got.GetGroups())
		})
	}
}
