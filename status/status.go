// Package status writes errors as Kubernetes Status responses, the way
// kube-apiserver answers a failed request, so that kubectl and client-go print
// them the familiar way. It is the one place every step of the request path
// (serving's, the chain's, the handler's) answers through, and depends on
// k8s.io/apimachinery alone.
package status

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Write writes err to w as a Kubernetes metav1.Status JSON body and returns
// the status code written.
//
// An error that carries a Status (any k8s.io/apimachinery/pkg/api/errors error)
// keeps its code, reason, message and details; any other error becomes a 500
// InternalError. When the Status carries Details.RetryAfterSeconds, the
// Retry-After header is set as well. A w that records responses (method
// SetResponseStatus, as the audit's writer) is given the Status first. The body is always JSON: kube-apiserver
// negotiates the encoding, but every Kubernetes client accepts JSON for a
// Status.
func Write(w http.ResponseWriter, err error) int {
	st := FromError(err)
	if r, ok := w.(interface{ SetResponseStatus(*metav1.Status) }); ok {
		r.SetResponseStatus(st) // a recorder of the response (the audit's)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	if d := st.Details; d != nil && d.RetryAfterSeconds > 0 {
		h.Set("Retry-After", strconv.Itoa(int(d.RetryAfterSeconds)))
	}
	body, mErr := json.Marshal(st)
	if mErr != nil {
		// A metav1.Status always marshals; this is defensive only.
		body = []byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","reason":"InternalError","code":500}`)
		st.Code = http.StatusInternalServerError
	}
	w.WriteHeader(int(st.Code))
	_, _ = w.Write(append(body, '\n'))
	return int(st.Code)
}

// FromError converts err to the metav1.Status that Write sends: the error's
// own Status when it has one (with Kind, APIVersion, Status and Code filled
// in when empty), otherwise a 500 InternalError carrying err's message.
func FromError(err error) *metav1.Status {
	var se apierrors.APIStatus
	if err == nil || !errors.As(err, &se) {
		if err == nil {
			err = errors.New("unknown error")
		}
		se = apierrors.NewInternalError(err)
	}
	st := se.Status()
	st.Kind = "Status"
	st.APIVersion = "v1"
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	return &st
}

// DefaultRetryAfter is the delay a 429 or 503 advises when none is given.
const DefaultRetryAfter = time.Second

// RetryAfterSeconds rounds d up to whole seconds, DefaultRetryAfter when d is
// not positive.
func RetryAfterSeconds(d time.Duration) int32 {
	if d <= 0 {
		d = DefaultRetryAfter
	}
	return int32((d + time.Second - 1) / time.Second)
}

// Unavailable is a 503 ServiceUnavailable Status advising to retry after d
// (DefaultRetryAfter when not positive).
func Unavailable(message string, d time.Duration) *apierrors.StatusError {
	err := apierrors.NewServiceUnavailable(message)
	err.ErrStatus.Details = &metav1.StatusDetails{RetryAfterSeconds: RetryAfterSeconds(d)}
	return err
}

// TooManyRequests is a 429 TooManyRequests Status advising to retry after d
// (DefaultRetryAfter when not positive).
func TooManyRequests(message string, d time.Duration) *apierrors.StatusError {
	return apierrors.NewTooManyRequests(message, int(RetryAfterSeconds(d)))
}

// Panicked is kube-apiserver's answer to a request whose handler panicked
// (WithPanicRecovery), as a Status.
var Panicked = &apierrors.StatusError{ErrStatus: metav1.Status{
	Status:  metav1.StatusFailure,
	Code:    http.StatusInternalServerError,
	Reason:  metav1.StatusReasonInternalError,
	Message: "This request caused apiserver to panic. Look in the logs for details.",
}}

// Timeout is the generic apiserver's answer when a request's time is up
// (WithTimeoutForNonLongRunningRequests): 504 Timeout, "Timeout: request did
// not complete within the allotted timeout".
var Timeout = apierrors.NewTimeoutError("request did not complete within the allotted timeout", 0)

// Refusal is an error a step's dependency returns to refuse a request with a
// Status meant for the client as it is: the 429 of too many reviews in
// flight, the 500 of a review client that panicked. The steps answer it with
// its Status (with their own Retry-After); any other error of an
// authenticator or authorizer stays internal (a 401, or a 503). Err is what
// errors.Is and errors.As see.
type Refusal struct {
	Err    error
	Status *apierrors.StatusError
}

func (r *Refusal) Error() string { return r.Err.Error() }

func (r *Refusal) Unwrap() error { return r.Err }

// RefusalOf returns the Refusal in err's chain, or in the errors of an
// aggregate (k8s.io/apimachinery's, as a union of authenticators returns),
// or nil.
func RefusalOf(err error) *Refusal {
	var r *Refusal
	if errors.As(err, &r) {
		return r
	}
	if agg, ok := err.(interface{ Errors() []error }); ok {
		for _, e := range agg.Errors() {
			if r := RefusalOf(e); r != nil {
				return r
			}
		}
	}
	return nil
}

// WithRetryAfter returns st's Status advising to retry after d, when it
// advises a delay (a 429 or 503); st itself otherwise.
func WithRetryAfter(st *apierrors.StatusError, d time.Duration) *apierrors.StatusError {
	if d <= 0 || st.ErrStatus.Details == nil || st.ErrStatus.Details.RetryAfterSeconds == 0 {
		return st
	}
	out := *st
	details := *st.ErrStatus.Details
	details.RetryAfterSeconds = RetryAfterSeconds(d)
	out.ErrStatus.Details = &details
	return &out
}
