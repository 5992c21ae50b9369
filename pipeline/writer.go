package pipeline

import (
	"bufio"
	"context"
	"errors"
	"maps"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aggauth/aggauth/status"
)

// Writer is the one http.ResponseWriter wrapper of a request: every step and
// the handler write through it. It records the status code and the bytes
// written, adds the steps' default headers when the response starts, and
// supports http.Flusher, http.Hijacker and http.ResponseController's
// methods.
//
// A Runner may bound it (Bound): the rest of the request then runs on
// another goroutine with a header map of its own, and every write is checked
// against the deadline under a lock, so that the goroutine that received the
// request can answer 504 (Expire) while the handler still runs: what the
// handler writes afterwards is dropped (http.ErrHandlerTimeout).
type Writer struct {
	w        http.ResponseWriter
	code     int   // the final status code written; 0 until then
	size     int64 // body bytes written
	hijacked bool
	refused  bool // a step answered while the handler ran (Refuse): later writes are dropped

	defaults [4]headerDefault
	values   [4]string // the defaults' values, backing the header's slices
	ndef     int

	mu       sync.Mutex      // guards the fields below, and w, once bounded
	bounded  bool            // the rest of the request runs on another goroutine
	ctx      context.Context // its deadline
	header   http.Header     // the handler's map while bounded, copied to w's at the start
	timedOut bool            // the 504 was sent, or the response aborted
	finished bool            // the bounded part returned
	abort    bool            // a panic came after the response started
}

// headerDefault is a header a step sets unless the handler sets it.
type headerDefault struct{ key, value string }

func (w *Writer) init(rw http.ResponseWriter) { w.w = rw }

// Code returns the status code of the response: 0 until it started.
func (w *Writer) Code() int {
	if w.bounded {
		w.mu.Lock()
		defer w.mu.Unlock()
	}
	return w.code
}

// Size returns the bytes of body written.
func (w *Writer) Size() int64 {
	if w.bounded {
		w.mu.Lock()
		defer w.mu.Unlock()
	}
	return w.size
}

// SetDefault sets header key to value when the response starts, unless the
// handler set it. key must be in canonical form. At most 4 defaults.
func (w *Writer) SetDefault(key, value string) {
	for i := range w.ndef {
		if w.defaults[i].key == key {
			w.defaults[i].value = value
			return
		}
	}
	if w.ndef < len(w.defaults) {
		w.defaults[w.ndef] = headerDefault{key, value}
		w.ndef++
	}
}

// applyDefaults adds the defaults h has no key for (a key the handler set,
// even to nil, stays as the handler left it).
func (w *Writer) applyDefaults(h http.Header) {
	for i, d := range w.defaults[:w.ndef] {
		if _, ok := h[d.key]; !ok {
			w.values[i] = d.value
			h[d.key] = w.values[i : i+1 : i+1] // an append copies: the array is the request's
		}
	}
}

// Header implements http.ResponseWriter.
func (w *Writer) Header() http.Header {
	if !w.bounded {
		if w.refused {
			return http.Header{}
		}
		return w.w.Header()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timedOut || w.refused {
		return http.Header{}
	}
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

// start copies the handler's headers and the defaults to the real map once
// the response starts (w.mu held when bounded).
func (w *Writer) start() {
	h := w.w.Header()
	if w.header != nil {
		maps.Copy(h, w.header)
		w.header = nil
	}
	w.applyDefaults(h)
}

// WriteHeader implements http.ResponseWriter.
func (w *Writer) WriteHeader(code int) {
	if w.bounded {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.timedOut || w.expired() {
			return
		}
	}
	if w.hijacked || w.refused || w.code != 0 && code >= 200 {
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.start() // informational: the response has not started
		w.w.WriteHeader(code)
		return
	}
	w.code = code
	w.start()
	w.w.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *Writer) Write(p []byte) (int, error) {
	if w.bounded {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.timedOut || w.expired() {
			return 0, http.ErrHandlerTimeout
		}
	}
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.refused {
		return 0, ErrRefused
	}
	if w.code == 0 {
		w.code = http.StatusOK
		w.start()
	}
	n, err := w.w.Write(p)
	w.size += int64(n)
	return n, err
}

// Flush implements http.Flusher.
func (w *Writer) Flush() { _ = w.FlushError() }

// FlushError flushes, as http.ResponseController.Flush.
func (w *Writer) FlushError() error {
	if w.bounded {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.timedOut || w.expired() {
			return http.ErrHandlerTimeout
		}
	}
	if w.hijacked {
		return http.ErrHijacked
	}
	if w.refused {
		return ErrRefused
	}
	if w.code == 0 {
		w.code = http.StatusOK
		w.start()
	}
	return http.NewResponseController(w.w).Flush()
}

// Hijack implements http.Hijacker.
func (w *Writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.bounded {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.timedOut || w.expired() {
			return nil, nil, http.ErrHandlerTimeout
		}
	}
	if w.refused {
		return nil, nil, ErrRefused
	}
	c, rw, err := http.NewResponseController(w.w).Hijack()
	if err == nil {
		w.hijacked = true
		if w.code == 0 {
			w.code = http.StatusSwitchingProtocols
		}
	}
	return c, rw, err
}

// SetReadDeadline implements http.ResponseController's method.
func (w *Writer) SetReadDeadline(d time.Time) error {
	return w.control(func(rc *http.ResponseController) error { return rc.SetReadDeadline(d) })
}

// SetWriteDeadline implements http.ResponseController's method.
func (w *Writer) SetWriteDeadline(d time.Time) error {
	return w.control(func(rc *http.ResponseController) error { return rc.SetWriteDeadline(d) })
}

// EnableFullDuplex implements http.ResponseController's method.
func (w *Writer) EnableFullDuplex() error {
	return w.control((*http.ResponseController).EnableFullDuplex)
}

func (w *Writer) control(f func(*http.ResponseController) error) error {
	if w.bounded {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.timedOut {
			return http.ErrHandlerTimeout
		}
	}
	return f(http.NewResponseController(w.w))
}

// ErrRefused is what the handler's writes return once a step refused the
// request while the handler ran (Refuse): its answer was given.
var ErrRefused = errors.New("pipeline: the request was refused while the handler ran; its answer was given")

// Refuse answers the request with err as a Kubernetes Status, as a step that
// refuses a request answers, while the handler runs: for a step that learns
// only then that the request must fail (the handler read a body past its
// limit). Unless the response has started (or the deadline passed), the
// Status is written at once with the steps' default headers but none the
// handler set, and what the handler writes afterwards is dropped: its
// writes return ErrRefused. It reports whether it answered.
func (w *Writer) Refuse(err error) bool {
	if w.bounded {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.timedOut || w.expired() {
			return false
		}
	}
	if w.code != 0 || w.hijacked || w.refused {
		return false
	}
	w.refused = true
	if w.bounded {
		w.sendUnlocked(err)
		return true
	}
	h := w.w.Header()
	clear(h)
	w.applyDefaults(h)
	w.code = status.Write(w.w, err)
	return true
}

// Refused reports whether a step refused the request while the handler ran
// (Refuse).
func (w *Writer) Refused() bool {
	if w.bounded {
		w.mu.Lock()
		defer w.mu.Unlock()
	}
	return w.refused
}

// Unwrap returns net/http's writer, for http.ResponseController's other
// methods.
func (w *Writer) Unwrap() http.ResponseWriter { return w.w }

// writeStatus answers err as a Kubernetes Status, as the steps answer.
func (w *Writer) writeStatus(err error) { status.Write(w, err) }

// panicked records a panic of the request: a response already started is
// aborted; else, when answer, the request is answered status.Panicked.
func (w *Writer) panicked(answer bool) {
	if w.bounded {
		w.mu.Lock()
		started := w.code != 0 || w.hijacked || w.timedOut
		if started && !w.timedOut {
			w.abort = true // (a panic after the 504 is late: nothing to abort)
		}
		w.mu.Unlock()
		if !started && answer {
			w.writeStatus(status.Panicked)
		}
		return
	}
	if w.code != 0 || w.hijacked {
		w.abort = true
		return
	}
	if answer {
		w.writeStatus(status.Panicked)
	}
}

// Aborted reports whether the request panicked after its response started:
// net/http then resets the stream (or closes the connection).
func (w *Writer) Aborted() bool {
	if w.bounded {
		w.mu.Lock()
		defer w.mu.Unlock()
	}
	return w.abort
}

// end completes a response the handler did not start: its headers, with the
// defaults, and 200.
func (w *Writer) end() {
	if w.bounded {
		return // the bounded part decided, in Finish
	}
	if w.code == 0 && !w.hijacked {
		w.WriteHeader(http.StatusOK)
	}
}

// The bounded mode, for a Runner.

// bound makes the writer check every write against ctx's deadline under a
// lock, and gives the handler a header map of its own, before the rest of
// the request runs on another goroutine.
func (w *Writer) bound(ctx context.Context) {
	w.ctx, w.bounded = ctx, true
}

// expired sends the 504 answer timedOut when the deadline has passed and the
// response has not started, and reports whether it did (w.mu held).
func (w *Writer) expired() bool {
	if w.code != 0 || w.hijacked || w.ctx.Err() == nil {
		return false
	}
	w.timedOut = true
	w.sendUnlocked(timedOutErr)
	return true
}

// timedOutErr is the answer at the deadline: kube-apiserver's 504.
var timedOutErr error = status.Timeout

// sendUnlocked answers err as a Status on net/http's writer, with the
// defaults but not the handler's headers (w.mu held).
func (w *Writer) sendUnlocked(err error) {
	w.header = nil
	w.applyDefaults(w.w.Header())
	w.code = status.Write(w.w, err)
}

// TimedOut reports whether the request was answered 504 (or aborted) at its
// deadline.
func (w *Writer) TimedOut() bool {
	if !w.bounded {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.timedOut
}

// Finish records that the bounded part returned, normally or not, and
// reports whether it was late: its answer was already given (the 504).
// Without a late answer, a response it did not start is started (200).
func (w *Writer) Finish(normally bool) (late bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finished = true
	switch {
	case w.timedOut:
		return true
	case !normally || w.code != 0 || w.hijacked:
	case w.expired():
		return true // answered 504 here: the request's goroutine does not wait
	default:
		w.code = http.StatusOK
		w.start()
		w.w.WriteHeader(http.StatusOK)
	}
	return false
}

// Expire answers 504 at the deadline unless the bounded part has returned in
// time (then it reports false and the caller waits for its end); it reports
// true when the 504 is sent, by Expire or by a late write. When the
// response had started, it aborts it instead (panic(http.ErrAbortHandler),
// for net/http to reset the stream).
func (w *Writer) Expire() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timedOut { // a late write sent the 504 already (expired)
		return true
	}
	if w.finished {
		return false
	}
	w.timedOut = true
	if w.code != 0 || w.hijacked {
		w.abort = true
		panic(http.ErrAbortHandler)
	}
	w.sendUnlocked(timedOutErr)
	return true
}
