package serving_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/pipeline"
)

// longRunningServer serves through the whole pipeline (serving's steps and
// the chain's places) with a short timeout and one slot of each kind:
// /exec upgrades the connection (the handler hijacks it and echoes lines
// until it closes), a watch streams five events 100 ms apart, flushed, and
// /block holds its slot until release closes.
func longRunningServer(t *testing.T) (*running, *prometheus.Registry, *holding) {
	opts := testOptions(t)
	opts.RequestTimeout = 300 * time.Millisecond
	opts.MaxRequestsInFlight, opts.MaxMutatingRequestsInFlight = 1, 1
	opts.Resources = func(g, v, r, s string) bool { return declared(g, v, r, "") && (s == "" || s == "exec") }
	// As Kubernetes' connect subresources are: the exec subresource is
	// declared long-running; an Upgrade header alone would not make it so.
	opts.LongRunning = func(_ *http.Request, info *request.RequestInfo) bool { return info.Subresource == "exec" }
	held := &holding{release: make(chan struct{})}
	var authorized atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/exec"):
			upgrade(t, w, r)
		case r.URL.Query().Get("watch") == "true":
			watch(t, w, r)
		default:
			held.ServeHTTP(w, r)
		}
	})
	r := start(t, opts, pipeline.New(h, testAuthn{}, testAuthz{&authorized}))
	t.Cleanup(func() { close(held.release) })
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Collectors()...)
	return r, reg, held
}

// upgrade switches the connection to a line echo, as Kubernetes' SPDY and
// WebSocket upgraders do: 101, then Hijack.
func upgrade(t *testing.T, w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "echo") {
		http.Error(w, "upgrade required", http.StatusUpgradeRequired)
		return
	}
	w.Header().Set("Connection", "Upgrade")
	w.Header().Set("Upgrade", "echo")
	w.WriteHeader(http.StatusSwitchingProtocols)
	conn, rw, err := http.NewResponseController(w).Hijack()
	if !assert.NoError(t, err, "Hijack") {
		return
	}
	defer conn.Close()
	for {
		line, err := rw.ReadString('\n')
		if err != nil {
			return
		}
		_, _ = rw.WriteString("echo " + line)
		_ = rw.Flush()
	}
}

// watch writes five events 100 ms apart, each flushed, the first with
// http.Flusher, the others with http.ResponseController.
func watch(t *testing.T, w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	rc := http.NewResponseController(w)
	for i := range 5 {
		if i > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		_, _ = fmt.Fprintf(w, `{"type":"ADDED","object":{"n":%d}}`+"\n", i)
		if i == 0 {
			w.(http.Flusher).Flush()
			continue
		}
		if !assert.NoError(t, rc.Flush(), "ResponseController.Flush") {
			return
		}
	}
	assert.NoError(t, rc.SetWriteDeadline(time.Now().Add(time.Minute)), "ResponseController.SetWriteDeadline")
}

func longRunningGauge(t *testing.T, reg *prometheus.Registry, verb, subresource string) float64 {
	got := samples(t, reg)
	return got.values[`apiserver_longrunning_requests{component="apiserver",group="g",resource="things",scope="`+
		map[string]string{"WATCH": "namespace", "CONNECT": "resource"}[verb]+`",subresource="`+subresource+`",verb="`+verb+`",version="v1"}`]
}

// TestUpgradeOverTLS: an HTTP/1.1 upgrade goes through the whole pipeline
// and hijacks the connection; it outlives the request timeout, holds no
// in-flight slot, and is counted in apiserver_longrunning_requests while open.
func TestUpgradeOverTLS(t *testing.T) {
	r, reg, held := longRunningServer(t)
	conn := r.dialHTTP1(t)
	_, err := io.WriteString(conn, "GET /apis/g/v1/namespaces/ns/things/x/exec HTTP/1.1\r\nHost: localhost\r\n"+
		"X-Test-User: bob\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	assert.Equal(t, "echo", resp.Header.Get("Upgrade"))
	assert.NotEmpty(t, resp.Header.Get("Audit-Id"), "serving's headers on the 101")

	echo := func(line string) {
		_, err := io.WriteString(conn, line+"\n")
		require.NoError(t, err)
		got, err := br.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "echo "+line+"\n", got)
	}
	echo("hello")
	assert.Equal(t, 1.0, longRunningGauge(t, reg, "CONNECT", "exec"))
	// Its one read-only slot is free: the upgraded connection holds none.
	c := client(t, false)
	go background(c, http.MethodGet, r.url+"/apis/g/v1/namespaces/ns/things/y/block")
	require.Eventually(t, func() bool { return held.held.Load() == 1 }, 10*time.Second, time.Millisecond)
	time.Sleep(500 * time.Millisecond) // past the request timeout
	echo("still there")
	require.NoError(t, conn.Close())
	assert.Eventually(t, func() bool { return longRunningGauge(t, reg, "CONNECT", "exec") == 0 }, 10*time.Second, 10*time.Millisecond)
	got := samples(t, reg)
	assert.Equal(t, 1.0, got.values[`apiserver_request_total{code="101",component="apiserver",dry_run="",group="g",resource="things",scope="resource",subresource="exec",verb="CONNECT",version="v1"}`])
}

// TestWatchOverHTTP2: a watch streams over HTTP/2 through the whole
// pipeline, each event flushed as written, past the request timeout and
// beside requests that fill the in-flight slots.
func TestWatchOverHTTP2(t *testing.T) {
	r, reg, held := longRunningServer(t)
	c := client(t, false)
	go background(c, http.MethodGet, r.url+"/apis/g/v1/namespaces/ns/things/y/block")
	require.Eventually(t, func() bool { return held.held.Load() == 1 }, 10*time.Second, time.Millisecond)

	req, err := http.NewRequest(http.MethodGet, r.url+"/apis/g/v1/namespaces/ns/things?watch=true", nil)
	require.NoError(t, err)
	req.Header.Set("X-Test-User", "bob")
	start := time.Now()
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 2, resp.ProtoMajor)
	lines := bufio.NewScanner(resp.Body)
	var arrivals []time.Duration
	for lines.Scan() {
		arrivals = append(arrivals, time.Since(start))
		if len(arrivals) == 1 {
			assert.Equal(t, 1.0, longRunningGauge(t, reg, "WATCH", ""))
		}
	}
	require.NoError(t, lines.Err())
	require.Len(t, arrivals, 5, "five events, the last past the request timeout")
	assert.Less(t, arrivals[0], 300*time.Millisecond, "the first event came before the handler returned: flushed")
	assert.Greater(t, arrivals[4], 350*time.Millisecond)
	assert.Eventually(t, func() bool { return longRunningGauge(t, reg, "WATCH", "") == 0 }, 10*time.Second, 10*time.Millisecond)
}

// TestUndeclaredUpgradeIsNotLongRunning: Upgrade and Connection headers added
// to a request whose endpoint is not declared long-running change nothing:
// it takes its in-flight slot (429 while the one mutating slot is held) and
// its deadline (504), as in Kubernetes, which decides from the RequestInfo
// alone. Else any client could skip both by adding two headers to a create.
func TestUndeclaredUpgradeIsNotLongRunning(t *testing.T) {
	post := func(r *running, name string) *http.Response {
		conn := r.dialHTTP1(t)
		require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second))) // no answer at all fails, not hangs
		_, err := io.WriteString(conn, "POST /apis/g/v1/namespaces/ns/things/"+name+"/block HTTP/1.1\r\nHost: localhost\r\n"+
			"X-Test-User: bob\r\nConnection: Upgrade\r\nUpgrade: echo\r\nContent-Length: 0\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp
	}
	t.Run("in-flight limit", func(t *testing.T) {
		r, _, held := longRunningServer(t)
		go background(client(t, false), http.MethodPost, r.url+"/apis/g/v1/namespaces/ns/things/y/block")
		require.Eventually(t, func() bool { return held.held.Load() == 1 }, 10*time.Second, time.Millisecond)
		assert.Equal(t, http.StatusTooManyRequests, post(r, "x").StatusCode, "the mutating slot is held: an Upgrade header is no way around it")
	})
	t.Run("timeout", func(t *testing.T) {
		r, _, _ := longRunningServer(t)
		start := time.Now()
		assert.Equal(t, http.StatusGatewayTimeout, post(r, "x").StatusCode, "the request's deadline holds")
		assert.Less(t, time.Since(start), 5*time.Second)
	})
}
