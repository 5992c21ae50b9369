package middleware

import (
	"errors"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/admission"
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
		attrs = admissionAttributes(r, info)
	}
	if err := check.Admit(r.Context(), attrs); err != nil {
		WriteStatus(w, err)
		return false
	}
	return true
}

// readOnly reports whether verb has no side effects, as
// authorizer.AttributesRecord.IsReadOnly decides.
func readOnly(verb string) bool {
	return verb == "get" || verb == "list" || verb == "watch"
}

// admissionAttributes builds the attributes of r from info and the context's
// user, parsing selectors as kube-apiserver's GetAuthorizerAttributes does.
func admissionAttributes(r *http.Request, info *request.RequestInfo) *authorizer.AttributesRecord {
	a := &authorizer.AttributesRecord{
		Verb:            info.Verb,
		Namespace:       info.Namespace,
		APIGroup:        info.APIGroup,
		APIVersion:      info.APIVersion,
		Resource:        info.Resource,
		Subresource:     info.Subresource,
		Name:            info.Name,
		ResourceRequest: info.IsResourceRequest,
		Path:            info.Path,
	}
	if u, ok := request.UserFrom(r.Context()); ok {
		a.User = u
	}
	if info.FieldSelector != "" {
		if sel, err := fields.ParseSelector(info.FieldSelector); err != nil {
			a.FieldSelectorParsingErr = err
		} else if reqs := sel.Requirements(); len(reqs) > 0 {
			a.FieldSelectorRequirements = reqs
		}
	}
	if info.LabelSelector != "" {
		if sel, err := labels.Parse(info.LabelSelector); err != nil {
			a.LabelSelectorParsingErr = err
		} else if reqs, _ := sel.Requirements(); len(reqs) > 0 {
			a.LabelSelectorRequirements = reqs
		}
	}
	return a
}
