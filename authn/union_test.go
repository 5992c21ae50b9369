package authn_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/testpki"
)

func newUnion(t *testing.T, p *pki, anonymous bool) *authn.Union {
	t.Helper()
	fp, _ := frontProxy(t, authn.NewRequestHeaderConfig(bundle(t, p.proxyCA), "front-proxy-client"))
	cc, err := authn.NewClientCert(authn.ClientCertOptions{CA: authn.StaticCA{Bundle: bundle(t, p.clientCA)}})
	require.NoError(t, err)
	u, err := authn.NewUnion(authn.UnionOptions{FrontProxy: fp, ClientCert: cc, Anonymous: anonymous})
	require.NoError(t, err)
	return u
}

func TestUnion(t *testing.T) {
	p := newPKI(t)
	stranger := p.otherCA.Issue(testpki.Spec{CommonName: "mallory", Organizations: []string{"system:masters"}})
	aliceExtra := map[string][]string{user.CredentialIDKey: {credID(p.alice)}}
	tests := []struct {
		name      string
		anonymous bool
		certs     []*testpki.Cert
		headers   []string
		want      *user.DefaultInfo
		wantErr   bool
	}{
		{name: "proxy user gets system:authenticated", certs: chain(p.proxy), headers: []string{"X-Remote-User", "bob", "X-Remote-Group", "g"},
			want: info("bob", "", []string{"g", user.AllAuthenticated}, nil)},
		{name: "system:authenticated not added twice", certs: chain(p.proxy), headers: []string{"X-Remote-User", "bob", "X-Remote-Group", user.AllAuthenticated},
			want: info("bob", "", []string{user.AllAuthenticated}, nil)},
		{name: "not added to system:unauthenticated", certs: chain(p.proxy), headers: []string{"X-Remote-User", "bob", "X-Remote-Group", user.AllUnauthenticated},
			want: info("bob", "", []string{user.AllUnauthenticated}, nil)},
		{name: "not added to system:anonymous", certs: chain(p.proxy), headers: []string{"X-Remote-User", user.Anonymous},
			want: info(user.Anonymous, "", []string{}, nil)},
		{name: "client certificate user; identity headers ignored", certs: chain(p.alice), headers: []string{"X-Remote-User", "bob", "X-Remote-Group", "system:masters"},
			want: info("alice", "", []string{"dev", "ops", user.AllAuthenticated}, aliceExtra)},
		{name: "headers without certificate: nobody", headers: []string{"X-Remote-User", "bob"}},
		{name: "headers without certificate, anonymous on", anonymous: true, headers: []string{"X-Remote-User", "bob"},
			want: info(user.Anonymous, "", []string{user.AllUnauthenticated}, nil)},
		{name: "unknown CA is an error", certs: chain(stranger), headers: []string{"X-Remote-User", "bob"}, wantErr: true},
		{name: "unknown CA is an error, never anonymous", anonymous: true, certs: chain(stranger), headers: []string{"X-Remote-User", "bob"}, wantErr: true},
		{name: "proxy without username falls to client cert, which refuses", certs: chain(p.proxy), wantErr: true},
		{name: "proxy without username, anonymous on: still refused", anonymous: true, certs: chain(p.proxy), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUnion(t, p, tt.anonymous)
			resp, ok, err := u.AuthenticateRequest(newRequest(tt.certs, tt.headers...))
			if tt.wantErr {
				require.Error(t, err)
				require.False(t, ok)
				return
			}
			require.NoError(t, err)
			if tt.want == nil {
				require.False(t, ok)
				return
			}
			require.True(t, ok)
			sameUser(t, tt.want, resp.User)
		})
	}
}

func TestUnionRefusesSharedCAWithoutAllowedNames(t *testing.T) {
	p := newPKI(t)
	shared := bundle(t, p.clientCA)
	cc, err := authn.NewClientCert(authn.ClientCertOptions{CA: authn.StaticCA{Bundle: shared}})
	require.NoError(t, err)

	fp, _ := frontProxy(t, authn.NewRequestHeaderConfig(bundle(t, p.proxyCA, p.clientCA)))
	_, err = authn.NewUnion(authn.UnionOptions{FrontProxy: fp, ClientCert: cc})
	require.ErrorIs(t, err, authn.ErrSharedCA)

	u, err := authn.NewUnion(authn.UnionOptions{FrontProxy: fp, ClientCert: cc, AllowSharedCA: true})
	require.NoError(t, err)
	resp, ok, err := u.AuthenticateRequest(newRequest(chain(p.alice), "X-Remote-User", "root"))
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "root", resp.User.GetName(), "explicitly allowed: the headers speak")

	fpNamed, _ := frontProxy(t, authn.NewRequestHeaderConfig(bundle(t, p.proxyCA, p.clientCA), "front-proxy-client"))
	_, err = authn.NewUnion(authn.UnionOptions{FrontProxy: fpNamed, ClientCert: cc})
	require.NoError(t, err, "allowed names make a shared CA safe")
}

// A configuration that becomes unsafe at runtime fails closed for header identities.
func TestUnionSharedCAAtRuntimeFailsClosed(t *testing.T) {
	p := newPKI(t)
	fp, holder := frontProxy(t, authn.NewRequestHeaderConfig(bundle(t, p.proxyCA)))
	cc, err := authn.NewClientCert(authn.ClientCertOptions{CA: authn.StaticCA{Bundle: bundle(t, p.clientCA)}})
	require.NoError(t, err)
	u, err := authn.NewUnion(authn.UnionOptions{FrontProxy: fp, ClientCert: cc})
	require.NoError(t, err)

	require.NoError(t, holder.Set(authn.NewRequestHeaderConfig(bundle(t, p.clientCA))))
	resp, ok, err := u.AuthenticateRequest(newRequest(chain(p.alice), "X-Remote-User", "root"))
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "alice", resp.User.GetName(), "the headers must not be trusted")
	_, ok, err = u.AuthenticateRequest(newRequest(chain(p.proxy), "X-Remote-User", "root"))
	require.ErrorIs(t, err, authn.ErrSharedCA)
	require.False(t, ok)
}

func TestNewUnionNeedsAnAuthenticator(t *testing.T) {
	_, err := authn.NewUnion(authn.UnionOptions{Anonymous: true})
	require.Error(t, err)
}
