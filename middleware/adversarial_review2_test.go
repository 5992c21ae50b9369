package middleware_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/middleware"
)

// tenantUnion is an application's authenticator built the way Go invites: it
// embeds *authn.Union and overrides ClearHeaders to also remove X-Tenant, an
// identity header its handlers trust (the middleware documents that an
// authenticator implementing ClearHeaders decides which headers are removed).
type tenantUnion struct{ *authn.Union }

func (t tenantUnion) ClearHeaders(h http.Header) {
	t.Union.ClearHeaders(h)
	h.Del("X-Tenant")
}

// denyRootUnion embeds *authn.Union and overrides AuthenticateRequest to
// refuse a user the application has banned.
type denyRootUnion struct{ *authn.Union }

func (d denyRootUnion) AuthenticateRequest(r *http.Request) (*authenticator.Response, bool, error) {
	resp, ok, err := d.Union.AuthenticateRequest(r)
	if ok && resp.User.GetName() == "root" {
		return nil, false, nil
	}
	return resp, ok, err
}

func serveWrapped(t *testing.T, auth authenticator.Request, r *http.Request) (code int, seenUser user.Info, seenHeader http.Header) {
	t.Helper()
	mw, err := middleware.NewAuthentication(middleware.AuthenticationOptions{Authenticator: auth})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenUser, _ = request.UserFrom(r.Context())
		seenHeader = r.Header.Clone()
	})).ServeHTTP(rec, r)
	return rec.Code, seenUser, seenHeader
}

// A type embedding *authn.Union has AuthenticateAndClear promoted. Were the
// middleware to call it (as it did when it chose the one-pass path by that
// method rather than by the concrete *authn.Union), the wrapper's own
// ClearHeaders would never run, and a client's X-Tenant would reach the
// handler: an identity smuggled past the chain. The middleware must call
// the wrapper's AuthenticateRequest, then its ClearHeaders.
func TestAdversarialEmbeddedUnionClearHeadersOverrideIgnored(t *testing.T) {
	f := newAuthnFixture(t, false)
	r := httptest.NewRequest(http.MethodGet, "/apis/demo.aggauth.io/v1/widgets", nil)
	r.Header.Set("X-Remote-User", "alice")
	r.Header.Set("X-Tenant", "someone-else")
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{f.proxy.Cert}}
	code, u, h := serveWrapped(t, tenantUnion{f.union}, r)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "alice", u.GetName())
	if v := h.Get("X-Tenant"); v != "" {
		t.Fatalf("X-Tenant %q reached the handler: the authenticator's ClearHeaders was not called", v)
	}
}

// The same promotion would bypass an overridden AuthenticateRequest: the
// wrapper refuses root, and the embedded Union's AuthenticateAndClear would let
// a request the front proxy forwards for root through. It must get 401.
func TestAdversarialEmbeddedUnionAuthenticateRequestOverrideBypassed(t *testing.T) {
	f := newAuthnFixture(t, false)
	r := httptest.NewRequest(http.MethodGet, "/apis/demo.aggauth.io/v1/widgets", nil)
	r.Header.Set("X-Remote-User", "root")
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{f.proxy.Cert}}
	code, u, _ := serveWrapped(t, denyRootUnion{f.union}, r)
	if code != http.StatusUnauthorized {
		t.Fatalf("the wrapper refuses root, yet the handler ran as %v (code %d): its AuthenticateRequest was bypassed", u, code)
	}
}
