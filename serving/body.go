package serving

import (
	"fmt"
	"io"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/aggauth/aggauth/pipeline"
	"github.com/aggauth/aggauth/status"
)

// bodyLimit bounds request bodies at max bytes (negative: no bound), as the
// generic apiserver's MaxRequestBodyBytes bounds what its handlers read
// (handlers.limitedReadBody), but for every handler: a request whose
// Content-Length says more is answered 413 before the handler runs; a
// handler that reads more gets an error (a 413 Status error, and an
// *http.MaxBytesError for errors.As) while the request is answered 413 in
// its place (pipeline.Writer.Refuse), what it writes afterwards dropped. It
// runs last, right before the handler, so that the refusals of the steps
// before it (401, 403, the namespace's 404 ...) come first, as in
// Kubernetes. It publishes the bound in the request's state
// (pipeline.State.MaxBodyBytes), where objects.Decode reads it.
type bodyLimit struct{ max int64 }

func (b bodyLimit) Serve(w http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	s.MaxBodyBytes = b.max
	if b.max < 0 || r.Body == nil || r.Body == http.NoBody {
		return r
	}
	if r.ContentLength > b.max {
		status.Write(w, bodyTooLarge(b.max))
		return nil
	}
	r.Body = &limitedBody{ReadCloser: r.Body, w: s.Writer(), max: b.max, left: b.max}
	return r
}

// limitedBody is a request body that answers 413 once read past max.
type limitedBody struct {
	io.ReadCloser
	w         *pipeline.Writer
	max, left int64
	err       error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte more tells the body is longer than max
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) <= b.left {
		b.left -= int64(n)
		return n, err
	}
	n, b.left = int(b.left), 0
	b.err = bodyTooLarge(b.max)
	b.w.Refuse(b.err)
	return n, b.err
}

// bodyTooLarge is the generic apiserver's 413 for a body over max, which
// also answers errors.As for an *http.MaxBytesError, as net/http's
// MaxBytesReader's errors do.
func bodyTooLarge(max int64) error {
	return &tooLargeError{
		StatusError: apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", max)),
		bytes:       &http.MaxBytesError{Limit: max},
	}
}

type tooLargeError struct {
	*apierrors.StatusError
	bytes *http.MaxBytesError
}

func (e *tooLargeError) Unwrap() []error { return []error{e.StatusError, e.bytes} }
