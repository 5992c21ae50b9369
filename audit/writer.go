package audit

import (
	"bufio"
	"net"
	"net/http"
)

// Writer returns w wrapped so that the response's status code reaches the
// record (ResponseStarted) on the first WriteHeader, Write or Hijack, as
// Kubernetes' audit writer; and, with RecordBodies at level RequestResponse,
// the body too. It keeps what w can do: Flush and Hijack directly, the rest
// through Unwrap (http.ResponseController). A nil record returns w.
func (r *Record) Writer(w http.ResponseWriter) http.ResponseWriter {
	if r == nil {
		return w
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w.rec == nil {
		r.w = responseWriter{ResponseWriter: w, rec: r}
		return &r.w
	}
	return &responseWriter{ResponseWriter: w, rec: r}
}

type responseWriter struct {
	http.ResponseWriter
	rec *Record
}

func (w *responseWriter) WriteHeader(code int) {
	w.rec.ResponseStarted(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.rec.ResponseStarted(http.StatusOK)
	if c := w.rec.capture; c != nil && c.response {
		c.writeResponse(p)
	}
	return w.ResponseWriter.Write(p)
}

// Flush sends what was written so far. Like Kubernetes' audit writer, it
// does not record a status code: a response only flushed is recorded as
// never started.
func (w *responseWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
		return
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack records 101 Switching Protocols, then takes the connection over.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.rec.ResponseStarted(http.StatusSwitchingProtocols)
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
