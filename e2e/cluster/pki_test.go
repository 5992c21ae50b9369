package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIssue(t *testing.T) {
	ca, err := NewCA("test-ca", ECDSAP256)
	require.NoError(t, err)
	other, err := NewCA("other-ca", ECDSAP256)
	require.NoError(t, err)

	tests := []struct {
		name string
		spec CertSpec
		eku  x509.ExtKeyUsage
	}{
		{"client", CertSpec{CommonName: "alice", Organizations: []string{"g1", "g2"}}, x509.ExtKeyUsageClientAuth},
		{"rsa client", CertSpec{CommonName: FrontProxyClientCN, Key: RSA2048}, x509.ExtKeyUsageClientAuth},
		{"serving", CertSpec{CommonName: "svc", DNSNames: []string{"svc.ns.svc", "localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, x509.ExtKeyUsageServerAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ca.Issue(tt.spec)
			require.NoError(t, err)
			assert.Equal(t, tt.spec.CommonName, p.Cert.Subject.CommonName)
			assert.Equal(t, tt.spec.Organizations, p.Cert.Subject.Organization)
			assert.Equal(t, []x509.ExtKeyUsage{tt.eku}, p.Cert.ExtKeyUsage)
			opts := x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{tt.eku}}
			if len(tt.spec.DNSNames) > 0 {
				opts.DNSName = tt.spec.DNSNames[0]
			}
			_, err = p.Cert.Verify(opts)
			require.NoError(t, err)
			opts.Roots = other.Pool()
			_, err = p.Cert.Verify(opts)
			require.Error(t, err, "verifies against another CA")

			dir := t.TempDir()
			certFile, keyFile, err := p.WriteFiles(dir, "pair")
			require.NoError(t, err)
			loaded, err := tls.LoadX509KeyPair(certFile, keyFile)
			require.NoError(t, err)
			assert.Equal(t, p.TLS.Certificate, loaded.Certificate)
		})
	}
}

func TestCAWriteFilesAndKeyPEM(t *testing.T) {
	ca, err := NewCA("test-ca", RSA2048)
	require.NoError(t, err)
	assert.True(t, ca.Cert.IsCA)
	dir := t.TempDir()
	certFile, keyFile, err := ca.WriteFiles(dir, "ca")
	require.NoError(t, err)
	_, err = tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "ca.crt"), certFile)
	st, err := os.Stat(keyFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	priv, pub, err := newKeyPEM(ECDSAP256)
	require.NoError(t, err)
	assert.Contains(t, string(priv), "BEGIN PRIVATE KEY")
	assert.Contains(t, string(pub), "BEGIN PUBLIC KEY")
}

func TestFileName(t *testing.T) {
	tests := map[string]string{
		"alice":                         "alice",
		"system:serviceaccount:ns:name": "system_serviceaccount_ns_name",
		"../etc/passwd":                 "_.._etc_passwd",
		"":                              "_",
	}
	for in, want := range tests {
		assert.Equal(t, want, fileName(in), "fileName(%q)", in)
	}
}
