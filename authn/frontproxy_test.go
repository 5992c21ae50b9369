package authn_test

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/testpki"
)

func TestFrontProxy(t *testing.T) {
	p := newPKI(t)
	now := time.Now()
	intermediate := p.proxyCA.Issue(testpki.Spec{CommonName: "proxy-intermediate", IsCA: true})
	viaIntermediate := intermediate.Issue(testpki.Spec{CommonName: "front-proxy-client"})
	expired := p.proxyCA.Issue(testpki.Spec{CommonName: "front-proxy-client", NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)})
	notYet := p.proxyCA.Issue(testpki.Spec{CommonName: "front-proxy-client", NotBefore: now.Add(time.Hour), NotAfter: now.Add(48 * time.Hour)})
	serverOnly := p.proxyCA.Issue(testpki.Spec{CommonName: "front-proxy-client", ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	noEKU := p.proxyCA.Issue(testpki.Spec{CommonName: "front-proxy-client", ExtKeyUsages: testpki.NoExtKeyUsage})
	otherCN := p.proxyCA.Issue(testpki.Spec{CommonName: "Front-Proxy-Client"})
	rsaProxy := p.proxyCA.Issue(testpki.Spec{CommonName: "front-proxy-client", Key: testpki.RSA})
	fromOther := p.otherCA.Issue(testpki.Spec{CommonName: "front-proxy-client"})

	ids := []string{"X-Remote-User", "bob", "X-Remote-Group", "g1"}
	bob := info("bob", "", []string{"g1"}, nil)

	tests := []struct {
		name    string
		cfg     *authn.RequestHeaderConfig
		req     *http.Request
		want    *user.DefaultInfo // nil: no user
		wantErr string            // "" : no error
	}{
		{name: "no TLS", req: newRequest(nil, ids...)},
		{name: "TLS without certificate", req: newRequest(chain(), ids...)},
		{name: "valid proxy", req: newRequest(chain(p.proxy), ids...), want: bob},
		{name: "RSA proxy", req: newRequest(chain(rsaProxy), ids...), want: bob},
		{name: "via intermediate", req: newRequest(chain(viaIntermediate, intermediate), ids...), want: bob},
		{name: "intermediate missing", req: newRequest(chain(viaIntermediate), ids...), wantErr: "unknown authority"},
		{name: "user client certificate", req: newRequest(chain(p.alice), ids...), wantErr: "unknown authority"},
		{name: "unknown CA", req: newRequest(chain(fromOther), ids...), wantErr: "unknown authority"},
		{name: "expired", req: newRequest(chain(expired), ids...), wantErr: "expired"},
		{name: "not yet valid", req: newRequest(chain(notYet), ids...), wantErr: "not yet valid"},
		{name: "serverAuth only", req: newRequest(chain(serverOnly), ids...), wantErr: "incompatible key usage"},
		{name: "no EKU extension is any usage", req: newRequest(chain(noEKU), ids...), want: bob},
		{name: "CN not allowed (case differs)", req: newRequest(chain(otherCN), ids...), wantErr: "cn=Front-Proxy-Client is not in the allowed list"},
		{name: "empty allowed names allow any CN", cfg: authn.NewRequestHeaderConfig(bundle(t, p.proxyCA)), req: newRequest(chain(otherCN), ids...), want: bob},
		{name: "empty username is no opinion", req: newRequest(chain(p.proxy), "X-Remote-User", "", "X-Remote-Group", "g1")},
		{name: "missing username is no opinion", req: newRequest(chain(p.proxy), "X-Remote-Group", "g1")},
		{name: "only the first value of the username header", req: newRequest(chain(p.proxy), "X-Remote-User", "", "X-Remote-User", "mallory")},
		{name: "first of repeated usernames", req: newRequest(chain(p.proxy), "X-Remote-User", "bob", "X-Remote-User", "mallory"), want: info("bob", "", []string{}, nil)},
		{name: "groups in order, empty dropped, commas kept", req: newRequest(chain(p.proxy), "X-Remote-User", "bob", "X-Remote-Group", "g1", "X-Remote-Group", "", "X-Remote-Group", "g2,g3"),
			want: info("bob", "", []string{"g1", "g2,g3"}, nil)},
		{name: "uid ignored unless configured", req: newRequest(chain(p.proxy), "X-Remote-User", "bob", "X-Remote-Uid", "42"), want: info("bob", "", []string{}, nil)},
		{name: "uid when configured", cfg: withUID(authn.NewRequestHeaderConfig(bundle(t, p.proxyCA), "front-proxy-client")),
			req: newRequest(chain(p.proxy), "X-Remote-User", "bob", "X-Remote-Uid", "42"), want: info("bob", "42", []string{}, nil)},
		{name: "extra keys lower-cased then unescaped", req: newRequest(chain(p.proxy), "X-Remote-User", "bob",
			"X-Remote-Extra-Authentication.kubernetes.io%2fcredential-Id", "X509SHA256=ab",
			"X-Remote-Extra-A%2Fb", "1", "X-Remote-Extra-Bad%zz", "2", "X-Remote-Extra-Pct%25", "3", "X-Remote-Extra-Keep%41", "4", "X-Remote-Extra-Empty", ""),
			want: info("bob", "", []string{}, map[string][]string{
				"authentication.kubernetes.io/credential-id": {"X509SHA256=ab"},
				"a/b": {"1"}, "bad%zz": {"2"}, "pct%": {"3"}, "keepA": {"4"}, "empty": {""}})},
		// Header.Get canonicalizes: lower-case map keys are not found for the username.
		{name: "header names in other case (non-canonical map keys)", req: newRequest(chain(p.proxy), "x-remote-extra-scopes", "s1", "X-REMOTE-EXTRA-SCOPES", "s2")},

		{name: "header names with canonical keys", req: newRequest(chain(p.proxy), http.CanonicalHeaderKey("x-remote-user"), "bob", "x-remote-extra-scopes", "s1"),
			want: info("bob", "", []string{}, map[string][]string{"scopes": {"s1"}})},
		{name: "no config loaded", cfg: nil, req: newRequest(chain(p.proxy), ids...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg == nil && tt.name != "no config loaded" {
				cfg = authn.NewRequestHeaderConfig(bundle(t, p.proxyCA), "front-proxy-client")
			}
			fp, _ := frontProxy(t, cfg)
			resp, ok, err := fp.AuthenticateRequest(tt.req)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.False(t, ok)
				return
			}
			require.NoError(t, err)
			if tt.want == nil {
				assert.False(t, ok, "got a user; want no opinion")
				assert.Nil(t, resp)
				return
			}
			require.True(t, ok)
			sameUser(t, tt.want, resp.User)
			fp.ClearHeaders(tt.req.Header)
			for k := range tt.req.Header {
				assert.False(t, strings.HasPrefix(strings.ToLower(k), "x-remote-"), "header %s left on the request", k)
			}
		})
	}
}

func withUID(c *authn.RequestHeaderConfig) *authn.RequestHeaderConfig {
	c.UIDHeaders = []string{"X-Remote-Uid"}
	return c
}

func TestFrontProxyCustomHeaders(t *testing.T) {
	p := newPKI(t)
	cfg := &authn.RequestHeaderConfig{
		CA:                  bundle(t, p.proxyCA),
		UsernameHeaders:     []string{" X-Proxy-User ", "X-Remote-User"},
		UIDHeaders:          []string{"X-Proxy-Uid"},
		GroupHeaders:        []string{"X-Proxy-Group", "X-Remote-Group"},
		ExtraHeaderPrefixes: []string{"X-Proxy-Extra-", "X-Proxy-"},
	}
	fp, _ := frontProxy(t, cfg)
	req := newRequest(chain(p.proxy), "X-Proxy-User", "", "X-Remote-User", "carol", "X-Proxy-Uid", "7",
		"X-Remote-Group", "b", "X-Proxy-Group", "a", "X-Proxy-Extra-K", "v", "X-Remote-Extra-Std", "s", "Other", "o")
	resp, ok, err := fp.AuthenticateRequest(req)
	require.NoError(t, err)
	require.True(t, ok)
	// Overlapping prefixes: X-Proxy-Extra-K matches both, as in Kubernetes.
	sameUser(t, info("carol", "7", []string{"a", "b"}, map[string][]string{
		"k": {"v"}, "extra-k": {"v"}, "user": {""}, "uid": {"7"}, "group": {"a"},
	}), resp.User)
	fp.ClearHeaders(req.Header)
	assert.Equal(t, http.Header{"Other": {"o"}}, req.Header)
}

func TestFrontProxyThousandsOfExtraHeaders(t *testing.T) {
	p := newPKI(t)
	fp, _ := frontProxy(t, authn.NewRequestHeaderConfig(bundle(t, p.proxyCA), "front-proxy-client"))
	h := []string{"X-Remote-User", "bob"}
	for i := range 5000 {
		h = append(h, fmt.Sprintf("X-Remote-Extra-Key%d", i), fmt.Sprint(i))
	}
	req := newRequest(chain(p.proxy), h...)
	resp, ok, err := fp.AuthenticateRequest(req)
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, resp.User.GetExtra(), 5000)
	assert.Equal(t, []string{"4999"}, resp.User.GetExtra()["key4999"])
	assert.Empty(t, req.Header)
}

func TestNewFrontProxyNeedsConfig(t *testing.T) {
	_, err := authn.NewFrontProxy(authn.FrontProxyOptions{})
	require.ErrorContains(t, err, "Config is required")
}

func TestRequestHeaderConfigValidate(t *testing.T) {
	p := newPKI(t)
	ok := authn.NewRequestHeaderConfig(bundle(t, p.proxyCA))
	require.NoError(t, ok.Validate())
	require.ErrorContains(t, (&authn.RequestHeaderConfig{}).Validate(), "no CA")
	bad := authn.NewRequestHeaderConfig(bundle(t, p.proxyCA))
	bad.GroupHeaders = []string{"X-Remote-Group", "  "}
	require.ErrorContains(t, bad.Validate(), "empty group header")
	var d authn.DynamicRequestHeader
	require.Error(t, d.Set(bad))
	assert.Nil(t, d.RequestHeaderConfig(), "an invalid config must not be put in force")
	assert.Panics(t, func() { authn.NewDynamicRequestHeader(bad) })
}
