package serving

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/internal/logs"
	"github.com/aggauth/aggauth/internal/reqattr"
	"github.com/aggauth/aggauth/middleware"
)

// timedOut is the generic apiserver's answer when a request's time is up
// (WithTimeoutForNonLongRunningRequests): 504 Timeout, "Timeout: request did
// not complete within the allotted timeout".
var timedOut = apierrors.NewTimeoutError("request did not complete within the allotted timeout", 0)

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
//   - the handler runs with a context that ends then, on a goroutine
//     of its own, with a copy of the request;
//   - when the time is up (or the client goes away) before the handler is
//     done, the client gets a 504 Timeout Status at once, if nothing was
//     written yet, or else a reset stream (a closed connection over
//     HTTP/1.1); a response the handler starts once its context has ended
//     is that 504 too, whichever goroutine gets there first; what the
//     handler writes afterwards is dropped (http.ErrHandlerTimeout), and a
//     panic it raises afterwards is logged to logger (slog.Default() when
//     nil), rate-limited.
//
// Long-running requests (watches, /debug/pprof/ paths, and those longRunning
// reports) pass through untouched. A panic of the handler in time is raised
// again on the request's goroutine, for Recover.
func Timeout(bound time.Duration, longRunning request.LongRunningRequestCheck, logger *slog.Logger) func(http.Handler) http.Handler {
	if bound <= 0 {
		bound = DefaultRequestTimeout
	}
	log := logs.NewLimited(logger)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isLongRunning(longRunning, r, requestInfoOf(r)) {
				next.ServeHTTP(w, r)
				return
			}
			d, err := requestTimeout(r, bound)
			if err != nil {
				middleware.WriteStatus(w, apierrors.NewBadRequest(err.Error()))
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			serveWithTimeout(ctx, w, r, next, log)
		})
	}
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

// serveWithTimeout runs next on its own goroutine with a copy of r bound to
// ctx, and answers 504 if ctx ends first.
func serveWithTimeout(ctx context.Context, w http.ResponseWriter, r *http.Request, next http.Handler, log *logs.Limited) {
	tw := newTimeoutWriter(ctx, w)
	tw.done = make(chan any, 1) // the goroutine never waits for a reader
	go tw.serve(ctx, requestCopy(ctx, r), next, log)
	select {
	case p := <-tw.done:
		if p != nil {
			panic(p)
		}
	case <-ctx.Done():
		if tw.timeout() {
			return
		}
		if p := <-tw.done; p != nil { // the handler had returned already
			panic(p)
		}
	}
}

// serve runs next with rc, on the goroutine of its own, and reports its end
// (nil, or its panic) on tw.done.
func (tw *timeoutWriter) serve(ctx context.Context, rc *http.Request, next http.Handler, log *logs.Limited) {
	var p any
	defer func() {
		if p = recover(); p != nil && p != http.ErrAbortHandler {
			p = &handlerPanic{value: p, stack: currentStack()}
		}
		if late := tw.finish(p == nil); late {
			// The 504 was sent: a panic now is logged here, not raised
			// again on the request's goroutine.
			if p != nil && p != http.ErrAbortHandler {
				logLatePanic(log, rc, p)
			}
			p = nil
		}
		tw.done <- p
	}()
	next.ServeHTTP(tw, rc)
}

// requestCopy returns a copy of r bound to ctx that the handler may change
// (it may still run after its request timed out) without changing r, which
// net/http and the filters before Timeout read meanwhile: the Request, its URL
// and its header maps are copied. Header values are shared, as http.Header's
// methods replace or extend a value slice, never change its elements, and so
// are the body (which no copy makes safe to read from two goroutines) and the
// parsed forms (r.Clone would copy them; nothing before Timeout parses them).
func requestCopy(ctx context.Context, r *http.Request) *http.Request {
	rc := r.WithContext(ctx)
	if r.URL != nil {
		u := *r.URL
		rc.URL = &u
	}
	if r.Header != nil {
		rc.Header = maps.Clone(r.Header)
	}
	if r.Trailer != nil {
		rc.Trailer = maps.Clone(r.Trailer)
	}
	return rc
}

func logLatePanic(log *logs.Limited, r *http.Request, p any) {
	value, stack := panicDetails(p)
	log.Log(slog.LevelError, "handler panicked after its request timed out", "method", logs.Cut(r.Method, logs.MaxQuoted),
		"path", logs.Cut(r.URL.Path, logs.MaxQuoted), "panic", logs.Cut(fmt.Sprint(value), logs.MaxQuotedError), "stack", string(stack))
}
