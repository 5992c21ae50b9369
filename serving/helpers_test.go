package serving_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/aggauth/aggauth/internal/testpki"
	"github.com/aggauth/aggauth/serving"
)

// pki is the serving certificate of the tests, issued once (ECDSA: fast).
var pki struct {
	certFile, keyFile string
	roots             *x509.CertPool
}

func TestMain(m *testing.M) {
	// Kubernetes' filters, run side by side with ours, log to klog.
	klog.SetLogger(logr.Discard())
	dir, err := os.MkdirTemp("", "serving-test-")
	if err != nil {
		panic(err)
	}
	ca := testpki.NewCA("serving-test-ca", testpki.ECDSA)
	leaf := ca.Issue(testpki.Spec{CommonName: "localhost", DNSNames: []string{"localhost"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	pki.certFile, pki.keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(pki.certFile, testpki.Bundle(leaf, ca), 0o600); err != nil {
		panic(err)
	}
	if err := os.WriteFile(pki.keyFile, leaf.KeyPEM(), 0o600); err != nil {
		panic(err)
	}
	pki.roots = x509.NewCertPool()
	pki.roots.AddCert(ca.Cert)
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// quietLogger drops everything.
var quietLogger = slog.New(slog.DiscardHandler)

// loopback returns a listener on 127.0.0.1, on a port the system chooses.
func loopback(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

// testOptions are options for a server on loopback with the test certificate.
func testOptions(t testing.TB) serving.Options {
	return serving.Options{Listener: loopback(t), CertFile: pki.certFile, KeyFile: pki.keyFile, Logger: quietLogger}
}

// running is a Server being run by a test.
type running struct {
	*serving.Server
	url  string
	stop context.CancelFunc // ends Run's context: the graceful shutdown
	done chan error         // Run's result
}

// start builds a server for h with opts and runs it until the test ends.
func start(t testing.TB, opts serving.Options, h http.Handler) *running {
	t.Helper()
	srv, err := serving.New(opts, nil, h)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Server: srv, url: "https://" + srv.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		_ = srv.Close()
		<-r.done
	})
	return r
}

// wait returns Run's result, failing the test after d.
func (r *running) wait(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for Cleanup
		return err
	case <-time.After(d):
		t.Fatalf("Run did not return within %v", d)
		return nil
	}
}

// dialHTTP1 opens a TLS connection to the server that speaks HTTP/1.1, for
// requests written by hand; it is closed when the test ends.
func (r *running) dialHTTP1(t testing.TB) *tls.Conn {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(r.url, "https://"),
		&tls.Config{RootCAs: pki.roots, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// client returns an HTTPS client trusting the test certificate, over HTTP/2
// unless h1.
func client(t testing.TB, h1 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.roots, ServerName: "localhost"}}
	tr.Protocols = new(http.Protocols)
	if h1 {
		tr.Protocols.SetHTTP1(true)
	} else {
		tr.Protocols.SetHTTP2(true)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// get sends a GET for path and returns the response with its body read.
func get(t testing.TB, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// status decodes a Status body.
func status(t testing.TB, body []byte) metav1.Status {
	t.Helper()
	var s metav1.Status
	require.NoError(t, json.Unmarshal(body, &s), "body %q", body)
	return s
}

// ok answers 200 "ok".
var ok = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
