package serving_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/testpki"
	"github.com/aggauth/aggauth/serving"
)

var (
	loopbackIPs = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	serverAuth  = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
)

func newPool(cas ...*testpki.Cert) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cas {
		p.AddCert(c.Cert)
	}
	return p
}

func writeKeyPair(t *testing.T, dir string, c *testpki.Cert) (string, string) {
	t.Helper()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	require.NoError(t, os.WriteFile(certFile, c.PEM(), 0o600))
	require.NoError(t, os.WriteFile(keyFile, c.KeyPEM(), 0o600))
	return certFile, keyFile
}

// TestTLSConfigAdvertisesCurrentCAsAndReloadsServingCert checks, over real TLS
// handshakes, that the server asks for (but does not require) a client
// certificate, lists the CAs in force, and serves a rotated certificate file.
func TestTLSConfigAdvertisesCurrentCAsAndReloadsServingCert(t *testing.T) {
	servingCA := testpki.NewCA("serving-ca", testpki.ECDSA)
	first := servingCA.Issue(testpki.Spec{CommonName: "first", IPs: loopbackIPs, ExtKeyUsages: serverAuth})
	second := servingCA.Issue(testpki.Spec{CommonName: "second", IPs: loopbackIPs, ExtKeyUsages: serverAuth})
	dir := t.TempDir()
	certFile, keyFile := writeKeyPair(t, dir, first)

	caA := testpki.NewCA("ca-a", testpki.ECDSA)
	caB := testpki.NewCA("ca-b", testpki.ECDSA)
	bundleA, err := authn.NewCABundle(caA.PEM())
	require.NoError(t, err)
	dyn := authn.NewDynamicCA(bundleA)
	clk := clocktesting.NewFakePassiveClock(time.Now())

	cfg, err := serving.TLSConfig(serving.TLSOptions{CertFile: certFile, KeyFile: keyFile,
		ClientCAs: []func() []*x509.Certificate{authn.CACertificates(dyn)}, Clock: clk})
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Empty(t, r.TLS.PeerCertificates, "no client certificate was sent; the handshake must still succeed")
	}))
	srv.TLS = cfg
	srv.StartTLS()
	defer srv.Close()

	handshake := func() (serverCN string, advertised []string) {
		conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{RootCAs: newPool(servingCA),
			GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
				for _, dn := range cri.AcceptableCAs {
					name, err := commonName(dn)
					require.NoError(t, err)
					advertised = append(advertised, name)
				}
				return &tls.Certificate{}, nil
			}})
		require.NoError(t, err)
		defer conn.Close()
		require.NoError(t, conn.Handshake())
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName, advertised
	}

	cn, adv := handshake()
	assert.Equal(t, "first", cn)
	assert.Equal(t, []string{"ca-a"}, adv)

	bundleB, err := authn.NewCABundle(testpki.Bundle(caA, caB))
	require.NoError(t, err)
	dyn.Set(bundleB)
	writeKeyPair(t, dir, second)
	cn, adv = handshake()
	assert.Equal(t, "first", cn, "files are re-checked only after CheckInterval")
	assert.ElementsMatch(t, []string{"ca-a", "ca-b"}, adv, "a CA change applies to the next handshake")

	clk.SetTime(clk.Now().Add(11 * time.Second))
	cn, _ = handshake()
	assert.Equal(t, "second", cn)

	require.NoError(t, os.WriteFile(certFile, []byte("garbage"), 0o600))
	clk.SetTime(clk.Now().Add(11 * time.Second))
	cn, _ = handshake()
	assert.Equal(t, "second", cn, "a broken update keeps the last good certificate")
}

func commonName(rawDN []byte) (string, error) {
	var seq pkix.RDNSequence
	if _, err := asn1.Unmarshal(rawDN, &seq); err != nil {
		return "", err
	}
	var n pkix.Name
	n.FillFromRDNSequence(&seq)
	return n.CommonName, nil
}

func TestTLSConfigNeedsACertificate(t *testing.T) {
	_, err := serving.TLSConfig(serving.TLSOptions{})
	require.Error(t, err)
	_, err = serving.TLSConfig(serving.TLSOptions{CertFile: "/nonexistent", KeyFile: "/nonexistent"})
	require.Error(t, err)
}
