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
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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

func TestMetrics(t *testing.T) {
	opts := testOptions(t)
	opts.RequestTimeout = 100 * time.Millisecond
	r := start(t, opts, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/panic":
			panic("boom")
		case "/abort":
			panic(http.ErrAbortHandler)
		case "/slow":
			<-req.Context().Done()
		case "/missing":
			http.NotFound(w, req)
		}
	}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Collectors()...)
	c := client(t, false)
	do := func(method, path string) {
		req, err := http.NewRequest(method, r.url+path, nil)
		require.NoError(t, err)
		if resp, err := c.Do(req); err == nil {
			readAll(t, resp)
		}
	}
	do(http.MethodGet, "/apis/g/v1/namespaces/ns/things/x")
	do(http.MethodGet, "/apis/g/v1/namespaces/ns/things/x")
	do(http.MethodGet, "/apis/g/v1/namespaces/ns/things")
	do(http.MethodGet, "/apis/g/v1/things?watch=true")
	do(http.MethodPost, "/apis/g/v1/namespaces/ns/things")
	do("FROB", "/apis/g/v1/things")
	do(http.MethodGet, "/missing")
	do(http.MethodGet, "/panic")
	do(http.MethodGet, "/slow")
	do(http.MethodGet, "/abort")

	families, err := reg.Gather()
	require.NoError(t, err)
	counts := map[string]float64{}
	var timed uint64
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName() + labels(m)
			switch {
			case m.Counter != nil:
				counts[key] = m.Counter.GetValue()
			case m.Histogram != nil:
				timed += m.Histogram.GetSampleCount()
			}
		}
	}
	assert.Equal(t, map[string]float64{
		"aggauth_serving_requests_total{code=200,verb=GET}":   2,
		"aggauth_serving_requests_total{code=200,verb=LIST}":  1,
		"aggauth_serving_requests_total{code=200,verb=WATCH}": 1,
		"aggauth_serving_requests_total{code=200,verb=POST}":  1,
		"aggauth_serving_requests_total{code=200,verb=OTHER}": 1,
		"aggauth_serving_requests_total{code=404,verb=GET}":   1,
		"aggauth_serving_requests_total{code=500,verb=GET}":   1,
		"aggauth_serving_requests_total{code=504,verb=GET}":   1,
		"aggauth_serving_request_aborts_total{verb=GET}":      1,
	}, counts)
	assert.Equal(t, uint64(8), timed, "every request but the watch and the abort is timed")
}

func labels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return "{" + strings.Join(parts, ",") + "}"
}
