package objects

import (
	"encoding/json"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/internal/negotiation"
)

// noCache is the Cache-Control kube-apiserver's WithCacheControl filter sets
// on every answer that does not set its own.
const noCache = "no-cache, private"

// WriteError writes err as kube-apiserver's responsewriters.ErrorNegotiated
// writes an error: the Status of an apierrors.APIStatus error (such as
// apierrors.NewNotFound's), or a 500 Status with err's message for any
// other, in the media type the request accepts (JSON, YAML or protobuf, as
// for any object; indented JSON when it accepts none of them), with
// Retry-After when the Status asks for a delay.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status := errorToAPIStatus(err)
	if status.Details != nil && status.Details.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(status.Details.RetryAfterSeconds)))
	}
	if status.Code == http.StatusNoContent {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeStatus(w, r, status)
}

// writeStatus is responsewriters.WriteObjectNegotiated for a Status, with
// the default endpoint restrictions: no conversion.
func writeStatus(w http.ResponseWriter, r *http.Request, status *metav1.Status) {
	code := int(status.Code)
	opts, pretty, ok := negotiation.Output(r, infos, negotiation.Default{})
	switch {
	case ok:
		writeEncoded(w, opts.Index, pretty, code, status)
	case code < http.StatusOK || code >= http.StatusBadRequest:
		writeRawJSON(w, code, status) // an error keeps its code
	default:
		writeRawJSON(w, http.StatusNotAcceptable, negotiation.NotAcceptable(negotiation.MediaTypes(infos)))
	}
}

// errorToAPIStatus is responsewriters.ErrorToAPIStatus: like it, it does
// not unwrap err.
func errorToAPIStatus(err error) *metav1.Status {
	se, ok := err.(interface{ Status() metav1.Status })
	if !ok {
		return &metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusFailure,
			Code:     http.StatusInternalServerError,
			Reason:   metav1.StatusReasonUnknown,
			Message:  err.Error(),
		}
	}
	status := se.Status()
	if status.Status == "" {
		status.Status = metav1.StatusFailure
	}
	if status.Code == 0 {
		status.Code = http.StatusInternalServerError
		if status.Status == metav1.StatusSuccess {
			status.Code = http.StatusOK
		}
	}
	status.Kind, status.APIVersion = "Status", "v1"
	return &status
}

// statusError is an error with a Status, written as such.
func statusError(code int32, reason metav1.StatusReason, message string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: code, Reason: reason, Message: message}}
}

// writeRawJSON is responsewriters.WriteRawJSON: indented JSON, whatever the
// request accepts.
func writeRawJSON(w http.ResponseWriter, code int, obj any) {
	body, err := json.MarshalIndent(obj, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	setHeaders(h)
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// setHeaders sets what kube-apiserver's filters add to every answer:
// Cache-Control (unless the handler set its own) and nosniff.
func setHeaders(h http.Header) {
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", noCache)
	}
	h.Set("X-Content-Type-Options", "nosniff")
}

// deferredWriter sets the headers and the status code on the first Write,
// as responsewriters.SerializeObject's deferredResponseWriter does, so
// that an encoding error can still become a Status.
type deferredWriter struct {
	w           http.ResponseWriter
	code        int
	contentType string
	wrote       bool
}

func (d *deferredWriter) Write(p []byte) (int, error) {
	if !d.wrote {
		d.wrote = true
		h := d.w.Header()
		h.Set("Content-Type", d.contentType)
		setHeaders(h)
		d.w.WriteHeader(d.code)
	}
	return d.w.Write(p)
}

// writeEncoded writes obj encoded as infos[index] with the status code, as
// responsewriters.SerializeObject does: when encoding fails, the error's
// Status in the same media type (its code replacing a successful code), or
// text when even that fails.
func writeEncoded(w http.ResponseWriter, index int, pretty bool, code int, obj any) {
	dw := &deferredWriter{w: w, code: code, contentType: infos[index].MediaType}
	err := encode(dw, index, pretty, obj)
	if err == nil || dw.wrote {
		return
	}
	status := errorToAPIStatus(err)
	if code >= http.StatusOK && code < http.StatusBadRequest {
		dw.code = int(status.Code)
	}
	if err := encode(dw, index, pretty, status); err != nil && !dw.wrote {
		dw.contentType = "text/plain"
		_, _ = dw.Write([]byte(string(status.Reason) + ": " + status.Message))
	}
}
