//go:build hostile

package hostile

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	h2Sequential = 20 // requests sent one after the other
	h2Concurrent = 50 // requests sent at once
)

// TestHTTP2UnauthenticatedOneRequestPerConnection drives kube-apiserver's
// mitigation of unauthenticated HTTP/2 floods (CVE-2023-44487, CVE-2023-39325),
// which aggauth keeps: after a 401 over HTTP/2 the server closes the
// connection (Connection: close, which Go's HTTP/2 server turns into a
// GOAWAY), so a client without credentials pays a TLS handshake per request.
// A client without a certificate sends 20 requests one after the other through
// one HTTP/2 transport, which reuses its connection whenever the server lets
// it: each connection must have carried exactly one request, and the server
// must have closed every one of them by itself. Then 50 requests sent at once
// show how many streams already in flight on one connection are still
// answered before it closes (reported, not bounded: the GOAWAY lets them
// finish). Kubernetes' filters are the control; they have the same mitigation.
func TestHTTP2UnauthenticatedOneRequestPerConnection(t *testing.T) {
	p := thePKI()
	lines := map[string]string{}
	for _, build := range builders {
		im := build(t, p, chainOptions{})
		t.Run(im.name, func(t *testing.T) {
			s := serve(t, p, im.handler)
			tr := transport(p, nil, true)
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for i := range h2Sequential {
				proto, code, err := sendProto(c, s.URL+resourcePath)
				require.NoError(t, err)
				require.Equal(t, http.StatusUnauthorized, code, "request %d", i)
				require.Equal(t, 2, proto, "request %d: HTTP major version", i)
			}
			conns, most := s.requestsPerConn()
			// The client keeps idle connections open: only the server closes them.
			closed := poll(2*time.Second, func() bool { return s.opened.Load() == s.closed.Load() })

			s2 := serve(t, p, im.handler)
			tr2 := transport(p, nil, true)
			defer tr2.CloseIdleConnections()
			c2 := &http.Client{Transport: tr2, Timeout: 10 * time.Second}
			var refused atomic.Int64
			run(h2Concurrent, h2Concurrent, func(int) {
				if _, code, err := sendProto(c2, s2.URL+resourcePath); err == nil && code == http.StatusUnauthorized {
					refused.Add(1)
				}
			})
			conns2, most2 := s2.requestsPerConn()
			lines[im.name] = fmt.Sprintf("%s: sequential %d requests on %d connections, at most %d per connection, all closed by the server: %v; "+
				"%d at once (%d answered 401) on %d connections, at most %d per connection",
				im.name, h2Sequential, conns, most, closed, h2Concurrent, refused.Load(), conns2, most2)
			if im.name == "aggauth" {
				assert.Equal(t, 1, most, "unauthenticated requests answered on one HTTP/2 connection: got at most %d; want 1", most)
				assert.Equal(t, h2Sequential, conns, "connections for %d sequential unauthenticated requests", h2Sequential)
				assert.True(t, closed, "the server closed every unauthenticated HTTP/2 connection: %d opened, %d closed",
					s.opened.Load(), s.closed.Load())
				assert.EqualValues(t, h2Concurrent, refused.Load(), "concurrent unauthenticated requests answered 401")
			}
		})
	}
	t.Logf("unauthenticated requests per HTTP/2 connection: %s | %s (bound 1 sequential)", lines["aggauth"], lines["kubernetes"])
}

// sendProto makes an unauthenticated GET and returns the HTTP major version
// and status code of the answer.
func sendProto(c *http.Client, url string) (proto, code int, err error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.ProtoMajor, resp.StatusCode, nil
}
