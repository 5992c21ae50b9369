package serving

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/internal/logs"
	"github.com/aggauth/aggauth/internal/reqattr"
	"github.com/aggauth/aggauth/pipeline"
	"github.com/aggauth/aggauth/status"
)

// invalidTimeoutInURL starts the message of a 400 for a malformed ?timeout=.
const invalidTimeoutInURL = "invalid timeout specified in the request URL"

// Timeout returns a filter that bounds every request that is not
// long-running, as the generic apiserver's WithRequestDeadline and
// WithTimeoutForNonLongRunningRequests together:
//
//   - a request's time is its ?timeout= (a Go duration, as Kubernetes
//     parses it) when it is positive and shorter than bound, else bound
//     (DefaultRequestTimeout when bound is not positive); a malformed one is a
//     400 BadRequest Status;
//   - the handler runs with a context that ends then, on another goroutine
//     (taken from a pool of idle ones: a goroutine's creation and the growth
//     of its stack are paid once, not per request);
//   - when the time is up (or the client goes away) before the handler is
//     done, the client gets a 504 Timeout Status at once, if nothing was
//     written yet, or else a reset stream (a closed connection over
//     HTTP/1.1); a response the handler starts once its context has ended
//     is that 504 too, whichever goroutine gets there first; a read of the
//     request body in progress then fails (the connection's read deadline:
//     a client sending its body slowly neither delays the 504 nor keeps the
//     handler and its in-flight slot); what the handler writes afterwards
//     is dropped (http.ErrHandlerTimeout), and a panic it raises afterwards
//     is logged to logger (slog.Default() when nil), rate-limited.
//
// The handler gets a header map of its own, copied to the response when it
// starts; the request and its header map are shared with the filters before
// Timeout, as in Kubernetes. Long-running requests (watches, /debug/pprof/
// paths, and those longRunning reports) pass through untouched. A panic of
// the handler in time is answered as Recover answers it.
func Timeout(bound time.Duration, longRunning request.LongRunningRequestCheck, logger *slog.Logger) func(http.Handler) http.Handler {
	return pipeline.Handler(requestStep{longRunning}, newTimeout(bound, logger))
}

func newTimeout(bound time.Duration, logger *slog.Logger) timeoutStep {
	if bound <= 0 {
		bound = DefaultRequestTimeout
	}
	return timeoutStep{bound: bound, log: logs.NewLimited(logger)}
}

// timeoutStep is Timeout as a pipeline.Runner.
type timeoutStep struct {
	bound time.Duration
	log   *logs.Limited
}

// Serve is not called: the pipeline calls Run.
func (timeoutStep) Serve(_ http.ResponseWriter, r *http.Request, _ *pipeline.State) *http.Request {
	return r
}

// Run runs rest on a worker goroutine within the request's time.
func (t timeoutStep) Run(w http.ResponseWriter, r *http.Request, s *pipeline.State, rest func(http.ResponseWriter, *http.Request)) {
	if s.LongRunning {
		rest(w, r)
		return
	}
	d, err := requestTimeout(r, t.bound)
	if err != nil {
		status.Write(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	s.SetDeadline(time.Now().Add(d))
	wk := workers.get()
	wk.refs.Store(2)
	wk.timer.Reset(d)
	defer func() {
		wk.timer.Stop()
		wk.release(workers)
	}()
	wk.jobs <- job{w: w, r: r, s: s, rest: rest, log: t.log}
	end := context.DeadlineExceeded
	select {
	case <-wk.done:
		return
	case <-wk.timer.C:
	case <-s.Parent().Done():
		end = context.Canceled
	}
	s.End(end)
	if !s.Writer().Expire() {
		<-wk.done // the handler had returned already
		return
	}
	// The handler may be blocked reading a body its client sends a byte at
	// a time: over HTTP/1.1 net/http cannot send the 504 while a read holds
	// the body (it checks what is left of it), and the handler would hold
	// its worker and its in-flight slot for as long as the client likes.
	// Its read ends now, with an error.
	_ = http.NewResponseController(s.Writer().Unwrap()).SetReadDeadline(time.Now())
}

// requestTimeout returns the bound of r: its ?timeout= when positive and
// shorter than bound, else bound. It reads the query as Kubernetes'
// parseTimeout does (URL.Query().Get("timeout"): the first value of the first
// well-formed "timeout" key), in place: without parsing the whole query.
func requestTimeout(r *http.Request, bound time.Duration) (time.Duration, error) {
	value := reqattr.QueryGet(r.URL.RawQuery, "timeout")
	if value == "" {
		return bound, nil
	}
	d, err := time.ParseDuration(value)
	if err != nil {
		return 0, fmt.Errorf("%s - %s", invalidTimeoutInURL, err.Error())
	}
	if d > 0 && d < bound {
		return d, nil
	}
	return bound, nil
}

// job is the rest of one request, for a worker.
type job struct {
	w    http.ResponseWriter
	r    *http.Request
	s    *pipeline.State
	rest func(http.ResponseWriter, *http.Request)
	log  *logs.Limited
}

// run runs the rest of the request, then settles its end with the request's
// goroutine: it reports false when that goroutine answered 504 meanwhile
// (and no longer waits).
func (j job) run() (inTime bool) {
	j.rest(j.w, j.r) // the pipeline recovers and records a panic
	p, _ := j.s.Panic()
	late := j.s.Writer().Finish(p == nil)
	if late && p != nil && p != http.ErrAbortHandler {
		logLatePanic(j.log, j.s)
	}
	return !late
}

func logLatePanic(log *logs.Limited, s *pipeline.State) {
	value, stack := s.Panic()
	r := s.Request()
	log.Log(slog.LevelError, "handler panicked after its request timed out", "method", logs.Cut(r.Method, logs.MaxQuoted),
		"path", logs.Cut(r.URL.Path, logs.MaxQuoted), "panic", logs.Cut(fmt.Sprint(value), logs.MaxQuotedError), "stack", string(stack))
}
