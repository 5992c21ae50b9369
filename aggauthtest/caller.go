package aggauthtest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/testpki"
)

// ProxyCommonName is the common name of the front proxy's certificate, the
// one name the Cluster allows (requestheader-allowed-names), as kubeadm
// configures kube-apiserver's --proxy-client-cert-file.
const ProxyCommonName = "front-proxy-client"

// Caller is who sends a request: the client certificate it presents, if any,
// and the headers it adds (identity headers, Authorization). The zero Caller
// presents no credentials. Build one with Cluster.FrontProxy,
// Cluster.RogueProxy, Cluster.User or BearerToken, then As or WithHeader; a
// Caller is a value, and those methods return a changed copy.
type Caller struct {
	cert   *tls.Certificate
	header http.Header
}

func caller(c *testpki.Cert) Caller {
	tc := c.TLSCertificate()
	return Caller{cert: &tc}
}

// FrontProxy returns the caller kube-apiserver's aggregator is: it presents
// the front proxy's client certificate (ProxyCommonName, signed by the
// front-proxy CA). Add the user it forwards with As.
func (c *Cluster) FrontProxy() Caller { return c.proxy }

// RogueProxy returns a caller that presents a certificate the cluster does not
// trust as a front proxy: ProxyCommonName, signed by a CA of its own. Its
// requests get 401, whatever headers it adds.
func (c *Cluster) RogueProxy() Caller { return c.rogue }

// User returns a direct caller (not through the aggregator) that presents a
// client certificate of the cluster's client CA, for the user name in groups:
// common name name, organizations groups, as kubectl with a client
// certificate.
func (c *Cluster) User(name string, groups ...string) Caller {
	return caller(c.clientCA.Issue(testpki.Spec{CommonName: name, Organizations: groups}))
}

// BearerToken returns a direct caller that sends token in an Authorization
// header, as kubectl --token, a controller or Prometheus do. The cluster
// authenticates it when Options.Tokens holds it.
func BearerToken(token string) Caller {
	return Caller{header: http.Header{"Authorization": {"Bearer " + token}}}
}

// As returns the caller with the identity headers the aggregator adds for
// the user it forwards: X-Remote-User name and an X-Remote-Group header per
// group, replacing those the caller had. Add extras with WithHeader
// ("X-Remote-Extra-Scopes", ...). On a caller without the front proxy's
// certificate, these are spoofed headers: the chain answers 401.
func (c Caller) As(name string, groups ...string) Caller {
	c.header = c.header.Clone()
	if c.header == nil {
		c.header = http.Header{}
	}
	c.header.Set(authn.DefaultUsernameHeader, name)
	c.header.Del(authn.DefaultGroupHeader)
	for _, g := range groups {
		c.header.Add(authn.DefaultGroupHeader, g)
	}
	return c
}

// WithHeader returns the caller with one more header value.
func (c Caller) WithHeader(key, value string) Caller {
	c.header = c.header.Clone()
	if c.header == nil {
		c.header = http.Header{}
	}
	c.header.Add(key, value)
	return c
}

// NewRequest returns a request from the caller as an HTTPS server hands it to
// its handler, for a test in process (with httptest.NewRecorder): method,
// target and body as httptest.NewRequest takes them (which panics on an
// invalid target), the caller's headers, a Content-Type of application/json
// when there is a body and the caller sets none (as kubectl sends), and req.TLS
// set as after a TLS handshake. The caller's certificate is
// req.TLS.PeerCertificates[0], where the chain reads it; VerifiedChains stays
// empty, as behind serving's tls.RequestClientCert: the chain verifies the
// certificate itself, against the CAs in force.
func (c Caller) NewRequest(method, target string, body io.Reader) *http.Request {
	req := httptest.NewRequest(method, target, body)
	for k, v := range c.header {
		req.Header[k] = append(req.Header[k], v...)
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.TLS = &tls.ConnectionState{
		Version: tls.VersionTLS13, HandshakeComplete: true, CipherSuite: tls.TLS_AES_128_GCM_SHA256,
		ServerName: req.URL.Hostname(),
	}
	if c.cert != nil {
		req.TLS.PeerCertificates = []*x509.Certificate{c.cert.Leaf}
	}
	return req
}

// Do serves NewRequest(method, target, body) with h and returns what h
// answered.
func (c Caller) Do(h http.Handler, method, target string, body io.Reader) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, c.NewRequest(method, target, body))
	return rec
}

// Client returns a copy of base for calls over TLS: its transport presents the
// caller's certificate in the handshake and adds the caller's headers to
// every request that does not set them. base's Transport must be an
// *http.Transport (nil: http.DefaultTransport), whose TLS configuration (the
// roots that trust the server, say) is kept: with an httptest.Server, pass
// srv.Client(), and have the server request client certificates (its TLS
// field &tls.Config{ClientAuth: tls.RequestClientCert}, as serving's TLS
// configuration does). A nil base is http.DefaultClient.
func (c Caller) Client(base *http.Client) *http.Client {
	if base == nil {
		base = http.DefaultClient
	}
	var t *http.Transport
	switch bt := base.Transport.(type) {
	case nil:
		t = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		t = bt.Clone()
	default:
		panic(fmt.Sprintf("aggauthtest: Client: base.Transport is a %T; want an *http.Transport", bt))
	}
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	t.TLSClientConfig.Certificates = nil
	if c.cert != nil {
		t.TLSClientConfig.Certificates = []tls.Certificate{*c.cert}
	}
	out := *base
	out.Transport = &headerTransport{Transport: t, header: c.header}
	return &out
}

// headerTransport adds header to the requests that do not set them.
type headerTransport struct {
	*http.Transport // CloseIdleConnections, for http.Client's
	header          http.Header
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(t.header) > 0 {
		req = req.Clone(req.Context())
		for k, v := range t.header {
			if _, set := req.Header[k]; !set {
				req.Header[k] = slices.Clone(v)
			}
		}
	}
	return t.Transport.RoundTrip(req)
}
