package serving

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// statusDocuments counts the JSON documents in a response body.
func statusDocuments(t *testing.T, body string) int {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	n := 0
	for {
		var v map[string]any
		if err := dec.Decode(&v); err == io.EOF {
			return n
		} else if err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		n++
	}
}

// Attack on the 504 of a handler that writes right after its deadline
// (pipeline.Writer: expired) and is still running when Timeout's own
// goroutine wakes up: the 504 must not be written a second time. Through
// Timeout: the handler writes the moment its context ends,
// then works on for a while (ignoring the write error). Over a few hundred
// requests the handler wins the race at least once on a 2-core machine.
func TestAdversarialTimeoutDoubleStatusRace(t *testing.T) {
	h := Timeout(time.Millisecond, nil, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for r.Context().Err() == nil {
		}
		w.WriteHeader(http.StatusOK)
		time.Sleep(2 * time.Millisecond) // still running when Timeout's goroutine wakes up
	}))
	for i := range 500 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if n := statusDocuments(t, rec.Body.String()); n != 1 {
			t.Fatalf("request %d: got %d Status documents in the body %q; want 1", i, n, rec.Body.String())
		}
	}
}

// Attack: a handler writes just after its deadline (expired() sends the 504
// on the handler's own goroutine), then panics. The panic is logged as late
// and must not be raised again on the request's goroutine, where Recover
// would find a response written and abort it: the client that was sent the
// 504 would get a reset stream instead.
func TestAdversarialTimeoutLatePanicRaisedAgain(t *testing.T) {
	var logged syncBuffer
	h := Timeout(time.Millisecond, nil, slog.New(slog.NewTextHandler(&logged, nil)))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		w.WriteHeader(http.StatusOK) // the 504, by expired(), when the handler gets there first
		panic("after the 504")
	}))
	for i := range 1000 {
		func() {
			defer func() {
				if p := recover(); p != nil {
					time.Sleep(10 * time.Millisecond) // the late-panic log, written by the handler's goroutine
					t.Fatalf("request %d: the request's goroutine raised the panic of a handler whose request had been answered 504 (logged as late too: %v): %v",
						i, strings.Contains(logged.String(), "after its request timed out"), p)
				}
			}()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		}()
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use (exported to the
// external tests as SyncBuffer).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// SyncBuffer is syncBuffer, for the tests of package serving_test.
type SyncBuffer = syncBuffer

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
