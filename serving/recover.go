package serving

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aggauth/aggauth/internal/logs"
	"github.com/aggauth/aggauth/pipeline"
)

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
	return pipeline.Handler(newRecover(logger))
}

func newRecover(logger *slog.Logger) recoverStep { return recoverStep{logs.NewLimited(logger)} }

// recoverStep makes the pipeline recover panics, and logs them.
type recoverStep struct{ log *logs.Limited }

func (recoverStep) Serve(_ http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	s.RecoverPanics()
	return r
}

func (st recoverStep) Finish(s *pipeline.State) {
	value, stack := s.Panic()
	if value == nil || value == http.ErrAbortHandler {
		return
	}
	r := s.Request()
	st.log.Log(slog.LevelError, "handler panicked", "method", logs.Cut(r.Method, logs.MaxQuoted),
		"path", logs.Cut(r.URL.Path, logs.MaxQuoted), "auditID", logs.Cut(s.AuditID, logs.MaxQuoted),
		"panic", logs.Cut(fmt.Sprint(value), logs.MaxQuotedError), "stack", string(stack))
}
