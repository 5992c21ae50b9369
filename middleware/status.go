package middleware

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WriteStatus writes err to w as a Kubernetes metav1.Status JSON body, the way
// kube-apiserver answers a failed request, so that kubectl and client-go print it
// the familiar way.
//
// An error that carries a Status (any k8s.io/apimachinery/pkg/api/errors error)
// keeps its code, reason, message and details; any other error becomes a 500
// InternalError. When the Status carries Details.RetryAfterSeconds, the
// Retry-After header is set as well. The body is always JSON: kube-apiserver
// negotiates the encoding, but every Kubernetes client accepts JSON for a Status.
func WriteStatus(w http.ResponseWriter, err error) {
	status := ErrorToStatus(err)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	if d := status.Details; d != nil && d.RetryAfterSeconds > 0 {
		h.Set("Retry-After", strconv.Itoa(int(d.RetryAfterSeconds)))
	}
	body, mErr := json.Marshal(status)
	if mErr != nil {
		// A metav1.Status always marshals; this is defensive only.
		body = []byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","reason":"InternalError","code":500}`)
		status.Code = http.StatusInternalServerError
	}
	w.WriteHeader(int(status.Code))
	_, _ = w.Write(append(body, '\n'))
}

// ErrorToStatus converts err to the metav1.Status that WriteStatus sends: the
// error's own Status when it has one (with Kind, APIVersion, Status and Code filled
// in when empty), otherwise a 500 InternalError carrying err's message.
func ErrorToStatus(err error) *metav1.Status {
	var se apierrors.APIStatus
	if err == nil || !errors.As(err, &se) {
		if err == nil {
			err = errors.New("unknown error")
		}
		se = apierrors.NewInternalError(err)
	}
	status := se.Status()
	status.Kind = "Status"
	status.APIVersion = "v1"
	if status.Status == "" {
		status.Status = metav1.StatusFailure
	}
	if status.Code == 0 {
		status.Code = http.StatusInternalServerError
	}
	return &status
}

// unauthorized is kube-apiserver's 401 Status.
var unauthorized = apierrors.NewUnauthorized("Unauthorized")

// badRequest is a 400 Status with message.
func badRequest(message string) error { return apierrors.NewBadRequest(message) }
