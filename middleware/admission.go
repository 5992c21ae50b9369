package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/aggauth/aggauth/pipeline"
)

// AdmissionOptions configures NewAdmission.
type AdmissionOptions struct {
	// Admission decides whether a mutating request may proceed. Required.
	// Usually an *admission.NamespaceLifecycle, or admission.Checks of it and
	// the server's own checks.
	Admission Admitter
}

// Admission runs the check on every mutating resource request, after
// authorization, as kube-apiserver runs its admission plugins in its REST
// handlers. When the check refuses, its error is written as a Status (an
// apierrors error keeps its code; an admission.ForbiddenError is
// kube-apiserver's 403 for the object; any other error is a 500) and the next
// handler does not run.
//
// The check receives the request's authorizer attributes (resolved by
// RequestAttributes, or from the RequestInfo of request.RequestInfoFrom) with
// the user it runs as. Reads (get, list, watch) and non-resource requests are
// not admission's business and go straight to the next handler; every other
// verb (create, update, patch, delete, deletecollection, proxy) is checked. A
// request whose attributes were not resolved is answered 500: RequestAttributes
// must run first.
type Admission struct {
	check Admitter
}

// NewAdmission checks opts and returns the step.
func NewAdmission(opts AdmissionOptions) (*Admission, error) {
	if opts.Admission == nil {
		return nil, errors.New("middleware: AdmissionOptions.Admission is required")
	}
	return &Admission{check: opts.Admission}, nil
}

// Handler wraps next with the step. It is a func(http.Handler) http.Handler.
func (a *Admission) Handler(next http.Handler) http.Handler { return pipeline.New(next, a) }

// errNoRequestInfo answers a request that reached admission without its
// attributes: the chain is wired wrongly.
var errNoRequestInfo = apierrors.NewInternalError(errors.New(
	"admission: no RequestInfo in the request context; the RequestAttributes step must run before admission"))

func (a *Admission) Serve(w http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	attrs, resolved := s.Attributes()
	if !resolved {
		WriteStatus(w, errNoRequestInfo)
		return nil
	}
	if !attrs.IsResourceRequest() || attrs.IsReadOnly() {
		return r
	}
	if err := a.check.Admit(r.Context(), attrs); err != nil {
		WriteStatus(w, nameTheObject(r, err))
		return nil
	}
	return r
}

// maxObjectBytes bounds what is read of a refused request's body to name its
// object: kube-apiserver's own limit on a request body.
const maxObjectBytes = 3 << 20

// nameTheObject completes a refusal that names no object. A create names its
// object in the body, not the URL, so a check cannot; kube-apiserver, which
// decoded the object, names it by metadata.name, else metadata.generateName.
// On this refusal path only (the handler will not run, so the body is free to
// read), the body is decoded for those two fields.
func nameTheObject(r *http.Request, err error) error {
	var fe unnamedRefusal
	if !errors.As(err, &fe) || !fe.Unnamed() || r.Body == nil {
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
	return fe.Named(name)
}

// Admitter decides whether a request may change what it asks to change; an
// error refuses it, answered as a Status. admission.Interface (and so
// admission.NamespaceLifecycle and admission.Checks) is one.
type Admitter interface {
	Admit(ctx context.Context, a authorizer.Attributes) error
}

// unnamedRefusal is an admission refusal that may not name the object yet
// (admission.ForbiddenError: the name of a create is in its body).
type unnamedRefusal interface {
	error
	Unnamed() bool
	Named(name string) error
}
