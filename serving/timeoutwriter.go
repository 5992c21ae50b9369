package serving

import (
	"bufio"
	"context"
	"maps"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aggauth/aggauth/middleware"
)

// timeoutWriter is the writer of a handler running under Timeout, as
// Kubernetes' baseTimeoutWriter: the handler's headers live in a map of their
// own until the response starts, and once the request has timed out nothing
// the handler does reaches the client.
type timeoutWriter struct {
	w      http.ResponseWriter
	ctx    context.Context // the request's, bounded by the timeout
	header http.Header     // the handler's; copied to w's when the response starts
	done   chan any        // the handler's end: nil, or its panic

	mu       sync.Mutex // guards the fields below and every use of w
	timedOut bool       // the 504 was sent, or the response aborted
	started  bool       // the handler's response has started
	hijacked bool
	finished bool // the handler returned
}

func newTimeoutWriter(ctx context.Context, w http.ResponseWriter) *timeoutWriter {
	return &timeoutWriter{w: w, ctx: ctx, header: w.Header().Clone()}
}

// Header returns the handler's headers; after a timeout, a map nobody reads.
func (tw *timeoutWriter) Header() http.Header {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut {
		return http.Header{}
	}
	return tw.header
}

// start copies the handler's headers to w's, once. tw.mu is held.
func (tw *timeoutWriter) start() {
	if !tw.started {
		maps.Copy(tw.w.Header(), tw.header)
		tw.started = true
	}
}

// expired reports whether the response has not started and the request's
// context has ended; if so it sends the 504 at once. tw.mu is held. Without
// it a handler that starts its response right after the deadline (gin writes
// its status when its handlers return) could get there before Timeout's own
// goroutine and send a 200 for a request that had timed out.
func (tw *timeoutWriter) expired() bool {
	if tw.started || tw.hijacked || tw.ctx.Err() == nil {
		return false
	}
	tw.timedOut = true
	middleware.WriteStatus(tw.w, timedOut)
	return true
}

func (tw *timeoutWriter) WriteHeader(code int) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut || tw.hijacked || tw.started && code >= 200 || tw.expired() {
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		maps.Copy(tw.w.Header(), tw.header) // informational: the response has not started
		tw.w.WriteHeader(code)
		return
	}
	tw.start()
	tw.w.WriteHeader(code)
}

func (tw *timeoutWriter) Write(p []byte) (int, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut || tw.expired() {
		return 0, http.ErrHandlerTimeout
	}
	if tw.hijacked {
		return 0, http.ErrHijacked
	}
	tw.start()
	return tw.w.Write(p)
}

// Flush sends what was written so far, starting the response if need be.
func (tw *timeoutWriter) Flush() {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut || tw.hijacked || tw.expired() {
		return
	}
	tw.start()
	_ = http.NewResponseController(tw.w).Flush()
}

// Hijack takes the connection over (HTTP/1 only), unless the request timed
// out.
func (tw *timeoutWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut || tw.expired() {
		return nil, nil, http.ErrHandlerTimeout
	}
	c, rw, err := http.NewResponseController(tw.w).Hijack()
	if err == nil {
		tw.hijacked = true
	}
	return c, rw, err
}

// SetReadDeadline, SetWriteDeadline and EnableFullDuplex are
// http.ResponseController's, until the request times out. (There is no
// Unwrap: a late handler must not reach the connection, which may be serving
// another request by then.)
func (tw *timeoutWriter) SetReadDeadline(d time.Time) error {
	return tw.control(func(rc *http.ResponseController) error { return rc.SetReadDeadline(d) })
}

// SetWriteDeadline: see SetReadDeadline.
func (tw *timeoutWriter) SetWriteDeadline(d time.Time) error {
	return tw.control(func(rc *http.ResponseController) error { return rc.SetWriteDeadline(d) })
}

// EnableFullDuplex: see SetReadDeadline.
func (tw *timeoutWriter) EnableFullDuplex() error {
	return tw.control((*http.ResponseController).EnableFullDuplex)
}

func (tw *timeoutWriter) control(f func(*http.ResponseController) error) error {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut {
		return http.ErrHandlerTimeout
	}
	return f(http.NewResponseController(tw.w))
}

// finish records that the handler returned (normally: without a panic). A
// handler that returned normally without writing gets its headers sent with
// an implicit 200, unless its context had ended: the answer is then the 504,
// whether or not the handler saw the end first. It reports whether the
// request had timed out before.
func (tw *timeoutWriter) finish(normally bool) (late bool) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.finished = true
	switch {
	case tw.timedOut:
		return true
	case !normally || tw.started || tw.hijacked:
	case tw.expired():
	default:
		tw.start()
	}
	return false
}

// timeout ends the response of a request out of time whose handler has not
// returned: a 504 Status when nothing was written, else an aborted response
// (it panics with http.ErrAbortHandler, as Kubernetes). It reports false,
// doing nothing, when the handler had returned: finish decided.
func (tw *timeoutWriter) timeout() bool {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.finished {
		return false
	}
	if tw.timedOut { // the handler's late write sent the 504 already (expired)
		return true
	}
	tw.timedOut = true
	if tw.started || tw.hijacked {
		panic(http.ErrAbortHandler)
	}
	middleware.WriteStatus(tw.w, timedOut)
	return true
}
