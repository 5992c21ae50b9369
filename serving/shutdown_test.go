package serving_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// blocking is a handler whose /slow and /watch requests wait for release
// (the watch also for its context), and that answers the rest "ok".
type blocking struct {
	entered chan string
	release chan struct{}
	ctxErr  chan error // the watch's context error
	once    sync.Once
}

func newBlocking() *blocking {
	return &blocking{entered: make(chan string, 10), release: make(chan struct{}), ctxErr: make(chan error, 1)}
}

func (b *blocking) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/slow":
		b.entered <- r.URL.Path
		<-b.release
		_, _ = io.WriteString(w, "slow done")
	case "/apis/g/v1/things": // ?watch=true: long-running
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush() //nolint:errcheck
		b.entered <- r.URL.Path
		select {
		case <-r.Context().Done():
			b.ctxErr <- r.Context().Err()
		case <-b.release:
		}
	default:
		_, _ = io.WriteString(w, "ok")
	}
}

func (b *blocking) unblock() { b.once.Do(func() { close(b.release) }) }

// result is a response, read in the background.
type result struct {
	code int
	body string
	err  error
}

func getAsync(c *http.Client, url string) <-chan result {
	out := make(chan result, 1)
	go func() {
		resp, err := c.Get(url)
		if err != nil {
			out <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		out <- result{code: resp.StatusCode, body: string(body), err: err}
	}()
	return out
}

func refused(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
	}
	return err != nil
}

// Graceful shutdown as kube-apiserver's: /readyz fails at once, everything
// else is served during the delay (new connections too), then new connections
// are refused while the request in flight completes, then Run returns.
func TestGracefulShutdown(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	const delay = 2 * time.Second
	b := newBlocking()
	defer b.unblock()
	opts := testOptions(t)
	opts.ShutdownDelayDuration = delay
	r := start(t, opts, b)
	h2 := client(t, false)

	resp, body := get(t, h2, r.url+"/readyz")
	require.Equal(t, http.StatusOK, resp.StatusCode, "the handler answers /readyz until shutdown")
	assert.Equal(t, "ok", string(body))
	slow := getAsync(h2, r.url+"/slow")
	<-b.entered

	began := time.Now()
	r.stop()
	assert.Eventually(t, func() bool { return r.Ready() != nil }, time.Second, time.Millisecond)
	h1 := client(t, true) // new connections
	resp, body = get(t, h1, r.url+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "not ready: shutdown: shutting down", status(t, body).Message)
	for _, path := range []string{"/livez", "/healthz", "/apis/g/v1/things/x"} {
		resp, body = get(t, h1, r.url+path)
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Equal(t, "ok", string(body))
	}
	require.Less(t, time.Since(began), delay, "the above ran during the delay")
	h1.CloseIdleConnections()

	require.Eventually(t, func() bool { return refused(r.Addr().String()) }, 5*time.Second, 10*time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(began), delay, "new connections are refused after the delay")
	select {
	case res := <-slow:
		t.Fatalf("the request in flight ended early: %+v", res)
	default:
	}
	b.unblock()
	res := <-slow
	require.NoError(t, res.err)
	assert.Equal(t, http.StatusOK, res.code)
	assert.Equal(t, "slow done", res.body)
	require.NoError(t, r.wait(t, 5*time.Second))
	h2.CloseIdleConnections()
	goleak.VerifyNone(t, ignore)
}

// With --shutdown-send-retry-after, the listener stays open after the delay
// and new requests get 429 with Retry-After and Connection: close, until the
// requests in flight are done.
func TestShutdownSendRetryAfter(t *testing.T) {
	b := newBlocking()
	defer b.unblock()
	opts := testOptions(t)
	opts.ShutdownSendRetryAfter = true
	r := start(t, opts, b)
	slow := getAsync(client(t, false), r.url+"/slow")
	<-b.entered
	r.stop()

	h1 := client(t, true)
	require.Eventually(t, func() bool {
		resp, _ := get(t, h1, r.url+"/apis/g/v1/things/x")
		return resp.StatusCode == http.StatusTooManyRequests
	}, 2*time.Second, 5*time.Millisecond)
	resp, body := get(t, h1, r.url+"/apis/g/v1/things/x")
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "5", resp.Header.Get("Retry-After"))
	assert.True(t, resp.Close, "Connection: close")
	s := status(t, body)
	assert.Equal(t, "TooManyRequests", string(s.Reason))
	assert.Equal(t, "The apiserver is shutting down, please try again later.", s.Message)
	resp, _ = get(t, h1, r.url+"/healthz")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "health probes are still served")
	resp, _ = get(t, h1, r.url+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.False(t, refused(r.Addr().String()), "the listener is open while requests are in flight")

	b.unblock()
	res := <-slow
	require.NoError(t, res.err)
	assert.Equal(t, http.StatusOK, res.code)
	require.NoError(t, r.wait(t, 5*time.Second))
	assert.True(t, refused(r.Addr().String()))
}

// Long-running requests are cancelled when the server stops taking requests:
// the shutdown does not wait for them.
func TestShutdownCancelsLongRunning(t *testing.T) {
	b := newBlocking()
	defer b.unblock()
	opts := testOptions(t)
	opts.RequestTimeout = time.Minute
	r := start(t, opts, b)
	watch := getAsync(client(t, false), r.url+"/apis/g/v1/things?watch=true")
	<-b.entered
	began := time.Now()
	r.stop()
	assert.ErrorIs(t, <-b.ctxErr, context.Canceled)
	res := <-watch
	require.NoError(t, res.err)
	assert.Equal(t, http.StatusOK, res.code)
	require.NoError(t, r.wait(t, 5*time.Second))
	assert.Less(t, time.Since(began), 5*time.Second)
}

// A request that ignores its context does not hold the shutdown beyond
// --request-timeout: its connection is closed.
func TestShutdownIsBounded(t *testing.T) {
	b := newBlocking()
	defer b.unblock()
	opts := testOptions(t)
	opts.RequestTimeout = 300 * time.Millisecond
	opts.LongRunning = nil
	r := start(t, opts, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush() //nolint:errcheck
		b.entered <- req.URL.Path
		<-b.release // a watch deaf to its context
	}))
	watch := getAsync(client(t, false), r.url+"/apis/g/v1/things?watch=true")
	<-b.entered
	began := time.Now()
	r.stop()
	require.NoError(t, r.wait(t, 5*time.Second))
	assert.Less(t, time.Since(began), 3*time.Second)
	res := <-watch
	assert.Error(t, res.err, "the connection was closed under the watch")
}

// Close cuts the shutdown short.
func TestCloseDuringShutdown(t *testing.T) {
	opts := testOptions(t)
	opts.ShutdownDelayDuration = time.Hour
	r := start(t, opts, ok)
	r.stop()
	require.Eventually(t, func() bool { return r.Ready() != nil }, time.Second, time.Millisecond)
	require.NoError(t, r.Close())
	require.NoError(t, r.wait(t, 5*time.Second))
	assert.NoError(t, r.Close(), "twice")
	assert.True(t, errors.Is(r.Ready(), r.Ready()))
}
