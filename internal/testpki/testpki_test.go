package testpki_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aggauth/aggauth/internal/testpki"
)

func TestIssue(t *testing.T) {
	ca := testpki.NewCA("test-ca", testpki.ECDSA)
	other := testpki.NewCA("other-ca", testpki.ECDSA)
	tests := []struct {
		name  string
		cert  *testpki.Cert
		eku   x509.ExtKeyUsage
		hosts []string // verified as DNS names or IP addresses
		cn    string
		orgs  []string
	}{
		{name: "client", cert: ca.Issue(testpki.Spec{CommonName: "alice", Organizations: []string{"g1", "g2"}}),
			eku: x509.ExtKeyUsageClientAuth, cn: "alice", orgs: []string{"g1", "g2"}},
		{name: "rsa client", cert: ca.Issue(testpki.Spec{CommonName: "front-proxy-client", Key: testpki.RSA}),
			eku: x509.ExtKeyUsageClientAuth, cn: "front-proxy-client"},
		{name: "serving", cert: ca.Serving("svc", "svc.ns.svc", "localhost", "127.0.0.1", "::1"),
			eku: x509.ExtKeyUsageServerAuth, hosts: []string{"svc.ns.svc", "localhost", "127.0.0.1", "::1"}, cn: "svc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cert.Cert
			assert.Equal(t, tt.cn, c.Subject.CommonName)
			assert.Equal(t, tt.orgs, c.Subject.Organization)
			assert.Equal(t, []x509.ExtKeyUsage{tt.eku}, c.ExtKeyUsage)
			opts := x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{tt.eku}}
			_, err := c.Verify(opts)
			require.NoError(t, err)
			for _, h := range tt.hosts {
				opts.DNSName = h
				_, err := c.Verify(opts)
				assert.NoError(t, err, "host %s", h)
			}
			opts.DNSName = ""
			wrong := x509.ExtKeyUsageServerAuth
			if tt.eku == wrong {
				wrong = x509.ExtKeyUsageClientAuth
			}
			_, err = c.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{wrong}})
			assert.Error(t, err, "verifies for another usage")
			opts.Roots = other.Pool()
			_, err = c.Verify(opts)
			assert.Error(t, err, "verifies against another CA")
		})
	}
	_, err := ca.Serving("svc", "svc.ns.svc").Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "other.svc"})
	assert.Error(t, err, "a serving certificate serves its hosts only")
}

func TestWriteFiles(t *testing.T) {
	for name, c := range map[string]*testpki.Cert{
		"ca":      testpki.NewCA("ca", testpki.RSA),
		"serving": testpki.NewCA("ca", testpki.ECDSA).Serving("s", "localhost"),
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "new")
			certFile, keyFile, err := c.WriteFiles(dir, "pair")
			require.NoError(t, err)
			assert.Equal(t, filepath.Join(dir, "pair.crt"), certFile)
			assert.Equal(t, filepath.Join(dir, "pair.key"), keyFile)
			for _, f := range []string{certFile, keyFile} {
				st, err := os.Stat(f)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), f)
			}
			loaded, err := tls.LoadX509KeyPair(certFile, keyFile)
			require.NoError(t, err)
			assert.Equal(t, c.TLSCertificate().Certificate, loaded.Certificate)
		})
	}
}

func TestSelfSigned(t *testing.T) {
	notAfter := time.Now().Add(7 * 24 * time.Hour).Truncate(time.Second)
	ca := testpki.SelfSigned(testpki.Spec{CommonName: "long-lived", IsCA: true, NotAfter: notAfter})
	assert.True(t, ca.Cert.IsCA)
	assert.True(t, notAfter.Equal(ca.Cert.NotAfter), "got NotAfter %v; want %v", ca.Cert.NotAfter, notAfter)
	_, err := ca.Issue(testpki.Spec{CommonName: "x"}).Cert.Verify(x509.VerifyOptions{
		Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	assert.NoError(t, err)
}

func TestKeyPEM(t *testing.T) {
	for _, kt := range []testpki.KeyType{testpki.ECDSA, testpki.RSA} {
		key := testpki.NewKey(kt)
		priv, _ := pem.Decode(testpki.PrivateKeyPEM(key))
		require.NotNil(t, priv)
		assert.Equal(t, "PRIVATE KEY", priv.Type)
		parsed, err := x509.ParsePKCS8PrivateKey(priv.Bytes)
		require.NoError(t, err)
		assert.Equal(t, key, parsed)
		pub, _ := pem.Decode(testpki.PublicKeyPEM(key))
		require.NotNil(t, pub)
		assert.Equal(t, "PUBLIC KEY", pub.Type)
		parsedPub, err := x509.ParsePKIXPublicKey(pub.Bytes)
		require.NoError(t, err)
		assert.Equal(t, key.Public(), parsedPub)
	}
}

func TestBundle(t *testing.T) {
	a, b := testpki.NewCA("a", testpki.ECDSA), testpki.NewCA("b", testpki.ECDSA)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(testpki.Bundle(a, b)))
	for _, c := range []*testpki.Cert{a, b} {
		_, err := c.Cert.Verify(x509.VerifyOptions{Roots: pool})
		assert.NoError(t, err)
	}
	leaf := a.Issue(testpki.Spec{CommonName: "leaf"})
	assert.Equal(t, [][]byte{leaf.Cert.Raw, a.Cert.Raw}, leaf.TLSCertificate(a).Certificate)
}
