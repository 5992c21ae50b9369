package middleware

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/admission"
	"github.com/aggauth/aggauth/authz"
)

// AdmitOptions configures the Admit middleware.
type AdmitOptions struct {
	// Admission decides whether a mutating request may proceed. Required.
	// Usually an *admission.NamespaceLifecycle, or an admission.Chain of it
	// and the server's own checks.
	Admission admission.Interface
}

// errNoRequestInfo answers a request that reached Admit without the
// RequestInfo that RequestAttributes stores: the chain is wired wrongly.
var errNoRequestInfo = apierrors.NewInternalError(errors.New(
	"admission: no RequestInfo in the request context; the RequestAttributes middleware must run before Admit"))

// Admit returns a middleware that runs opts.Admission on every mutating
// resource request, after authorization, as kube-apiserver runs its admission
// plugins in its REST handlers. When the check refuses, its error is written
// as a Status (an apierrors error keeps its code; any other is a 500) and the
// next handler does not run.
//
// The check receives the request's authorizer.Attributes, built from the
// RequestInfo (request.RequestInfoFrom) and the user (request.UserFrom, nil
// when no user is in the context) like kube-apiserver's
// GetAuthorizerAttributes. Reads (get, list, watch) and non-resource requests
// are not admission's business and go straight to the next handler; every
// other verb (create, update, patch, delete, deletecollection, proxy) is
// checked. A request without RequestInfo is answered 500: the RequestAttributes
// middleware must run first.
func Admit(opts AdmitOptions) (func(http.Handler) http.Handler, error) {
	if opts.Admission == nil {
		return nil, errors.New("middleware: AdmitOptions.Admission is required")
	}
	check := opts.Admission
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			info, ok := request.RequestInfoFrom(ctx)
			if !ok || info == nil {
				WriteStatus(w, errNoRequestInfo)
				return
			}
			if admitted(w, r, check, info) {
				next.ServeHTTP(w, r)
			}
		})
	}, nil
}

// admitted runs check on a mutating resource request described by info and
// writes its refusal; it reports whether the request may proceed. It reuses the
// attributes RequestAttributes stored, when there are any.
func admitted(w http.ResponseWriter, r *http.Request, check admission.Interface, info *request.RequestInfo) bool {
	if !info.IsResourceRequest || readOnly(info.Verb) {
		return true
	}
	var attrs authorizer.Attributes
	if s := stateFrom(r.Context()); s != nil && s.attrs.RequestInfo() == info && s.attrs.User != nil {
		attrs = &s.attrs
	} else {
		u, _ := request.UserFrom(r.Context())
		attrs = authz.AttributesFromRequestInfo(u, info)
	}
	if err := check.Admit(r.Context(), attrs); err != nil {
		WriteStatus(w, nameTheObject(r, err))
		return false
	}
	return true
}

// maxObjectBytes bounds what is read of a refused request's body to name its
// object: kube-apiserver's own limit on a request body.
const maxObjectBytes = 3 << 20

// nameTheObject gives a refusal the name Kubernetes' admission errors carry. A
// create names its object in the body, not the URL, so an admission check can
// only say "Unknown"; kube-apiserver, which decoded the object, says its
// metadata.name, else its metadata.generateName. On this refusal path only
// (the handler will not run, so the body is free to read), the body is decoded
// for those two fields and the Forbidden Status is rewritten with the name.
func nameTheObject(r *http.Request, err error) error {
	var se *apierrors.StatusError
	if !errors.As(err, &se) || r.Body == nil {
		return err
	}
	st := se.ErrStatus
	if st.Reason != metav1.StatusReasonForbidden || st.Details == nil || st.Details.Name != "Unknown" {
		return err
	}
	var obj struct {
		Metadata struct {
			Name         string `json:"name"`
			GenerateName string `json:"generateName"`
		} `json:"metadata"`
	}
	if json.NewDecoder(io.LimitReader(r.Body, maxObjectBytes)).Decode(&obj) != nil {
		return err
	}
	name := obj.Metadata.Name
	if name == "" {
		name = obj.Metadata.GenerateName
	}
	gr := schema.GroupResource{Group: st.Details.Group, Resource: st.Details.Kind}
	prefix := fmt.Sprintf("%s %q is forbidden: ", gr, "Unknown")
	if name == "" || !strings.HasPrefix(st.Message, prefix) {
		return err
	}
	details := *st.Details
	details.Name = name
	st.Details = &details
	st.Message = fmt.Sprintf("%s %q is forbidden: ", gr, name) + st.Message[len(prefix):]
	return &apierrors.StatusError{ErrStatus: st}
}

// readOnly reports whether verb has no side effects, as
// authorizer.AttributesRecord.IsReadOnly decides.
func readOnly(verb string) bool {
	return verb == "get" || verb == "list" || verb == "watch"
}
