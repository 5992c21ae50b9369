package authn_test

import (
	"crypto/tls"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/transport"

	"github.com/aggauth/aggauth/authn"
)

// randomToken returns a non-empty string of header-safe characters without
// surrounding spaces (HTTP trims those), Unicode included.
func randomToken(r *rand.Rand, alphabet []rune) string {
	n := 1 + r.IntN(12)
	var b strings.Builder
	for b.Len() == 0 || b.Len() < n {
		b.WriteRune(alphabet[r.IntN(len(alphabet))])
	}
	return strings.TrimSpace(b.String() + "z")
}

var (
	valueRunes = []rune("abcXYZ019 :,;=+/_-.@!~*'()[]{}\"\\%üé日本")
	// Extra keys arrive lower-cased (Kubernetes' documented limitation), so only
	// lower-case keys can round trip; every other byte is escaped by the sender.
	keyRunes = []rune("abcxyz019 :,;=+/_-.@!~*'()[]{}\"\\%üé日本")
)

func randomIdentity(r *rand.Rand) *user.DefaultInfo {
	u := &user.DefaultInfo{Name: randomToken(r, valueRunes), Groups: []string{}, Extra: map[string][]string{}}
	for range r.IntN(4) {
		u.Groups = append(u.Groups, randomToken(r, valueRunes))
	}
	for range r.IntN(4) {
		k := randomToken(r, keyRunes)
		for range 1 + r.IntN(3) {
			u.Extra[k] = append(u.Extra[k], randomToken(r, valueRunes))
		}
	}
	if r.IntN(2) == 0 {
		u.UID = randomToken(r, valueRunes)
	}
	return u
}

// TestRoundTripThroughAggregatorHeaders sends random identities the way
// kube-apiserver's aggregator does (client-go's transport.SetAuthProxyHeaders),
// over a real TLS connection presenting the front-proxy certificate, and requires
// that the server decodes each back to the same identity.
func TestRoundTripThroughAggregatorHeaders(t *testing.T) {
	p := newPKI(t)
	cfg := authn.NewRequestHeaderConfig(bundle(t, p.proxyCA), "front-proxy-client")
	cfg.UIDHeaders = []string{"X-Remote-Uid"}
	fp, _ := frontProxy(t, cfg)

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, ok, err := fp.AuthenticateRequest(r)
		if err != nil || !ok {
			http.Error(w, "not authenticated", http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(resp.User)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()

	client := srv.Client()
	tr := client.Transport.(*http.Transport)
	tr.TLSClientConfig.Certificates = []tls.Certificate{p.proxy.TLSCertificate()}

	r := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		want := randomIdentity(r)
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/apis/demo.aggauth.io/v1", nil)
		require.NoError(t, err)
		transport.SetAuthProxyHeaders(req, want.Name, want.UID, want.Groups, want.Extra)
		res, err := client.Do(req)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode, "#%d %+v", i, want)
		require.Equal(t, 2, res.ProtoMajor)
		var got user.DefaultInfo
		require.NoError(t, json.NewDecoder(res.Body).Decode(&got))
		res.Body.Close()
		if len(want.Extra) == 0 {
			want.Extra = nil
		}
		require.Equal(t, want, &got, "#%d", i)
	}
}
