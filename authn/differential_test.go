package authn_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	"k8s.io/apiserver/pkg/authentication/request/union"
	k8sx509 "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/testpki"
)

// diffWorld is a fixed set of authorities and certificates, both valid and
// hostile, that the generated requests present.
type diffWorld struct {
	proxyCA, clientCA *testpki.Cert
	chains            [][]*testpki.Cert
}

func newDiffWorld() *diffWorld {
	now := time.Now()
	proxyCA := testpki.NewCA("front-proxy-ca", testpki.ECDSA)
	clientCA := testpki.NewCA("client-ca", testpki.ECDSA)
	otherCA := testpki.NewCA("other-ca", testpki.ECDSA)
	pInt := proxyCA.Issue(testpki.Spec{CommonName: "proxy-int", IsCA: true})
	cInt := clientCA.Issue(testpki.Spec{CommonName: "client-int", IsCA: true})
	viaPInt := pInt.Issue(testpki.Spec{CommonName: "front-proxy-client"})
	viaCInt := cInt.Issue(testpki.Spec{CommonName: "erin", Organizations: []string{"g"}})
	w := &diffWorld{proxyCA: proxyCA, clientCA: clientCA}
	w.chains = [][]*testpki.Cert{
		{proxyCA.Issue(testpki.Spec{CommonName: "front-proxy-client"})},
		{proxyCA.Issue(testpki.Spec{CommonName: "front-proxy-client", Key: testpki.RSA})},
		{proxyCA.Issue(testpki.Spec{CommonName: "other-proxy"})},
		{proxyCA.Issue(testpki.Spec{CommonName: "FRONT-PROXY-CLIENT"})},
		{proxyCA.Issue(testpki.Spec{CommonName: "front-proxy-client", NotAfter: now.Add(-time.Minute), NotBefore: now.Add(-time.Hour)})},
		{proxyCA.Issue(testpki.Spec{CommonName: "front-proxy-client", NotBefore: now.Add(time.Hour), NotAfter: now.Add(2 * time.Hour)})},
		{proxyCA.Issue(testpki.Spec{CommonName: "front-proxy-client", ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})},
		{proxyCA.Issue(testpki.Spec{CommonName: "front-proxy-client", ExtKeyUsages: testpki.NoExtKeyUsage})},
		{viaPInt, pInt}, {viaPInt},
		{clientCA.Issue(testpki.Spec{CommonName: "alice", Organizations: []string{"dev", "system:masters"}})},
		{clientCA.Issue(testpki.Spec{CommonName: "bob", UIDs: []any{"uid-1"}})},
		{clientCA.Issue(testpki.Spec{CommonName: "carol", UIDs: []any{"a", "b"}})},
		{clientCA.Issue(testpki.Spec{Organizations: []string{"nameless"}})},
		{clientCA.Issue(testpki.Spec{CommonName: "front-proxy-client"})},
		{viaCInt, cInt}, {viaCInt},
		{otherCA.Issue(testpki.Spec{CommonName: "front-proxy-client"})},
		{otherCA.Issue(testpki.Spec{CommonName: "alice"})},
		nil, {},
	}
	return w
}

var (
	diffNames = []string{"X-Remote-User", "x-remote-user", "X-REMOTE-USER", "X-Remote-Uid", "X-Remote-Group", "x-remote-group",
		"X-Proxy-User", "X-Proxy-Group", "Authorization", "Other"}
	diffExtraPrefixes = []string{"X-Remote-Extra-", "x-remote-extra-", "X-REMOTE-EXTRA-", "X-Proxy-Extra-"}
	diffExtraKeys     = []string{"Scopes", "a%2Fb", "a%2fb", "Bad%zz", "pct%25", "%", "%4", "Keep%41", "", "MixedCase/Key%x",
		"Authentication.kubernetes.io%2fcredential-Id", "x%C3%A9", "caf\u00e9", "SP%20ACE", "Dup"}
	diffValues = []string{"", "bob", "alice", "system:masters", "g1,g2", " spaced ", "X509SHA256=ab", "\u00fc"}
)

func (w *diffWorld) request(r *rand.Rand) ([]*x509.Certificate, http.Header) {
	var certs []*x509.Certificate
	if c := w.chains[r.IntN(len(w.chains))]; c != nil {
		certs = []*x509.Certificate{}
		for _, x := range c {
			certs = append(certs, x.Cert)
		}
	}
	h := http.Header{}
	for range r.IntN(8) {
		var k string
		if r.IntN(2) == 0 {
			k = diffNames[r.IntN(len(diffNames))]
		} else {
			k = diffExtraPrefixes[r.IntN(len(diffExtraPrefixes))] + diffExtraKeys[r.IntN(len(diffExtraKeys))]
		}
		if r.IntN(3) == 0 {
			k = http.CanonicalHeaderKey(k)
		}
		for range 1 + r.IntN(2) {
			h[k] = append(h[k], diffValues[r.IntN(len(diffValues))])
		}
	}
	return certs, h
}

// diffConfig is one front-proxy configuration in both worlds.
type diffConfig struct {
	allowed                          []string
	names, uids, groups, extraPrefix []string
}

var diffConfigs = []diffConfig{
	{allowed: []string{"front-proxy-client"}, names: []string{"X-Remote-User"}, groups: []string{"X-Remote-Group"}, extraPrefix: []string{"X-Remote-Extra-"}},
	{names: []string{"X-Remote-User"}, groups: []string{"X-Remote-Group"}, extraPrefix: []string{"X-Remote-Extra-"}},
	{allowed: []string{"other-proxy", "front-proxy-client"}, names: []string{"x-proxy-user", "X-Remote-User"}, uids: []string{"X-Remote-Uid"},
		groups: []string{"X-Proxy-Group", "x-remote-group"}, extraPrefix: []string{"X-Proxy-Extra-", "x-remote-extra-"}},
	{allowed: []string{"nobody"}, names: []string{"X-Remote-User"}, groups: []string{"X-Remote-Group"}, extraPrefix: []string{"X-Remote-"}},
	// One non-standard prefix: X-Remote-Extra-* headers are not extra, and
	// clearing must still remove them.
	{names: []string{"X-Proxy-User"}, groups: []string{"X-Proxy-Group"}, extraPrefix: []string{"X-Proxy-Extra-"}},
}

type authPair struct{ ours, theirs authenticator.Request }

func (w *diffWorld) pairs(t *testing.T) map[string]authPair {
	proxyPool, clientPool := x509.NewCertPool(), x509.NewCertPool()
	proxyPool.AddCert(w.proxyCA.Cert)
	clientPool.AddCert(w.clientCA.Cert)
	proxyOpts, clientOpts := k8sx509.DefaultVerifyOptions(), k8sx509.DefaultVerifyOptions()
	proxyOpts.Roots, clientOpts.Roots = proxyPool, clientPool

	ourCC, err := authn.NewClientCert(authn.ClientCertOptions{CA: authn.StaticCA{Bundle: bundle(t, w.clientCA)}})
	require.NoError(t, err)
	theirCC := k8sx509.New(clientOpts, k8sx509.CommonNameUserConversion)
	out := map[string]authPair{"clientcert": {ourCC, theirCC}}
	for i, c := range diffConfigs {
		ourFP, _ := frontProxy(t, &authn.RequestHeaderConfig{CA: bundle(t, w.proxyCA), AllowedNames: c.allowed,
			UsernameHeaders: c.names, UIDHeaders: c.uids, GroupHeaders: c.groups, ExtraHeaderPrefixes: c.extraPrefix})
		theirFP := headerrequest.NewDynamicVerifyOptionsSecure(k8sx509.StaticVerifierFn(proxyOpts),
			headerrequest.StaticStringSlice(c.allowed), headerrequest.StaticStringSlice(c.names), headerrequest.StaticStringSlice(c.uids),
			headerrequest.StaticStringSlice(c.groups), headerrequest.StaticStringSlice(c.extraPrefix))
		out[fmt.Sprintf("frontproxy/%d", i)] = authPair{ourFP, theirFP}
		for _, anon := range []bool{false, true} {
			ourU, err := authn.NewUnion(authn.UnionOptions{FrontProxy: ourFP, ClientCert: ourCC, Anonymous: anon})
			require.NoError(t, err)
			var theirU authenticator.Request = group.NewAuthenticatedGroupAdder(union.New(theirFP, theirCC))
			if anon {
				theirU = union.NewFailOnError(theirU, anonymous.NewAuthenticator([]apiserver.AnonymousAuthCondition{}))
			}
			out[fmt.Sprintf("union/%d/anonymous=%v", i, anon)] = authPair{ourU, theirU}
		}
	}
	return out
}

// TestDifferentialAgainstKubernetes sends the same generated requests, valid,
// hostile and random, through Kubernetes' authenticators and ours, and requires
// identical answers: the user, ok, error-ness, and the headers left behind.
func TestDifferentialAgainstKubernetes(t *testing.T) {
	w := newDiffWorld()
	pairs := w.pairs(t)
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range pairs {
			if !yield(k) {
				return
			}
		}
	})
	r := rand.New(rand.NewPCG(1, 2))
	const perPair = 1200
	total, outcomes := 0, map[string]int{}
	for _, name := range names {
		p := pairs[name]
		for i := range perPair {
			certs, h := w.request(r)
			ours, theirs := newDiffRequest(certs, h), newDiffRequest(certs, h)
			oResp, oOK, oErr := p.ours.AuthenticateRequest(ours)
			tResp, tOK, tErr := p.theirs.AuthenticateRequest(theirs)
			ctx := fmt.Sprintf("%s #%d: certs=%d headers=%v", name, i, len(certs), h)
			require.Equal(t, tOK, oOK, "ok: %s (kubernetes err=%v, ours=%v)", ctx, tErr, oErr)
			require.Equal(t, tErr != nil, oErr != nil, "error-ness: %s (kubernetes err=%v, ours=%v)", ctx, tErr, oErr)
			if tOK {
				requireSameUser(t, tResp.User, oResp.User, ctx)
			}
			if !strings.HasPrefix(name, "union") {
				require.Equal(t, normalizeHeader(theirs.Header), normalizeHeader(ours.Header), "headers left: %s", ctx)
			}
			if u, ok := p.ours.(*authn.Union); ok {
				// AuthenticateAndClear (what the middleware calls) answers as
				// AuthenticateRequest, and leaves what ClearHeaders after it leaves.
				cleared := newDiffRequest(certs, h)
				cResp, cOK, cErr := u.AuthenticateAndClear(cleared)
				require.Equal(t, oOK, cOK, "AuthenticateAndClear ok: %s", ctx)
				require.Equal(t, oErr != nil, cErr != nil, "AuthenticateAndClear error-ness: %s", ctx)
				if oOK {
					requireSameUser(t, oResp.User, cResp.User, ctx)
					u.ClearHeaders(ours.Header)
				}
				require.Equal(t, normalizeHeader(ours.Header), normalizeHeader(cleared.Header), "AuthenticateAndClear headers left: %s", ctx)
			}
			total++
			switch {
			case tOK:
				outcomes["authenticated"]++
			case tErr != nil:
				outcomes["error"]++
			default:
				outcomes["no opinion"]++
			}
		}
	}
	t.Logf("%d requests compared across %d authenticator pairs: %v", total, len(pairs), outcomes)
	require.GreaterOrEqual(t, total, 10000)
	for _, o := range []string{"authenticated", "error", "no opinion"} {
		require.Greater(t, outcomes[o], total/10, "too few %q outcomes to prove anything", o)
	}
}

func newDiffRequest(certs []*x509.Certificate, h http.Header) *http.Request {
	r := newRequest(nil)
	r.Header = h.Clone()
	if certs != nil {
		r.TLS = &tls.ConnectionState{PeerCertificates: certs}
	}
	return r
}

func normalizeHeader(h http.Header) http.Header {
	if len(h) == 0 {
		return nil
	}
	return h
}

// requireSameUser compares users; extra values are compared as multisets because
// Kubernetes orders values that come from different headers with the same key in
// map iteration order.
func requireSameUser(t *testing.T, want, got user.Info, ctx string) {
	t.Helper()
	require.Equal(t, want.GetName(), got.GetName(), ctx)
	require.Equal(t, want.GetUID(), got.GetUID(), ctx)
	require.Equal(t, want.GetGroups(), got.GetGroups(), ctx)
	we, ge := want.GetExtra(), got.GetExtra()
	require.Equal(t, len(we), len(ge), "extra: %s: %v vs %v", ctx, we, ge)
	for k, v := range we {
		gv, ok := ge[k]
		require.True(t, ok, "extra key %q missing: %s", k, ctx)
		require.ElementsMatch(t, v, gv, "extra %q: %s", k, ctx)
	}
}
