package authn

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"runtime"
	"testing"
	"weak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aggauth/aggauth/internal/testpki"
)

func proxyFor(t *testing.T, ca *testpki.Cert, size int) *FrontProxy {
	t.Helper()
	b, err := NewCABundle(ca.PEM())
	require.NoError(t, err)
	fp, err := NewFrontProxy(FrontProxyOptions{Config: NewDynamicRequestHeader(NewRequestHeaderConfig(b)), CacheSize: size})
	require.NoError(t, err)
	return fp
}

// reparse returns a new parsed copy of c, as a new TLS connection presenting
// the same certificate would hold.
func reparse(t *testing.T, c *x509.Certificate) *x509.Certificate {
	t.Helper()
	p, err := x509.ParseCertificate(c.Raw)
	require.NoError(t, err)
	return p
}

func requestWith(certs ...*x509.Certificate) *http.Request {
	return &http.Request{Header: http.Header{"X-Remote-User": {"bob"}}, TLS: &tls.ConnectionState{PeerCertificates: certs}}
}

func TestVerifyCacheStaysWithinItsBound(t *testing.T) {
	ca := testpki.NewCA("ca", testpki.ECDSA)
	fp := proxyFor(t, ca, 3)
	for i := range 10 {
		leaf := ca.Issue(testpki.Spec{CommonName: "front-proxy-client"})
		if _, ok, err := fp.AuthenticateRequest(requestWith(leaf.Cert)); err != nil || !ok {
			t.Fatalf("#%d: ok=%v err=%v", i, ok, err)
		}
		if n, _ := fp.cache.lru.Len(); n > 3 {
			t.Fatalf("cache holds %d entries; want at most 3", n)
		}
	}
}

// The same certificate bytes on new connections find the entry of the first:
// a client reconnecting cannot add entries.
func TestSameBytesOnNewConnectionsShareOneEntry(t *testing.T) {
	ca := testpki.NewCA("ca", testpki.ECDSA)
	proxy := ca.Issue(testpki.Spec{CommonName: "front-proxy-client"})
	stranger := testpki.NewCA("stranger", testpki.ECDSA).Issue(testpki.Spec{CommonName: "front-proxy-client"})
	fp := proxyFor(t, ca, 0)
	for range 50 {
		_, ok, err := fp.AuthenticateRequest(requestWith(reparse(t, proxy.Cert)))
		require.NoError(t, err)
		require.True(t, ok)
		_, _, err = fp.AuthenticateRequest(requestWith(reparse(t, stranger.Cert)))
		require.ErrorContains(t, err, "unknown authority")
	}
	n, _ := fp.cache.lru.Len()
	assert.Equal(t, 1, n, "one entry for the proxy; none for the failures")
}

// A rejected client leaves nothing of what it sent alive once its connection
// is gone: neither the front table nor the cache refers to its certificates.
func TestRejectedCertificatesAreNotRetained(t *testing.T) {
	ca := testpki.NewCA("ca", testpki.ECDSA)
	fp := proxyFor(t, ca, 0)
	selfSigned := testpki.NewCA("attacker", testpki.ECDSA)
	intermediate := selfSigned.Issue(testpki.Spec{CommonName: "int", IsCA: true})
	leaf := intermediate.Issue(testpki.Spec{CommonName: "front-proxy-client"})

	var weaks []weak.Pointer[x509.Certificate]
	var conns []weak.Pointer[tls.ConnectionState]
	func() {
		for range 20 {
			l, i := reparse(t, leaf.Cert), reparse(t, intermediate.Cert)
			req := requestWith(l, i)
			_, _, err := fp.AuthenticateRequest(req)
			require.Error(t, err)
			weaks = append(weaks, weak.Make(l), weak.Make(i))
			conns = append(conns, weak.Make(req.TLS))
		}
	}()
	runtime.GC()
	runtime.GC()
	for i, w := range weaks {
		assert.Nil(t, w.Value(), "certificate %d still referenced", i)
	}
	for i, w := range conns {
		assert.Nil(t, w.Value(), "connection state %d still referenced", i)
	}
	n, _ := fp.cache.lru.Len()
	assert.Zero(t, n)
}

// A flood of refused certificates leaves the cached successes in place.
func TestFailuresDoNotEvictSuccesses(t *testing.T) {
	ca := testpki.NewCA("ca", testpki.ECDSA)
	proxy := ca.Issue(testpki.Spec{CommonName: "front-proxy-client"})
	fp := proxyFor(t, ca, 8)
	_, ok, err := fp.AuthenticateRequest(requestWith(proxy.Cert))
	require.NoError(t, err)
	require.True(t, ok)
	attacker := testpki.NewCA("attacker", testpki.ECDSA)
	for range 100 {
		_, _, err := fp.AuthenticateRequest(requestWith(attacker.Issue(testpki.Spec{CommonName: "x"}).Cert))
		require.Error(t, err)
	}
	certs := []*x509.Certificate{proxy.Cert}
	r, found := fp.cache.lru.Peek(verifyKey{hash: fp.cache.hash(certs), ca: fp.config.RequestHeaderConfig().CA.generation})
	require.True(t, found, "the success survived the flood of failures")
	assert.True(t, sameChain(r.chain, certs))
}

// An entry answers only the chain it verified: a chain that shares its key (a
// hash collision) is verified anew.
func TestEntryAnswersOnlyItsOwnChain(t *testing.T) {
	ca := testpki.NewCA("ca", testpki.ECDSA)
	proxy := ca.Issue(testpki.Spec{CommonName: "front-proxy-client"})
	stranger := testpki.NewCA("stranger", testpki.ECDSA).Issue(testpki.Spec{CommonName: "front-proxy-client"})
	fp := proxyFor(t, ca, 0)
	_, ok, err := fp.AuthenticateRequest(requestWith(proxy.Cert))
	require.NoError(t, err)
	require.True(t, ok)
	gen := fp.config.RequestHeaderConfig().CA.generation
	good, found := fp.cache.lru.Peek(verifyKey{hash: fp.cache.hash([]*x509.Certificate{proxy.Cert}), ca: gen})
	require.True(t, found)
	// Plant the proxy's verification under the stranger's key.
	fp.cache.lru.Add(verifyKey{hash: fp.cache.hash([]*x509.Certificate{stranger.Cert}), ca: gen}, good)
	_, _, err = fp.AuthenticateRequest(requestWith(stranger.Cert))
	require.ErrorContains(t, err, "unknown authority")
}

func TestSameChain(t *testing.T) {
	ca := testpki.NewCA("ca", testpki.ECDSA)
	a, b := ca.Issue(testpki.Spec{CommonName: "a"}).Cert, ca.Issue(testpki.Spec{CommonName: "b"}).Cert
	enc := encodeChain([]*x509.Certificate{a, b})
	assert.True(t, sameChain(enc, []*x509.Certificate{a, b}))
	for _, other := range [][]*x509.Certificate{{a}, {b, a}, {a, b, b}, {a, a}, {}} {
		assert.False(t, sameChain(enc, other))
	}
	assert.False(t, sameChain(enc[:len(enc)-1], []*x509.Certificate{a, b}), "a truncated encoding")
}

func TestLongChainsAreRefused(t *testing.T) {
	ca := testpki.NewCA("ca", testpki.ECDSA)
	proxy := ca.Issue(testpki.Spec{CommonName: "front-proxy-client"})
	fp := proxyFor(t, ca, 0)
	certs := []*x509.Certificate{proxy.Cert}
	for len(certs) < MaxPresentedCertificates {
		certs = append(certs, ca.Cert)
	}
	_, ok, err := fp.AuthenticateRequest(requestWith(certs...))
	require.NoError(t, err, "the longest accepted chain")
	require.True(t, ok)
	certs = append(certs, ca.Cert)
	_, _, err = fp.AuthenticateRequest(requestWith(certs...))
	require.ErrorContains(t, err, "17 certificates presented; at most 16 are accepted")
}

// Requests of one connection are answered from the front table.
func TestFrontTableAnswersAConnection(t *testing.T) {
	ca := testpki.NewCA("ca", testpki.ECDSA)
	proxy := ca.Issue(testpki.Spec{CommonName: "front-proxy-client"})
	fp := proxyFor(t, ca, 0)
	req := requestWith(proxy.Cert)
	_, ok, err := fp.AuthenticateRequest(req)
	require.NoError(t, err)
	require.True(t, ok)
	first := fp.cache.front[slot(req.TLS)].Load()
	require.NotNil(t, first)
	for range 10 {
		req.Header.Set("X-Remote-User", "bob")
		_, ok, err := fp.AuthenticateRequest(req)
		require.NoError(t, err)
		require.True(t, ok)
	}
	assert.Same(t, first, fp.cache.front[slot(req.TLS)].Load(), "the entry was not replaced")

	// The connection's chain changed under the same state: verified anew.
	stranger := testpki.NewCA("stranger", testpki.ECDSA).Issue(testpki.Spec{CommonName: "front-proxy-client"})
	req.TLS.PeerCertificates = []*x509.Certificate{stranger.Cert}
	req.Header.Set("X-Remote-User", "bob")
	_, _, err = fp.AuthenticateRequest(req)
	require.ErrorContains(t, err, "unknown authority")
}
