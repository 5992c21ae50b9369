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
// Retry-After header is set as well. The body is always JSON: kube-apiserver
// negotiates the encoding, but every Kubernetes client accepts JSON for a
// Status.
func Write(w http.ResponseWriter, err error) int {
	st := FromError(err)
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
