package serving_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aggauth/aggauth/serving"
)

// Requests over HTTP/2 and TLS on loopback, through a Server (impl=serving)
// and through a bare http.Server with the same certificate (impl=none), one
// client, 8 requests at a time.
func BenchmarkHTTP2(b *testing.B) {
	bare := func(b *testing.B) string {
		cert, err := tls.LoadX509KeyPair(pki.certFile, pki.keyFile)
		require.NoError(b, err)
		ln := loopback(b)
		// The Server's HTTP/2 settings (newHTTPServer), so that the two differ
		// by the filters only.
		srv := &http.Server{Handler: ok, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ReadHeaderTimeout: time.Minute,
			HTTP2: &http.HTTP2Config{MaxConcurrentStreams: serving.DefaultHTTP2MaxStreamsPerConnection, MaxReadFrameSize: 256 << 10,
				MaxReceiveBufferPerStream: 256 << 10, MaxReceiveBufferPerConnection: 256 << 10 * serving.DefaultHTTP2MaxStreamsPerConnection}}
		go func() { _ = srv.ServeTLS(ln, "", "") }()
		b.Cleanup(func() { _ = srv.Close() })
		return "https://" + ln.Addr().String()
	}
	served := func(b *testing.B) string { return start(b, testOptions(b), ok).url }
	for _, bc := range []struct {
		name string
		url  func(*testing.B) string
	}{{"none", bare}, {"serving", served}} {
		b.Run("impl="+bc.name, func(b *testing.B) {
			url := bc.url(b) + "/apis/g/v1/namespaces/ns/things/x"
			c := client(b, false)
			b.ReportAllocs()
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}
