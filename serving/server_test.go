package serving_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/testpki"
	"github.com/aggauth/aggauth/serving"
)

// serverSettings connects over HTTP/2 and returns the server's SETTINGS and
// its first connection-level WINDOW_UPDATE.
func serverSettings(t *testing.T, addr string) (map[http2.SettingID]uint32, uint32) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.roots, ServerName: "localhost", NextProtos: []string{"h2"}})
	require.NoError(t, err)
	defer conn.Close()
	require.Equal(t, "h2", conn.ConnectionState().NegotiatedProtocol)
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = conn.Write([]byte(http2.ClientPreface))
	require.NoError(t, err)
	fr := http2.NewFramer(conn, conn)
	require.NoError(t, fr.WriteSettings())
	settings := map[http2.SettingID]uint32{}
	var window uint32
	for len(settings) == 0 || window == 0 {
		f, err := fr.ReadFrame()
		require.NoError(t, err)
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				require.NoError(t, f.ForeachSetting(func(s http2.Setting) error { settings[s.ID] = s.Val; return nil }))
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				window = f.Increment
			}
		}
	}
	return settings, window
}

// HTTP/2 is tuned as the generic apiserver tunes it for an aggregated server,
// as a client sees it.
func TestHTTP2Settings(t *testing.T) {
	for _, tt := range []struct{ streams, want int }{{0, 1000}, {250, 250}, {10000, 10000}} {
		t.Run(strconv.Itoa(tt.streams), func(t *testing.T) {
			opts := testOptions(t)
			opts.HTTP2MaxStreamsPerConnection = tt.streams
			r := start(t, opts, ok)
			settings, window := serverSettings(t, r.Addr().String())
			assert.Equal(t, uint32(tt.want), settings[http2.SettingMaxConcurrentStreams])
			assert.Equal(t, uint32(256<<10), settings[http2.SettingInitialWindowSize], "stream receive buffer")
			assert.Equal(t, uint32(256<<10), settings[http2.SettingMaxFrameSize])
			assert.GreaterOrEqual(t, settings[http2.SettingMaxHeaderListSize], uint32(1<<20))
			wantWindow := min(int64(256<<10)*int64(tt.want), math.MaxInt32)
			assert.Equal(t, wantWindow, int64(window)+65535, "connection receive buffer")
		})
	}
}

func TestServe(t *testing.T) {
	r := start(t, testOptions(t), ok)
	for _, h1 := range []bool{false, true} {
		resp, body := get(t, client(t, h1), r.url+"/apis/g/v1/things")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "ok", string(body))
		assert.Equal(t, map[bool]int{false: 2, true: 1}[h1], resp.ProtoMajor)
		assert.Equal(t, "no-cache, private", resp.Header.Get("Cache-Control"))
		assert.Len(t, resp.Header.Get("Audit-ID"), 36)
	}
}

func TestDisableHTTP2(t *testing.T) {
	opts := testOptions(t)
	opts.DisableHTTP2 = true
	r := start(t, opts, ok)
	c := client(t, false)
	c.Transport.(*http.Transport).Protocols.SetHTTP1(true)
	resp, _ := get(t, c, r.url+"/")
	assert.Equal(t, 1, resp.ProtoMajor)
}

func TestTLSSettings(t *testing.T) {
	dial := func(addr string, cfg *tls.Config) error {
		cfg.RootCAs, cfg.ServerName = pki.roots, "localhost"
		conn, err := tls.Dial("tcp", addr, cfg)
		if err == nil {
			conn.Close()
		}
		return err
	}
	opts := testOptions(t)
	opts.MinTLSVersion = "VersionTLS13"
	r := start(t, opts, ok)
	assert.Error(t, dial(r.Addr().String(), &tls.Config{MaxVersion: tls.VersionTLS12}))
	assert.NoError(t, dial(r.Addr().String(), &tls.Config{}))

	opts = testOptions(t)
	opts.CipherSuites = []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}
	r = start(t, opts, ok)
	assert.Error(t, dial(r.Addr().String(), &tls.Config{MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}))
	assert.NoError(t, dial(r.Addr().String(), &tls.Config{MaxVersion: tls.VersionTLS12}))
	assert.Error(t, dial(r.Addr().String(), &tls.Config{MaxVersion: tls.VersionTLS11}), "TLS 1.2 at least, by default")
}

// caSource is a TLSConfigSource advertising a CA that may change, as the
// chain's.
type caSource struct{ ca *authn.DynamicCA }

func (s caSource) TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	return serving.TLSConfig(serving.TLSOptions{CertFile: certFile, KeyFile: keyFile, ClientCAs: []func() []*x509.Certificate{authn.CACertificates(s.ca)}})
}

// The source's configuration is served with the TLS flags on top: its client
// CAs are advertised as they change.
func TestTLSConfigSource(t *testing.T) {
	bundle := func(cn string) *authn.CABundle {
		b, err := authn.NewCABundle(testpki.NewCA(cn, testpki.ECDSA).PEM())
		require.NoError(t, err)
		return b
	}
	src := caSource{authn.NewDynamicCA(bundle("front-proxy-ca"))}
	opts := testOptions(t)
	opts.MinTLSVersion = "VersionTLS13"
	srv, err := serving.New(opts, src, ok)
	require.NoError(t, err)
	go func() { _ = srv.Run(context.Background()) }()
	defer srv.Close()

	acceptable := func() ([]string, error) {
		var names []string
		cfg := &tls.Config{RootCAs: pki.roots, ServerName: "localhost", GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			for _, raw := range cri.AcceptableCAs {
				names = append(names, string(raw))
			}
			return &tls.Certificate{}, nil
		}}
		conn, err := tls.Dial("tcp", srv.Addr().String(), cfg)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		return names, conn.Handshake()
	}
	names, err := acceptable()
	require.NoError(t, err)
	require.Len(t, names, 1)
	assert.Contains(t, names[0], "front-proxy-ca")
	src.ca.Set(bundle("rotated-ca"))
	names, err = acceptable()
	require.NoError(t, err)
	assert.Contains(t, names[0], "rotated-ca")

	conn, err := tls.Dial("tcp", srv.Addr().String(), &tls.Config{RootCAs: pki.roots, ServerName: "localhost", MaxVersion: tls.VersionTLS12})
	if err == nil {
		conn.Close()
	}
	assert.Error(t, err, "the minimum version applies to the source's configurations too")
}

// A panic is a 500 Status, and the connection is still used afterwards.
func TestPanicKeepsTheConnection(t *testing.T) {
	r := start(t, testOptions(t), http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/panic" {
			panic("boom")
		}
		ok(w, req)
	}))
	for _, h1 := range []bool{false, true} {
		c := client(t, h1)
		var conns []net.Conn
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { conns = append(conns, i.Conn) }}
		for _, path := range []string{"/panic", "/", "/panic", "/"} {
			req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, r.url+path, nil)
			require.NoError(t, err)
			resp, err := c.Do(req)
			require.NoError(t, err)
			body := readAll(t, resp)
			if path == "/panic" {
				assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
				assert.Equal(t, "InternalError", string(status(t, body).Reason))
			} else {
				assert.Equal(t, http.StatusOK, resp.StatusCode)
			}
		}
		require.Len(t, conns, 4)
		for _, c := range conns {
			assert.Same(t, conns[0], c, "one connection (HTTP/1.1: %v)", h1)
		}
	}
}

func TestPortSharing(t *testing.T) {
	opts := serving.Options{BindAddress: net.IPv4(127, 0, 0, 1), SecurePort: freePort(t), PermitPortSharing: true,
		CertFile: pki.certFile, KeyFile: pki.keyFile, Logger: quietLogger}
	first, err := serving.New(opts, nil, ok)
	require.NoError(t, err)
	defer first.Close()
	second, err := serving.New(opts, nil, ok)
	require.NoError(t, err, "SO_REUSEPORT")
	defer second.Close()
	opts.PermitPortSharing = false
	_, err = serving.New(opts, nil, ok)
	assert.ErrorContains(t, err, "address already in use")
}

func freePort(t *testing.T) int {
	ln := loopback(t)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestLifecycleMisuse(t *testing.T) {
	_, err := serving.New(testOptions(t), nil, nil)
	assert.ErrorContains(t, err, "needs a handler")
	_, err = serving.New(serving.Options{SecurePort: -1}, nil, ok)
	assert.ErrorContains(t, err, "--secure-port")

	srv, err := serving.New(testOptions(t), nil, ok)
	require.NoError(t, err)
	require.NoError(t, srv.Close())
	require.NoError(t, srv.Close(), "twice")
	assert.NoError(t, srv.Run(context.Background()), "Run after Close returns at once")
	assert.ErrorContains(t, srv.Run(context.Background()), "Run called twice")

	opts := testOptions(t)
	srv, err = serving.New(opts, nil, ok)
	require.NoError(t, err)
	require.NoError(t, opts.Listener.Close())
	err = srv.Run(context.Background())
	assert.Error(t, err, "the listener failed")
	assert.False(t, errors.Is(err, http.ErrServerClosed))
}

// readAll reads and closes a response body.
func readAll(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}
