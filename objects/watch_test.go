package objects_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/internal/testutil"
	"github.com/aggauth/aggauth/objects"
)

// shutdownSignal is the generic apiserver's signal, closed at shutdown.
type shutdownSignal chan struct{}

func (s shutdownSignal) ShuttingDown() <-chan struct{} { return s }

// watchServer serves watches of b over HTTP, with the shutdown signal in the
// requests' context.
func watchServer(t *testing.T, b objects.Source, signal shutdownSignal) *httptest.Server {
	h := declaration(t).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		objects.ServeWatch(w, r, b)
	}))
	srv := httptest.NewServer(withInfo(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(request.WithServerShutdownSignal(r.Context(), signal)))
	})))
	t.Cleanup(srv.Close)
	return srv
}

func startWatch(t *testing.T, srv *httptest.Server, query string) (*http.Response, *bufio.Reader) {
	req, err := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/apis/demo.aggauth.io/v1/namespaces/ns/widgets?watch=true"+query, nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp, bufio.NewReader(resp.Body)
}

// line reads one event line, failing the test if none comes in time.
func line(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		s, _ := r.ReadString('\n')
		got <- s
	}()
	select {
	case s := <-got:
		return s
	case <-time.After(5 * time.Second):
		require.FailNow(t, "no event in 5 s")
		return ""
	}
}

// TestServeWatchStream: each event reaches the client when it happens (the
// stream is flushed), in kube-apiserver's framing, and the watch ends at
// its timeout.
func TestServeWatchStream(t *testing.T) {
	b := objects.NewBroadcaster[*Widget](objects.BroadcasterOptions{})
	defer b.Close()
	emit(t, b, watch.Added, at("ns", "a", 1))
	srv := watchServer(t, b, make(shutdownSignal))
	resp, r := startWatch(t, srv, "&resourceVersion=1&timeoutSeconds=1")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	emit(t, b, watch.Modified, at("ns", "a", 2))
	assert.Equal(t, `{"type":"MODIFIED","object":{"kind":"Widget","apiVersion":"demo.aggauth.io/v1","metadata":{"name":"a","namespace":"ns","resourceVersion":"2"}}}`+"\n", line(t, r))
	emit(t, b, watch.Deleted, at("ns", "a", 3))
	assert.Equal(t, `{"type":"DELETED","object":{"kind":"Widget","apiVersion":"demo.aggauth.io/v1","metadata":{"name":"a","namespace":"ns","resourceVersion":"3"}}}`+"\n", line(t, r))

	start := time.Now()
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Empty(t, rest)
	assert.Less(t, time.Since(start), 3*time.Second, "the watch lasted past its timeout")
}

// TestServeWatchTooOld: a watch from a resourceVersion the Broadcaster no
// longer has gets kube-apiserver's answer: 200, one ERROR event with the
// 410 Expired Status, the end.
func TestServeWatchTooOld(t *testing.T) {
	b := objects.NewBroadcaster[*Widget](objects.BroadcasterOptions{History: 2})
	defer b.Close()
	for rv := 1; rv <= 6; rv++ {
		emit(t, b, watch.Modified, at("ns", "a", rv))
	}
	srv := watchServer(t, b, make(shutdownSignal))
	resp, r := startWatch(t, srv, "&resourceVersion=2")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 2 (4)","reason":"Expired","code":410}}`+"\n", string(body))
}

func TestServeWatchRefused(t *testing.T) {
	b := objects.NewBroadcaster[*Widget](objects.BroadcasterOptions{})
	defer b.Close()
	srv := watchServer(t, b, make(shutdownSignal))
	for _, tc := range []struct {
		query string
		code  int
		msg   string
	}{
		{"&resourceVersion=x", 500, `resourceVersion: Invalid value: "x": strconv.ParseUint: parsing "x": invalid syntax`},
		{"&sendInitialEvents=true", 422, `ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan`},
		{"&fieldSelector=spec.color=blue", 400, `"spec.color" is not a known field selector: only "metadata.name", "metadata.namespace"`},
	} {
		t.Run(tc.query, func(t *testing.T) {
			resp, _ := startWatch(t, srv, tc.query)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			status := testutil.Status(t, resp.StatusCode, resp.Header, body)
			assert.Equal(t, tc.code, resp.StatusCode)
			assert.Equal(t, tc.msg, status.Message)
		})
	}
}

// TestServeWatchShutdown: the server's shutdown signal ends every watch at
// once, as kube-apiserver's watches end, so that a graceful shutdown is
// not held by them.
func TestServeWatchShutdown(t *testing.T) {
	b := objects.NewBroadcaster[*Widget](objects.BroadcasterOptions{})
	defer b.Close()
	signal := make(shutdownSignal)
	srv := watchServer(t, b, signal)
	_, r := startWatch(t, srv, "")
	ended := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(r)
		ended <- err
	}()
	close(signal)
	select {
	case err := <-ended:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not end at shutdown")
	}
}

// TestServeWatchNoFlusher: a ResponseWriter that cannot flush cannot
// stream: 500, as in kube-apiserver.
func TestServeWatchNoFlusher(t *testing.T) {
	b := objects.NewBroadcaster[*Widget](objects.BroadcasterOptions{})
	defer b.Close()
	r := httptest.NewRequest("GET", "/apis/demo.aggauth.io/v1/namespaces/ns/widgets?watch=true", nil)
	rec := httptest.NewRecorder()
	objects.ServeWatch(struct{ http.ResponseWriter }{rec}, r, b)
	status := testutil.RecordedStatus(t, rec)
	assert.Contains(t, status.Message, "unable to start watch - can't get http.Flusher")
}

// TestServeWatchClientLeaves: when the client goes, the watch is forgotten.
func TestServeWatchClientLeaves(t *testing.T) {
	b := objects.NewBroadcaster[*Widget](objects.BroadcasterOptions{})
	defer b.Close()
	srv := watchServer(t, b, make(shutdownSignal))
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/apis/demo.aggauth.io/v1/namespaces/ns/widgets?watch=true", nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	cancel()
	resp.Body.Close()
	// goleak (TestMain) checks that the handler and the watcher are gone;
	// emitting must not block on the departed watcher either.
	for rv := 1; rv <= 200; rv++ {
		emit(t, b, watch.Added, at("ns", "w", rv))
	}
}

func TestIsWatch(t *testing.T) {
	for target, want := range map[string]bool{
		"/apis/demo.aggauth.io/v1/namespaces/ns/widgets?watch=true":   true,
		"/apis/demo.aggauth.io/v1/namespaces/ns/widgets?watch=1":      true,
		"/apis/demo.aggauth.io/v1/watch/namespaces/ns/widgets":        true,
		"/apis/demo.aggauth.io/v1/namespaces/ns/widgets?watch=false":  false,
		"/apis/demo.aggauth.io/v1/namespaces/ns/widgets":              false,
		"/apis/demo.aggauth.io/v1/namespaces/ns/widgets/a?watch=true": false, // a get
	} {
		var got bool
		withInfo(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = objects.IsWatch(r) })).
			ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil))
		assert.Equal(t, want, got, target)
	}
	// Without a RequestInfo, the query decides.
	assert.True(t, objects.IsWatch(httptest.NewRequest("GET", "/x?watch=true", nil)))
	assert.False(t, objects.IsWatch(httptest.NewRequest("GET", "/x?watch=0", nil)))
	assert.True(t, objects.IsWatch(httptest.NewRequest("GET", "/x?watch=no", nil)), "Kubernetes reads any value but false and 0 as true")
}
