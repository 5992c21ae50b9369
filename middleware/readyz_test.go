package middleware_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"

	"github.com/aggauth/aggauth/internal/testutil"
	"github.com/aggauth/aggauth/middleware"
)

// TestReadyzWithholdsReasons: /readyz answers anyone, so it names the failed
// checks without why (kube-apiserver's "reason withheld"); the reason goes to
// the log, and to a caller the chain authenticates and authorizes for
// /readyz/<name>.
func TestReadyzWithholdsReasons(t *testing.T) {
	f := newAuthnFixture(t, false)
	var logBuf bytes.Buffer
	secret := errors.New(`ConfigMap kube-system/extension-apiserver-authentication has no requestheader-client-ca-file`)
	chain, err := middleware.NewChain(middleware.ChainOptions{
		Authentication: middleware.AuthenticationOptions{Authenticator: f.union, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))},
		Authorization:  middleware.AuthorizationOptions{Authorizer: authorizerfactory.NewAlwaysAllowAuthorizer()},
		ReadyChecks: []middleware.ReadyCheck{
			{Name: "authentication-config", Check: func() error { return secret }},
			{Name: "informers", Check: func() error { return nil }},
		},
	})
	require.NoError(t, err)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("next " + r.URL.Path)) })
	h := chain.Handler(next)
	serve := func(path string, asAlice bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if asAlice {
			req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{f.alice.Cert}}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	rec := serve("/readyz", false)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "not ready: authentication-config: reason withheld", testutil.RecordedStatus(t, rec).Message)
	assert.NotContains(t, rec.Body.String(), "ConfigMap")
	assert.Contains(t, logBuf.String(), "has no requestheader-client-ca-file", "the reason is logged")

	rec = serve("/readyz/authentication-config", false)
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "a check's reason needs credentials")
	rec = serve("/readyz/authentication-config", true)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "not ready: authentication-config: "+secret.Error(), testutil.RecordedStatus(t, rec).Message)
	rec = serve("/readyz/informers", true)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "ok", rec.Body.String())
	rec = serve("/readyz/unknown", true)
	assert.Equal(t, "next /readyz/unknown", rec.Body.String(), "not a check: the next handler's")
}
