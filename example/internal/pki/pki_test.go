package pki_test

import (
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aggauth/aggauth/example/internal/pki"
)

func parse(t *testing.T, p *pki.Pair) *x509.Certificate {
	t.Helper()
	c, err := p.TLSCertificate()
	require.NoError(t, err, "the key matches the certificate")
	cert, err := x509.ParseCertificate(c.Certificate[0])
	require.NoError(t, err)
	return cert
}

func TestServing(t *testing.T) {
	ca, err := pki.NewCA("ca")
	require.NoError(t, err)
	p, err := ca.Serving("widgets", "widgets.aggauth-demo.svc", "127.0.0.1")
	require.NoError(t, err)
	cert := parse(t, p)
	for _, host := range []string{"widgets.aggauth-demo.svc", "127.0.0.1"} {
		_, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: host})
		assert.NoError(t, err, "host %s", host)
	}
	_, err = cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "other.svc"})
	assert.Error(t, err)
}

func TestClient(t *testing.T) {
	ca, err := pki.NewCA("ca")
	require.NoError(t, err)
	other, err := pki.NewCA("other")
	require.NoError(t, err)
	p, err := ca.Client("front-proxy-client", "group-a")
	require.NoError(t, err)
	cert := parse(t, p)
	assert.Equal(t, "front-proxy-client", cert.Subject.CommonName)
	assert.Equal(t, []string{"group-a"}, cert.Subject.Organization)
	client := x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	_, err = cert.Verify(client)
	assert.NoError(t, err)
	_, err = cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	assert.Error(t, err, "a client certificate does not serve")
	client.Roots = other.Pool()
	_, err = cert.Verify(client)
	assert.Error(t, err, "another CA does not vouch for it")
}

func TestWriteFiles(t *testing.T) {
	ca, err := pki.NewCA("ca")
	require.NoError(t, err)
	p, err := ca.Serving("s", "localhost")
	require.NoError(t, err)
	certFile, keyFile, err := p.WriteFiles(t.TempDir(), "tls")
	require.NoError(t, err)
	assert.FileExists(t, certFile)
	assert.FileExists(t, keyFile)
}
