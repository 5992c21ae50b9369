package serving_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/warning"

	"github.com/aggauth/aggauth/serving"
)

// The request path of a real server, as a client sees it.

// connections sends n GETs for path one after the other and returns how many
// connections they used.
func connections(t *testing.T, c *http.Client, url string, n int) int {
	seen := map[net.Conn]bool{}
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { seen[i.Conn] = true }}
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	for range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err)
		readAll(t, resp)
	}
	return len(seen)
}

// --goaway-chance spreads one client's requests over new connections; watches
// never get a GOAWAY.
func TestGoawaySpreadsConnections(t *testing.T) {
	opts := testOptions(t)
	opts.GoawayChance = serving.MaxGoawayChance
	r := start(t, opts, ok)
	n := connections(t, client(t, false), r.url+"/apis/g/v1/things/x", 600)
	assert.Greater(t, n, 1, "600 requests at 2%% should close about 12 connections") // odds of none: 6e-6
	assert.Less(t, n, 60)
	assert.Equal(t, 1, connections(t, client(t, false), r.url+"/apis/g/v1/things?watch=true", 300), "a watch is never sent a GOAWAY")

	off := start(t, testOptions(t), ok)
	assert.Equal(t, 1, connections(t, client(t, false), off.url+"/apis/g/v1/things/x", 300))
}

// A request out of time gets a 504 Status; the handler's context ends.
func TestTimeoutOverTheWire(t *testing.T) {
	opts := testOptions(t)
	opts.RequestTimeout = 200 * time.Millisecond
	ctxErr := make(chan error, 1)
	r := start(t, opts, http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) {
		<-req.Context().Done()
		ctxErr <- req.Context().Err()
	}))
	for _, h1 := range []bool{false, true} {
		start := time.Now()
		resp, body := get(t, client(t, h1), r.url+"/apis/g/v1/things")
		assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
		assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
		s := status(t, body)
		assert.Equal(t, "Timeout: request did not complete within the allotted timeout", s.Message)
		assert.Equal(t, "Timeout", string(s.Reason))
		assert.ErrorIs(t, <-ctxErr, context.DeadlineExceeded)
		assert.NotEmpty(t, resp.Header.Get("Audit-ID"), "the outer filters' headers are kept")
	}
	resp, _ := get(t, client(t, false), r.url+"/apis/g/v1/things?timeout=50ms")
	assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
	<-ctxErr
	resp, body := get(t, client(t, false), r.url+"/apis/g/v1/things?timeout=x")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, status(t, body).Message, "invalid timeout specified in the request URL")
}

func TestAuditIDOverTheWire(t *testing.T) {
	var seen string
	r := start(t, testOptions(t), http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		seen, _ = serving.AuditIDFrom(req.Context())
	}))
	c := client(t, false)
	send := func(id string) string {
		req, err := http.NewRequest(http.MethodGet, r.url+"/", nil)
		require.NoError(t, err)
		if id != "" {
			req.Header.Set("Audit-ID", id)
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		readAll(t, resp)
		assert.Equal(t, resp.Header.Get("Audit-ID"), seen)
		return resp.Header.Get("Audit-ID")
	}
	assert.Equal(t, "a3c1-forwarded", send("a3c1-forwarded"), "echoed")
	_, err := uuid.Parse(send(""))
	assert.NoError(t, err, "generated")
	assert.Equal(t, strings.Repeat("z", 64), send(strings.Repeat("z", 5000)), "bounded")
}

func TestWarningsAndCacheControlOverTheWire(t *testing.T) {
	r := start(t, testOptions(t), http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		warning.AddWarning(req.Context(), "", "widgets.demo/v1alpha1 is deprecated")
		if req.URL.Path == "/cached" {
			w.Header().Set("Cache-Control", "max-age=60")
		}
		_, _ = io.WriteString(w, "ok")
	}))
	for _, h1 := range []bool{false, true} {
		resp, _ := get(t, client(t, h1), r.url+"/")
		assert.Equal(t, []string{`299 - "widgets.demo/v1alpha1 is deprecated"`}, resp.Header.Values("Warning"))
		assert.Equal(t, "no-cache, private", resp.Header.Get("Cache-Control"))
		resp, _ = get(t, client(t, h1), r.url+"/cached")
		assert.Equal(t, []string{"max-age=60"}, resp.Header.Values("Cache-Control"))
	}
}
