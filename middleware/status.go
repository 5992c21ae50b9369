package middleware

import (
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/status"
)

// WriteStatus writes err to w as a Kubernetes metav1.Status JSON body, the way
// kube-apiserver answers a failed request, so that kubectl and client-go print it
// the familiar way. It is status.Write, the one place every step answers
// through.
//
// An error that carries a Status (any k8s.io/apimachinery/pkg/api/errors error)
// keeps its code, reason, message and details; any other error becomes a 500
// InternalError. When the Status carries Details.RetryAfterSeconds, the
// Retry-After header is set as well. The body is always JSON: kube-apiserver
// negotiates the encoding, but every Kubernetes client accepts JSON for a Status.
func WriteStatus(w http.ResponseWriter, err error) { status.Write(w, err) }

// ErrorToStatus converts err to the metav1.Status that WriteStatus sends: the
// error's own Status when it has one (with Kind, APIVersion, Status and Code filled
// in when empty), otherwise a 500 InternalError carrying err's message.
func ErrorToStatus(err error) *metav1.Status { return status.FromError(err) }

// unauthorized is kube-apiserver's 401 Status.
var unauthorized = apierrors.NewUnauthorized("Unauthorized")

// badRequest is a 400 Status with message.
func badRequest(message string) error { return apierrors.NewBadRequest(message) }
