package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/aggauth/aggauth/middleware"
)

// MaxBodyBytes bounds a request body, as kube-apiserver bounds them (3 MiB).
const MaxBodyBytes = 3 << 20

// WriteObject writes obj as JSON with the status code.
func WriteObject(w http.ResponseWriter, code int, obj any) {
	body, err := json.Marshal(obj)
	if err != nil {
		middleware.WriteStatus(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

// DecodeWidget reads a Widget from a request body. The error is a BadRequest
// when the body is not a Widget's JSON, and RequestEntityTooLarge beyond
// MaxBodyBytes. Unknown fields are dropped, as kube-apiserver drops them by
// default (with a warning); ?fieldValidation=Strict, which asks it for a 400,
// is ignored here.
func DecodeWidget(w http.ResponseWriter, r *http.Request) (*Widget, error) {
	data, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	strict, err := strictFields(r)
	if err != nil {
		return nil, err
	}
	var in Widget
	if err := unmarshalWidget(data, &in, strict); err != nil {
		if apierrors.IsBadRequest(err) {
			return nil, err
		}
		return nil, apierrors.NewBadRequest("the body of the request was in an unknown format: " + err.Error())
	}
	if in.APIVersion != "" && in.APIVersion != GroupVersion || in.Kind != "" && in.Kind != Kind {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the body is a %s %s; want a %s %s", in.APIVersion, in.Kind, GroupVersion, Kind))
	}
	return &in, nil
}

// readBody reads the body of r, at most MaxBodyBytes (a 413 beyond).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d bytes", MaxBodyBytes))
		}
		return nil, apierrors.NewBadRequest("reading the request body: " + err.Error())
	}
	return data, nil
}

// ValidateCreate checks a Widget to create in namespace, with kube-apiserver's
// rules: the body's namespace, when set, must be the request's (BadRequest);
// name or generateName is required and must be a valid object name, not one
// reserved for a demonstration (Invalid, 422).
func ValidateCreate(namespace string, w *Widget) error {
	if w.Namespace != "" && w.Namespace != namespace {
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	var errs field.ErrorList
	name := field.NewPath("metadata", "name")
	switch {
	case w.Name == "" && w.GenerateName == "":
		errs = append(errs, field.Required(name, "name or generateName is required"))
	case reserved(w.Name):
		errs = append(errs, field.Invalid(name, w.Name, "is reserved for a demonstration of the example servers"))
	case w.Name != "":
		for _, msg := range validation.IsDNS1123Subdomain(w.Name) {
			errs = append(errs, field.Invalid(name, w.Name, msg))
		}
	default:
		for _, msg := range validation.IsDNS1123Subdomain(w.GenerateName + "a") {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "generateName"), w.GenerateName, msg))
		}
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Group: Group, Kind: Kind}, w.Name, errs)
	}
	return nil
}

// NotFound answers a path the API does not serve with the 404 Status
// kube-apiserver answers one with.
func NotFound(w http.ResponseWriter, _ *http.Request) {
	middleware.WriteStatus(w, &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusNotFound,
		Reason:  metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource",
		Details: &metav1.StatusDetails{},
	}})
}

// MethodNotAllowed answers a method a path does not serve with a 405 Status.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	middleware.WriteStatus(w, apierrors.NewMethodNotSupported(GroupResource, r.Method))
}

// NoDryRun refuses, with a 400 Status, a mutating request that asks for a
// dry run (?dryRun=All, as kubectl --dry-run=server sends): the store cannot
// pretend to change, and a server must never apply a change the client asked
// only to try.
func NoDryRun(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.URL.Query().Has("dryRun") {
			middleware.WriteStatus(w, apierrors.NewBadRequest("dry run is not supported by this server"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
