package authn_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/testpki"
)

func authenticate(t *testing.T, fp *authn.FrontProxy, certs []*testpki.Cert) (bool, error) {
	t.Helper()
	_, ok, err := fp.AuthenticateRequest(newRequest(certs, "X-Remote-User", "bob"))
	return ok, err
}

// The same parsed certificate (as on a kept-alive connection) must be checked
// against the new CA on the very next request after a rotation.
func TestCARotationAppliesToNextRequestOfSameConnection(t *testing.T) {
	p := newPKI(t)
	newCA := testpki.NewCA("front-proxy-ca-2", testpki.ECDSA)
	newProxy := newCA.Issue(testpki.Spec{CommonName: "front-proxy-client"})
	fp, holder := frontProxy(t, authn.NewRequestHeaderConfig(bundle(t, p.proxyCA), "front-proxy-client"))

	ok, err := authenticate(t, fp, chain(p.proxy))
	require.NoError(t, err)
	require.True(t, ok)
	_, err = authenticate(t, fp, chain(newProxy))
	require.Error(t, err, "new proxy before rotation")

	require.NoError(t, holder.Set(authn.NewRequestHeaderConfig(bundle(t, newCA), "front-proxy-client")))
	_, err = authenticate(t, fp, chain(p.proxy))
	require.ErrorContains(t, err, "unknown authority", "old proxy after rotation")
	ok, err = authenticate(t, fp, chain(newProxy))
	require.NoError(t, err)
	require.True(t, ok)

	// Both CAs during a rotation window.
	require.NoError(t, holder.Set(authn.NewRequestHeaderConfig(bundle(t, p.proxyCA, newCA), "front-proxy-client")))
	for _, c := range []*testpki.Cert{p.proxy, newProxy} {
		ok, err = authenticate(t, fp, chain(c))
		require.NoError(t, err)
		require.True(t, ok)
	}

	// Allowed names change without a CA change.
	require.NoError(t, holder.Set(authn.NewRequestHeaderConfig(bundle(t, p.proxyCA, newCA), "someone-else")))
	_, err = authenticate(t, fp, chain(p.proxy))
	require.ErrorContains(t, err, "not in the allowed list")

	// Configuration removed: no opinion, nobody authenticated from headers.
	require.NoError(t, holder.Set(nil))
	ok, err = authenticate(t, fp, chain(p.proxy))
	require.NoError(t, err)
	require.False(t, ok)
}

func TestVerificationExpiresAtEarliestNotAfter(t *testing.T) {
	start := time.Now()
	ca := testpki.NewCA("ca", testpki.ECDSA)
	intermediate := ca.Issue(testpki.Spec{CommonName: "int", IsCA: true, NotAfter: start.Add(2 * time.Hour)})
	proxy := intermediate.Issue(testpki.Spec{CommonName: "front-proxy-client", NotAfter: start.Add(5 * time.Hour)})
	clk := clocktesting.NewFakePassiveClock(start)
	fp, err := authn.NewFrontProxy(authn.FrontProxyOptions{
		Config: authn.NewDynamicRequestHeader(authn.NewRequestHeaderConfig(bundle(t, ca))),
		Clock:  clk,
	})
	require.NoError(t, err)

	ok, err := authenticate(t, fp, chain(proxy, intermediate))
	require.NoError(t, err)
	require.True(t, ok)
	clk.SetTime(start.Add(2*time.Hour - time.Second))
	ok, err = authenticate(t, fp, chain(proxy, intermediate))
	require.NoError(t, err)
	require.True(t, ok)
	clk.SetTime(start.Add(2*time.Hour + time.Second)) // the intermediate expired
	_, err = authenticate(t, fp, chain(proxy, intermediate))
	require.ErrorContains(t, err, "expired")
}

func TestFailedVerificationIsRetriedWhenCertificateBecomesValid(t *testing.T) {
	start := time.Now()
	p := newPKI(t)
	notYet := p.proxyCA.Issue(testpki.Spec{CommonName: "front-proxy-client", NotBefore: start.Add(time.Second), NotAfter: start.Add(time.Hour)})
	clk := clocktesting.NewFakePassiveClock(start)
	fp, err := authn.NewFrontProxy(authn.FrontProxyOptions{
		Config: authn.NewDynamicRequestHeader(authn.NewRequestHeaderConfig(bundle(t, p.proxyCA))),
		Clock:  clk,
	})
	require.NoError(t, err)
	_, err = authenticate(t, fp, chain(notYet))
	require.ErrorContains(t, err, "not yet valid")
	clk.SetTime(notYet.Cert.NotBefore)
	ok, err := authenticate(t, fp, chain(notYet))
	require.NoError(t, err, "a cached failure outlived the certificate's NotBefore")
	require.True(t, ok)
}

// A different set of presented intermediates for the same leaf is verified anew.
func TestVerificationKeyIncludesIntermediates(t *testing.T) {
	ca := testpki.NewCA("ca", testpki.ECDSA)
	intermediate := ca.Issue(testpki.Spec{CommonName: "int", IsCA: true})
	proxy := intermediate.Issue(testpki.Spec{CommonName: "front-proxy-client"})
	fp, _ := frontProxy(t, authn.NewRequestHeaderConfig(bundle(t, ca)))
	ok, err := authenticate(t, fp, chain(proxy, intermediate))
	require.NoError(t, err)
	require.True(t, ok)
	_, err = authenticate(t, fp, chain(proxy))
	require.ErrorContains(t, err, "unknown authority")
}

func TestDynamicCA(t *testing.T) {
	p := newPKI(t)
	var d authn.DynamicCA
	assert.Nil(t, d.CABundle())
	changed, err := d.SetPEM(p.clientCA.PEM())
	require.NoError(t, err)
	assert.True(t, changed)
	first := d.CABundle()
	changed, err = d.SetPEM(p.clientCA.PEM())
	require.NoError(t, err)
	assert.False(t, changed, "same bytes must keep the bundle (and its cache entries)")
	assert.Same(t, first, d.CABundle())
	_, err = d.SetPEM([]byte("not a certificate"))
	require.Error(t, err)
	assert.Same(t, first, d.CABundle(), "a bad bundle must keep the last good one")
	_, err = authn.NewCABundle(nil)
	require.ErrorContains(t, err, "empty CA bundle")
	assert.True(t, d.Set(nil))
	assert.Nil(t, d.CABundle())
}
