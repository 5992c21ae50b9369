package servertest

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/example/internal/demo"
	"github.com/aggauth/aggauth/internal/testutil"
)

// shutdownDelay is the --shutdown-delay-duration the suite's server runs with.
const shutdownDelay = time.Second

// testServing: what the serving package does around the handlers, through
// the demonstrations of the demo API (demo.Demonstrate) and its defaulting.
func (e *Env) testServing(t *testing.T) {
	const ns = demo.VersionPath + "/namespaces/default/widgets"
	t.Run("a panic is a 500 InternalError Status, and the server keeps serving", func(t *testing.T) {
		resp, body := e.Do(t, e.Proxy, http.MethodGet, ns+"/"+demo.PanicWidget, alice, "")
		st := testutil.Status(t, resp.StatusCode, resp.Header, body)
		assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		assert.Equal(t, metav1.StatusReasonInternalError, st.Reason)
		assert.Contains(t, st.Message, "This request caused apiserver to panic")
		resp, body = e.Do(t, e.Proxy, http.MethodGet, ns, alice, "")
		assert.Equal(t, http.StatusOK, resp.StatusCode, "after the panic: %s", body)
	})
	t.Run("a slow handler gets a 504 Timeout Status at ?timeout=", func(t *testing.T) {
		start := time.Now()
		resp, body := e.Do(t, e.Proxy, http.MethodGet, ns+"/"+demo.SlowWidget+"?timeout=300ms", alice, "")
		took := time.Since(start)
		st := testutil.Status(t, resp.StatusCode, resp.Header, body)
		assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
		assert.Equal(t, metav1.StatusReasonTimeout, st.Reason)
		assert.GreaterOrEqual(t, took, 300*time.Millisecond)
		assert.Less(t, took, 10*time.Second)
	})
	t.Run("a warning from the handler is a Warning header", func(t *testing.T) {
		resp, body := e.Do(t, e.Proxy, http.MethodPost, ns, alice, `{"metadata":{"name":"plain"},"spec":{"size":1}}`)
		require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", body)
		assert.Equal(t, demo.DefaultColor, decode[demo.Widget](t, body).Spec.Color)
		assert.Equal(t, []string{`299 - "spec.color is empty; defaulting to gray"`}, resp.Header.Values("Warning"))
		resp, body = e.Do(t, e.Proxy, http.MethodDelete, ns+"/plain", alice, "")
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		assert.Empty(t, resp.Header.Values("Warning"))
	})
	t.Run("reserved names cannot be created", func(t *testing.T) {
		for _, name := range []string{demo.PanicWidget, demo.SlowWidget} {
			resp, body := e.Do(t, e.Proxy, http.MethodPost, ns, alice, `{"metadata":{"name":"`+name+`"}}`)
			st := testutil.Status(t, resp.StatusCode, resp.Header, body)
			assert.Equal(t, metav1.StatusReasonInvalid, st.Reason, name)
		}
	})
	t.Run("the Audit-ID is the aggregator's, or a new one", func(t *testing.T) {
		resp, body := e.Do(t, e.Proxy, http.MethodGet, ns, withHeader(alice, "Audit-ID", "8d5e4f3c-audit"), "")
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		assert.Equal(t, []string{"8d5e4f3c-audit"}, resp.Header.Values("Audit-ID"))
		assert.Equal(t, "no-cache, private", resp.Header.Get("Cache-Control"))
		resp, _ = e.Do(t, e.Proxy, http.MethodGet, ns, alice, "")
		_, err := uuid.Parse(resp.Header.Get("Audit-ID"))
		assert.NoError(t, err, "a generated audit ID is a UUID")
	})
}

// testShutdown: when run's context ends (SIGTERM), /readyz fails at once while
// the rest is served for --shutdown-delay-duration; then a watch in progress
// ends, and run returns nil.
func (e *Env) testShutdown(t *testing.T) {
	watchCtx, cancel := context.WithTimeout(context.Background(), shutdownDelay+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(watchCtx, http.MethodGet, e.BaseURL+demo.VersionPath+"/namespaces/default/widgets?watch=true", nil)
	require.NoError(t, err)
	for k, v := range alice {
		req.Header[k] = v
	}
	watch, err := e.Proxy.Do(req)
	require.NoError(t, err)
	defer watch.Body.Close()
	require.Equal(t, http.StatusOK, watch.StatusCode)
	watchEnded := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, watch.Body) // the initial events, then nothing until the end
		watchEnded <- err
	}()

	stopped := make(chan error, 1)
	start := time.Now()
	go func() { stopped <- e.Stop() }()
	var readyz []byte
	require.Eventually(t, func() bool {
		resp, body := e.Do(t, e.NoCert, http.MethodGet, "/readyz", nil, "")
		readyz = body
		return resp.StatusCode == http.StatusServiceUnavailable
	}, shutdownDelay/2, 10*time.Millisecond, "/readyz fails at once")
	assert.Contains(t, string(readyz), "shutting down")
	for _, path := range []string{"/healthz", "/livez"} {
		resp, body := e.Do(t, e.NoCert, http.MethodGet, path, nil, "")
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s during the delay: %s", path, body)
	}
	resp, body := e.Do(t, e.Proxy, http.MethodGet, demo.VersionPath+"/namespaces/default/widgets", alice, "")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the API during the delay: %s", body)
	require.Less(t, time.Since(start), shutdownDelay, "the checks ran within the delay")
	select {
	case err := <-stopped:
		require.NoError(t, err, "run's return after a graceful shutdown")
		assert.GreaterOrEqual(t, time.Since(start), shutdownDelay, "run returned after the delay")
	case <-time.After(shutdownDelay + 30*time.Second):
		t.Fatal("run did not return after the shutdown")
	}
	select {
	case err := <-watchEnded:
		assert.NoError(t, err, "the watch ends cleanly")
	case <-watchCtx.Done():
		t.Fatal("the watch did not end with the server")
	}
}

// withHeader returns h with one more header.
func withHeader(h http.Header, key, value string) http.Header {
	h = h.Clone()
	h.Set(key, value)
	return h
}
