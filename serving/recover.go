package serving

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/internal/logs"
	"github.com/aggauth/aggauth/middleware"
)

// maxPanicStack bounds the stack logged with a panic, as net/http's.
const maxPanicStack = 64 << 10

// panicked is kube-apiserver's answer to a request whose handler panicked.
var panicked = &apierrors.StatusError{ErrStatus: metav1.Status{
	Status:  metav1.StatusFailure,
	Code:    http.StatusInternalServerError,
	Reason:  metav1.StatusReasonInternalError,
	Message: "This request caused apiserver to panic. Look in the logs for details.",
}}

// Recover returns a filter that turns a panic of the handlers after it into
// a 500 InternalError Status, as the generic apiserver's WithPanicRecovery:
// the connection stays up and the server with it. The panic is logged with
// its stack, through a rate-limited logger (logger, or slog.Default() when
// nil), the request's method and path quoted and cut short. A panic with
// http.ErrAbortHandler, the way a handler aborts a response on purpose, is
// passed on to net/http, which then resets the stream (or closes the
// connection) without logging; so is any panic after the response has
// started, once logged, since a 500 can no longer be sent.
func Recover(logger *slog.Logger) func(http.Handler) http.Handler {
	log := logs.NewLimited(logger)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := recordingWriter(w)
			defer func() {
				p := recover()
				if p == nil {
					return
				}
				if p == http.ErrAbortHandler {
					panic(p)
				}
				value, stack := panicDetails(p)
				log.Log(slog.LevelError, "handler panicked", "method", logs.Cut(r.Method, logs.MaxQuoted),
					"path", logs.Cut(r.URL.Path, logs.MaxQuoted), "auditID", auditIDForLog(r),
					"panic", logs.Cut(fmt.Sprint(value), logs.MaxQuotedError), "stack", string(stack))
				if rw.wroteHeader() {
					panic(http.ErrAbortHandler)
				}
				middleware.WriteStatus(rw, panicked)
			}()
			next.ServeHTTP(rw, r)
		})
	}
}

// handlerPanic carries a panic of a handler that ran on another goroutine
// (see Timeout) to the request's goroutine, with the stack where it happened.
type handlerPanic struct {
	value any
	stack []byte
}

func (p *handlerPanic) String() string { return fmt.Sprintf("%v\n%s", p.value, p.stack) }

// panicDetails returns the value of p and the stack where it was raised.
func panicDetails(p any) (value any, stack []byte) {
	if hp, ok := p.(*handlerPanic); ok {
		return hp.value, hp.stack
	}
	return p, currentStack()
}

func currentStack() []byte {
	buf := make([]byte, maxPanicStack)
	return buf[:runtime.Stack(buf, false)]
}

// auditIDForLog returns the request's audit ID, cut short.
func auditIDForLog(r *http.Request) string {
	id, _ := AuditIDFrom(r.Context())
	return logs.Cut(id, logs.MaxQuoted)
}
