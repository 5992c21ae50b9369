package cluster

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aggauth/aggauth/internal/testpki"
)

// TestCerts: the control plane's certificates outlive a demo left serving for
// days, and a serving certificate serves its names and 127.0.0.1.
func TestCerts(t *testing.T) {
	ca := newCA("test-ca", testpki.ECDSA)
	serving := issue(ca, servingSpec("svc", "svc.ns.svc", "localhost"))
	client := issue(ca, testpki.Spec{CommonName: "alice", Organizations: []string{"g1"}})
	soon := time.Now().Add(certValidity - time.Hour)
	for _, c := range []*testpki.Cert{ca, serving, client} {
		assert.True(t, c.Cert.NotAfter.After(soon), "%s: NotAfter %v", c.Cert.Subject.CommonName, c.Cert.NotAfter)
	}
	for _, host := range []string{"svc.ns.svc", "localhost", "127.0.0.1"} {
		_, err := serving.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: host})
		assert.NoError(t, err, "host %s", host)
	}
	_, err := client.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)
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
