package middleware_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/testpki"
	"github.com/aggauth/aggauth/middleware"
	"github.com/aggauth/aggauth/serving"
)

type authnFixture struct {
	proxyCA, clientCA *testpki.Cert
	proxy, alice      *testpki.Cert
	holder            *authn.DynamicRequestHeader
	union             *authn.Union
	seenUser          user.Info
	seenHeader        http.Header
	handler           http.Handler
}

func newAuthnFixture(t *testing.T, anonymous bool) *authnFixture {
	t.Helper()
	f := &authnFixture{
		proxyCA:  testpki.NewCA("front-proxy-ca", testpki.ECDSA),
		clientCA: testpki.NewCA("client-ca", testpki.ECDSA),
	}
	f.proxy = f.proxyCA.Issue(testpki.Spec{CommonName: "front-proxy-client"})
	f.alice = f.clientCA.Issue(testpki.Spec{CommonName: "alice"})
	proxyBundle, err := authn.NewCABundle(f.proxyCA.PEM())
	require.NoError(t, err)
	clientBundle, err := authn.NewCABundle(f.clientCA.PEM())
	require.NoError(t, err)
	f.holder = authn.NewDynamicRequestHeader(authn.NewRequestHeaderConfig(proxyBundle, "front-proxy-client"))
	fp, err := authn.NewFrontProxy(authn.FrontProxyOptions{Config: f.holder})
	require.NoError(t, err)
	cc, err := authn.NewClientCert(authn.ClientCertOptions{CA: authn.StaticCA{Bundle: clientBundle}})
	require.NoError(t, err)
	f.union, err = authn.NewUnion(authn.UnionOptions{FrontProxy: fp, ClientCert: cc, Anonymous: anonymous})
	require.NoError(t, err)
	mw, err := middleware.NewAuthentication(middleware.AuthenticationOptions{Authenticator: f.union})
	require.NoError(t, err)
	f.handler = mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.seenUser, _ = request.UserFrom(r.Context())
		f.seenHeader = r.Header.Clone()
		w.WriteHeader(http.StatusOK)
	}))
	return f
}

func TestAuthenticate(t *testing.T) {
	spoof := []string{"X-Remote-User", "root", "X-Remote-Group", "system:masters", "x-remote-uid", "0",
		"X-Remote-Extra-Scopes", "all", "X-REMOTE-EXTRA-Other", "x", "Authorization", "Bearer t", "Accept", "application/json"}
	tests := []struct {
		name      string
		anonymous bool
		certs     func(f *authnFixture) []*testpki.Cert
		wantCode  int
		wantUser  string
	}{
		{name: "proxy", certs: func(f *authnFixture) []*testpki.Cert { return []*testpki.Cert{f.proxy} }, wantCode: 200, wantUser: "root"},
		{name: "client certificate", certs: func(f *authnFixture) []*testpki.Cert { return []*testpki.Cert{f.alice} }, wantCode: 200, wantUser: "alice"},
		{name: "no certificate", certs: func(*authnFixture) []*testpki.Cert { return nil }, wantCode: 401},
		{name: "no certificate, anonymous", anonymous: true, certs: func(*authnFixture) []*testpki.Cert { return nil }, wantCode: 200, wantUser: user.Anonymous},
		{name: "stranger", anonymous: true, certs: func(*authnFixture) []*testpki.Cert {
			return []*testpki.Cert{testpki.NewCA("x", testpki.ECDSA).Issue(testpki.Spec{CommonName: "front-proxy-client"})}
		}, wantCode: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAuthnFixture(t, tt.anonymous)
			req := httptest.NewRequest(http.MethodGet, "/apis/demo.aggauth.io/v1/widgets", nil)
			for i := 0; i < len(spoof); i += 2 {
				req.Header.Add(spoof[i], spoof[i+1])
			}
			if certs := tt.certs(f); certs != nil {
				req.TLS = &tls.ConnectionState{}
				for _, c := range certs {
					req.TLS.PeerCertificates = append(req.TLS.PeerCertificates, c.Cert)
				}
			}
			rec := httptest.NewRecorder()
			f.handler.ServeHTTP(rec, req)
			require.Equal(t, tt.wantCode, rec.Code, rec.Body.String())
			if tt.wantCode == http.StatusUnauthorized {
				assert.JSONEq(t, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`, rec.Body.String())
				assert.Nil(t, f.seenUser, "the next handler must not run")
				return
			}
			require.NotNil(t, f.seenUser)
			assert.Equal(t, tt.wantUser, f.seenUser.GetName())
			assert.Equal(t, http.Header{"Accept": {"application/json"}}, f.seenHeader, "identity headers must be removed")
		})
	}
}

func TestAuthenticateNeedsAnAuthenticator(t *testing.T) {
	_, err := middleware.NewAuthentication(middleware.AuthenticationOptions{})
	require.Error(t, err)
}

// TestAuthenticateOverRealTLS runs the middleware behind the TLS configuration on
// a real HTTP/2 server: the proxy is authenticated, and after a CA rotation the
// old proxy certificate is refused on the next request of the same connection,
// while a new connection with the new certificate is accepted.
func TestAuthenticateOverRealTLS(t *testing.T) {
	f := newAuthnFixture(t, false)
	servingCA := testpki.NewCA("serving-ca", testpki.ECDSA)
	servingCert := servingCA.Issue(testpki.Spec{CommonName: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	tc := servingCert.TLSCertificate()
	tlsCfg, err := serving.TLSConfig(serving.TLSOptions{Certificate: &tc,
		ClientCAs: []func() []*x509.Certificate{authn.CACertificates(authn.RequestHeaderCA(f.holder))}})
	require.NoError(t, err)

	var accepted []string
	srv := httptest.NewUnstartedServer(f.handler)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.handler.ServeHTTP(w, r)
		if f.seenUser != nil {
			accepted = append(accepted, r.TLS.PeerCertificates[0].Subject.CommonName)
		}
	})
	srv.TLS = tlsCfg
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	newClient := func(cert *testpki.Cert) *http.Client {
		return &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{
			RootCAs: servingCA.Pool(), Certificates: []tls.Certificate{cert.TLSCertificate()},
		}}}
	}
	get := func(c *http.Client) *http.Response {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/apis/demo.aggauth.io/v1", nil)
		require.NoError(t, err)
		req.Header.Set("X-Remote-User", "bob")
		f.seenUser = nil
		res, err := c.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res
	}
	old := newClient(f.proxy)
	res := get(old)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, 2, res.ProtoMajor)
	assert.Equal(t, "bob", f.seenUser.GetName())

	newCA := testpki.NewCA("front-proxy-ca-2", testpki.ECDSA)
	newProxy := newCA.Issue(testpki.Spec{CommonName: "front-proxy-client"})
	newBundle, err := authn.NewCABundle(newCA.PEM())
	require.NoError(t, err)
	require.NoError(t, f.holder.Set(authn.NewRequestHeaderConfig(newBundle, "front-proxy-client")))

	res = get(old) // same kept-alive connection
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	res = get(newClient(newProxy))
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, []string{"front-proxy-client", "front-proxy-client"}, accepted)
}

// TestAuthenticationFailureLogsAreBounded: a client that is refused over and
// over, with a huge path and a certificate whose names it chose, writes a few
// short lines, never its own text in full.
func TestAuthenticationFailureLogsAreBounded(t *testing.T) {
	f := newAuthnFixture(t, false)
	var buf bytes.Buffer
	mw, err := middleware.NewAuthentication(middleware.AuthenticationOptions{Authenticator: f.union,
		Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	require.NoError(t, err)
	h := mw.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Fatal("handler reached") }))
	attacker := testpki.NewCA(strings.Repeat("C", 10000), testpki.ECDSA)
	path := "/" + strings.Repeat("%0a", 100000)
	const n = 1000
	for range n {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = path
		req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{attacker.Cert}}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusUnauthorized, rec.Code)
	}
	assert.LessOrEqual(t, buf.Len(), 512*n/100, "log bytes: %d for %d refused requests", buf.Len(), n)
	line, _, _ := strings.Cut(buf.String(), "\n")
	assert.Less(t, len(line), 512, "one line: %s", line)
	assert.Contains(t, line, "reason=certificate_invalid")
	assert.NotContains(t, buf.String(), "CCCCCCCCCC", "the certificate's names are not logged")
}
