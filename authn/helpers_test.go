package authn_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/testpki"
)

// pki is the set of authorities and certificates most tests use.
type pki struct {
	proxyCA, clientCA, otherCA *testpki.Cert
	proxy                      *testpki.Cert // CN front-proxy-client, from proxyCA
	alice                      *testpki.Cert // CN alice, O dev, from clientCA
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{
		proxyCA:  testpki.NewCA("front-proxy-ca", testpki.ECDSA),
		clientCA: testpki.NewCA("client-ca", testpki.ECDSA),
		otherCA:  testpki.NewCA("other-ca", testpki.ECDSA),
	}
	p.proxy = p.proxyCA.Issue(testpki.Spec{CommonName: "front-proxy-client"})
	p.alice = p.clientCA.Issue(testpki.Spec{CommonName: "alice", Organizations: []string{"dev", "ops"}})
	return p
}

func bundle(t testing.TB, certs ...*testpki.Cert) *authn.CABundle {
	t.Helper()
	b, err := authn.NewCABundle(testpki.Bundle(certs...))
	require.NoError(t, err)
	return b
}

// newRequest builds a request presenting certs (leaf first) with the headers given
// as name, value pairs (a name may repeat).
func newRequest(certs []*testpki.Cert, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/apis/demo.aggauth.io/v1/widgets", nil)
	if certs != nil {
		st := &tls.ConnectionState{}
		for _, c := range certs {
			st.PeerCertificates = append(st.PeerCertificates, c.Cert)
		}
		r.TLS = st
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header[headers[i]] = append(r.Header[headers[i]], headers[i+1])
	}
	return r
}

func chain(certs ...*testpki.Cert) []*testpki.Cert { return certs }

func frontProxy(t testing.TB, cfg *authn.RequestHeaderConfig) (*authn.FrontProxy, *authn.DynamicRequestHeader) {
	t.Helper()
	holder := authn.NewDynamicRequestHeader(cfg)
	fp, err := authn.NewFrontProxy(authn.FrontProxyOptions{Config: holder})
	require.NoError(t, err)
	return fp, holder
}

func info(name, uid string, groups []string, extra map[string][]string) *user.DefaultInfo {
	return &user.DefaultInfo{Name: name, UID: uid, Groups: groups, Extra: extra}
}

// sameUser compares two users the way an authorizer sees them: a nil and an empty
// extra map are the same.
func sameUser(t testing.TB, want, got user.Info) {
	t.Helper()
	require.Equal(t, want.GetName(), got.GetName(), "name")
	require.Equal(t, want.GetUID(), got.GetUID(), "uid")
	require.Equal(t, want.GetGroups(), got.GetGroups(), "groups")
	we, ge := want.GetExtra(), got.GetExtra()
	if len(we) == 0 && len(ge) == 0 {
		return
	}
	require.Equal(t, we, ge, "extra")
}
