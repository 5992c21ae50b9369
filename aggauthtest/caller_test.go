package aggauthtest_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aggauth/aggauth/aggauthtest"
)

// TestNewRequest: a request as a TLS server hands it over, with the caller's
// certificate as the peer certificate and its headers.
func TestNewRequest(t *testing.T) {
	cluster := aggauthtest.NewCluster(t, aggauthtest.Options{})
	tests := []struct {
		name       string
		caller     aggauthtest.Caller
		body       io.Reader
		wantCN     string // of the peer certificate; "" for none
		wantHeader http.Header
	}{
		{"no credentials", aggauthtest.Caller{}, nil, "", http.Header{}},
		{"front proxy", cluster.FrontProxy().As("alice", "a", "b"), nil, aggauthtest.ProxyCommonName,
			http.Header{"X-Remote-User": {"alice"}, "X-Remote-Group": {"a", "b"}}},
		{"user", cluster.User("bob", "devs"), nil, "bob", http.Header{}},
		{"token, a body", aggauthtest.BearerToken("tok"), strings.NewReader("{}"), "",
			http.Header{"Authorization": {"Bearer tok"}, "Content-Type": {"application/json"}}},
		{"own content type", aggauthtest.Caller{}.WithHeader("Content-Type", "application/merge-patch+json"), strings.NewReader("{}"), "",
			http.Header{"Content-Type": {"application/merge-patch+json"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.caller.NewRequest(http.MethodPost, "/apis/x", tt.body)
			require.NotNil(t, req.TLS)
			assert.True(t, req.TLS.HandshakeComplete)
			if tt.wantCN == "" {
				assert.Empty(t, req.TLS.PeerCertificates)
			} else {
				require.Len(t, req.TLS.PeerCertificates, 1)
				assert.Equal(t, tt.wantCN, req.TLS.PeerCertificates[0].Subject.CommonName)
			}
			assert.Equal(t, tt.wantHeader, req.Header)
		})
	}
	if cert := cluster.User("bob", "devs").NewRequest(http.MethodGet, "/", nil).TLS.PeerCertificates[0]; assert.NotNil(t, cert) {
		assert.Equal(t, []string{"devs"}, cert.Subject.Organization)
	}
}

// TestCallerIsAValue: As and WithHeader leave the caller they are called on
// unchanged.
func TestCallerIsAValue(t *testing.T) {
	base := aggauthtest.Caller{}.As("alice", "a")
	_ = base.As("bob").WithHeader("X-Other", "1")
	got := base.NewRequest(http.MethodGet, "/", nil).Header
	assert.Equal(t, http.Header{"X-Remote-User": {"alice"}, "X-Remote-Group": {"a"}}, got)
}

// TestClient: over TLS, the client presents the caller's certificate and adds
// its headers to requests that do not set them.
func TestClient(t *testing.T) {
	noLeaks(t)
	cluster := aggauthtest.NewCluster(t, aggauthtest.Options{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := "none"
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		_, _ = io.WriteString(w, cn+" "+r.Header.Get("X-Remote-User")+" "+strings.Join(r.Header.Values("X-Remote-Group"), ","))
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tests := []struct {
		name   string
		caller aggauthtest.Caller
		header http.Header
		want   string
	}{
		{"front proxy", cluster.FrontProxy().As("alice", "a", "b"), nil, aggauthtest.ProxyCommonName + " alice a,b"},
		{"the request's headers win", cluster.FrontProxy().As("alice"), http.Header{"X-Remote-User": {"bob"}}, aggauthtest.ProxyCommonName + " bob "},
		{"user", cluster.User("carol"), nil, "carol  "},
		{"no certificate", aggauthtest.Caller{}.As("alice"), nil, "none alice "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := tt.caller.Client(srv.Client())
			defer client.CloseIdleConnections()
			req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
			require.NoError(t, err)
			req.Header = tt.header
			if req.Header == nil {
				req.Header = http.Header{}
			}
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(body))
			assert.Equal(t, 2, resp.ProtoMajor, "HTTP/2, as srv.Client() speaks it")
		})
	}
	assert.PanicsWithValue(t, "aggauthtest: Client: base.Transport is a *aggauthtest_test.roundTripper; want an *http.Transport", func() {
		aggauthtest.Caller{}.Client(&http.Client{Transport: &roundTripper{}})
	})
}

type roundTripper struct{ http.RoundTripper }
