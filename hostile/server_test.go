//go:build hostile

// Package hostile is the adversarial suite of `make hostile`: each bound of
// DESIGN.md's hostile-load rules is driven by an attack over real TLS on
// loopback, against aggauth's chain (middleware.NewChain) and, as a control,
// against Kubernetes' own filters (k8s.io/apiserver v0.37.2) where they have the
// same feature. Every test prints one line per figure, aggauth's beside
// Kubernetes', and asserts aggauth's bound.
//
// This file holds what every test shares: the PKI, the TLS server under attack
// (which counts its connections and the requests each one carried), the
// clients, and polling helpers.
package hostile

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/klog/v2"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/testpki"
	"github.com/aggauth/aggauth/serving"
)

// proxyName is the front proxy certificate's CommonName, the only allowed name.
const proxyName = "front-proxy-client"

// resourcePath is the collection every request of the suite is about.
const resourcePath = "/apis/widgets.example.com/v1/namespaces/team-a/widgets"

// TestMain sends klog (Kubernetes' filters, client-go) to nowhere; the logs
// test captures it on purpose.
func TestMain(m *testing.M) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	for k, v := range map[string]string{"logtostderr": "false", "alsologtostderr": "false",
		"stderrthreshold": "FATAL", "one_output": "true"} {
		if err := fs.Set(k, v); err != nil {
			panic(err)
		}
	}
	klog.SetOutput(io.Discard)
	os.Exit(m.Run())
}

// pki holds the certificates of the cluster: the front-proxy CA and its proxy
// certificate (what the aggregator presents), the client CA, and the serving
// certificate of the server under attack.
type pki struct {
	proxyCA, clientCA *testpki.Cert
	proxy             tls.Certificate
	serving           tls.Certificate
	roots             *x509.CertPool // trusts the serving certificate
}

var thePKI = sync.OnceValue(func() *pki {
	servingCA := testpki.NewCA("serving-ca", testpki.ECDSA)
	serving := servingCA.Issue(testpki.Spec{CommonName: "widgets.default.svc",
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	p := &pki{
		proxyCA:  testpki.NewCA("front-proxy-ca", testpki.ECDSA),
		clientCA: testpki.NewCA("client-ca", testpki.ECDSA),
		serving:  serving.TLSCertificate(),
		roots:    x509.NewCertPool(),
	}
	p.proxy = p.proxyCA.Issue(testpki.Spec{CommonName: proxyName}).TLSCertificate()
	p.roots.AddCert(servingCA.Cert)
	return p
})

// server is the chain under attack behind a real TLS listener (HTTP/2 and
// HTTP/1.1), configured by serving.TLSConfig for both implementations. It
// counts connections opened and closed, and the requests each one carried.
type server struct {
	*httptest.Server
	opened, closed atomic.Int64
	nextID         atomic.Int64
	mostPeerCerts  atomic.Int64 // the longest client certificate chain received

	mu      sync.Mutex
	perConn map[int64]int
}

type connKey struct{}

func serve(t testing.TB, p *pki, h http.Handler) *server {
	t.Helper()
	s := &server{perConn: map[int64]int{}}
	cfg, err := serving.TLSConfig(serving.TLSOptions{Certificate: &p.serving,
		ClientCAs: []func() []*x509.Certificate{authn.CACertificates(staticCA(t, p.proxyCA)), authn.CACertificates(staticCA(t, p.clientCA))}})
	require.NoError(t, err)
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.perConn[r.Context().Value(connKey{}).(int64)]++
		s.mu.Unlock()
		if r.TLS != nil {
			for n := int64(len(r.TLS.PeerCertificates)); ; {
				m := s.mostPeerCerts.Load()
				if n <= m || s.mostPeerCerts.CompareAndSwap(m, n) {
					break
				}
			}
		}
		h.ServeHTTP(w, r)
	}))
	s.TLS = cfg
	s.EnableHTTP2 = true
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, s.nextID.Add(1))
	}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.closed.Add(1)
		}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func staticCA(t testing.TB, ca *testpki.Cert) authn.CAProvider {
	b, err := authn.NewCABundle(ca.PEM())
	require.NoError(t, err)
	return authn.NewDynamicCA(b)
}

// waitClosed waits until every connection the server accepted is closed.
func (s *server) waitClosed(t testing.TB, within time.Duration) {
	t.Helper()
	require.True(t, poll(within, func() bool { return s.opened.Load() == s.closed.Load() }),
		"server connections still open after %v: %d opened, %d closed", within, s.opened.Load(), s.closed.Load())
}

// requestsPerConn returns the number of connections that carried requests and
// the most requests one of them carried.
func (s *server) requestsPerConn() (conns, most int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.perConn {
		conns, most = conns+1, max(most, n)
	}
	return conns, most
}

// transport returns a client transport to the server under attack that
// presents chain in every handshake, whatever CAs the server asks for (nil:
// no certificate), speaking HTTP/2 when h2, else HTTP/1.1.
func transport(p *pki, chain *tls.Certificate, h2 bool) *http.Transport {
	var protos http.Protocols
	protos.SetHTTP2(h2)
	protos.SetHTTP1(!h2)
	return &http.Transport{
		Protocols: &protos,
		TLSClientConfig: &tls.Config{RootCAs: p.roots,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if chain == nil {
					return &tls.Certificate{}, nil
				}
				return chain, nil
			}},
		MaxIdleConnsPerHost: 64,
	}
}

// send makes one request and returns its status code, draining the body. user,
// when set, is the identity the front proxy forwards.
func send(ctx context.Context, c *http.Client, url, user string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if user != "" {
		req.Header.Set("X-Remote-User", user)
		req.Header.Add("X-Remote-Group", "developers")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	drain(resp)
	return resp.StatusCode, nil
}

// drain reads and closes resp's body, so that its connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

// poll calls cond every 10 ms until it is true or within has passed, and
// reports whether it became true.
func poll(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// run calls f(i) for i in [0, n) on workers goroutines.
func run(n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		})
	}
	wg.Wait()
}

// okHandler is the handler behind every chain.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
