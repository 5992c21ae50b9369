package serving_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	certutil "k8s.io/client-go/util/cert"

	"github.com/aggauth/aggauth/serving"
)

// Without a certificate file, a self-signed pair is generated in --cert-dir
// (as the generic apiserver's MaybeDefaultWithSelfSignedCerts), served, and
// reused by the next server.
func TestSelfSignedCertificate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	opts := serving.Options{Listener: loopback(t), CertDir: dir, SelfSignedNames: []string{"widgets.demo.svc", "10.0.0.7"}, Logger: quietLogger}
	r := start(t, opts, ok)

	certFile, keyFile := filepath.Join(dir, "apiserver.crt"), filepath.Join(dir, "apiserver.key")
	fi, err := os.Stat(keyFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the key is private")
	certs, err := certutil.CertsFromFile(certFile)
	require.NoError(t, err)
	require.Len(t, certs, 2, "the certificate, then its CA")
	leaf := certs[0]
	assert.ElementsMatch(t, []string{"localhost", "widgets.demo.svc"}, leaf.DNSNames)
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	assert.ElementsMatch(t, []string{"127.0.0.1", "::1", "10.0.0.7"}, ips)
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, leaf.ExtKeyUsage)

	roots := x509.NewCertPool()
	roots.AddCert(certs[1])
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	defer c.CloseIdleConnections()
	resp, body := get(t, c, r.url+"/")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok", string(body))
	require.NoError(t, r.Close())

	// A second server reuses the pair.
	before, err := os.ReadFile(certFile)
	require.NoError(t, err)
	start(t, serving.Options{Listener: loopback(t), CertDir: dir, Logger: quietLogger}, ok)
	after, err := os.ReadFile(certFile)
	require.NoError(t, err)
	assert.Equal(t, before, after)

	// Half a pair is refused, as in Kubernetes.
	require.NoError(t, os.Remove(keyFile))
	_, err = serving.New(serving.Options{Listener: loopback(t), CertDir: dir, Logger: quietLogger}, nil, ok)
	assert.ErrorContains(t, err, "certificate and key must be supplied as a pair")
}

func TestCertificateErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	tests := []struct {
		name    string
		opts    serving.Options
		wantErr string
	}{
		{name: "cert-dir is a file", opts: serving.Options{CertDir: filepath.Join(file, "certs")}, wantErr: "--cert-dir"},
		{name: "missing files", opts: serving.Options{CertFile: file + ".crt", KeyFile: file + ".key"}, wantErr: "no such file"},
		{name: "not PEM", opts: serving.Options{CertFile: file, KeyFile: file}, wantErr: "serving certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := loopback(t)
			tt.opts.Listener, tt.opts.Logger = ln, quietLogger
			_, err := serving.New(tt.opts, nil, ok)
			assert.ErrorContains(t, err, tt.wantErr)
			_, err = ln.Accept()
			assert.ErrorIs(t, err, net.ErrClosed, "New closes the listener it was given when it fails")
		})
	}
}
