package admission

import (
	"fmt"
	"time"

	"github.com/aggauth/aggauth/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// namespacesResource is the resource of core/v1 Namespace objects.
var namespacesResource = schema.GroupResource{Resource: "namespaces"}

// ForbiddenError is a check's refusal of a change to one object, carried as
// data: the middleware answers it with kube-apiserver's 403 Forbidden Status
// for the object (admission.NewForbidden's: `<resource>.<group> "<name>" is
// forbidden: <Err>`, with Causes). Name is empty when the check does not know
// it: a create names its object in the body, which checks do not see; the
// middleware then reads metadata.name (else metadata.generateName) from the
// body, as kube-apiserver does, and says "Unknown" when there is none.
type ForbiddenError struct {
	Resource schema.GroupResource
	Name     string
	Err      error
	Causes   []metav1.StatusCause
}

// unknownName is what Kubernetes' admission.NewForbidden says when neither the
// request nor its object has a name.
const unknownName = "Unknown"

// Status is the 403 Status of e (it makes e an apierrors.APIStatus).
func (e *ForbiddenError) Status() metav1.Status {
	name := e.Name
	if name == "" {
		name = unknownName
	}
	st := apierrors.NewForbidden(e.Resource, name, e.Err).ErrStatus
	st.Details.Causes = append(st.Details.Causes, e.Causes...)
	return st
}

// Error is the Status' message.
func (e *ForbiddenError) Error() string { return e.Status().Message }

// Unwrap returns the reason of the refusal.
func (e *ForbiddenError) Unwrap() error { return e.Err }

// errNamespaceNotFound is the 404 kube-apiserver answers for a create into a
// namespace that does not exist: `namespaces "<ns>" not found`.
func errNamespaceNotFound(ns string) error {
	return apierrors.NewNotFound(namespacesResource, ns)
}

// errNamespaceTerminating is the 403 kube-apiserver answers for a create into
// a terminating namespace: `<resource>.<group> "<name>" is forbidden: unable to
// create new content in namespace <ns> because it is being terminated`, with
// the NamespaceTerminating cause on metadata.namespace.
func errNamespaceTerminating(a authorizer.Attributes) error {
	ns := a.GetNamespace()
	return &ForbiddenError{
		Resource: schema.GroupResource{Group: a.GetAPIGroup(), Resource: a.GetResource()},
		Name:     a.GetName(),
		Err:      fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns),
		Causes: []metav1.StatusCause{{
			Type:    corev1.NamespaceTerminatingCause,
			Message: fmt.Sprintf("namespace %s is being terminated", ns),
			Field:   "metadata.namespace",
		}},
	}
}

// errNotReady is the 503 answered while the namespace informer has not synced.
func errNotReady(retryAfter time.Duration) error {
	return status.Unavailable("not yet ready to handle request: the namespace cache has not synced with kube-apiserver", retryAfter)
}

// errLookup is the 500 answered when the namespace could not be read.
func errLookup(ns string, err error) error {
	return apierrors.NewInternalError(fmt.Errorf("looking up namespace %q: %w", ns, err))
}

// errTooManyLookups is the 429 answered when a live lookup would exceed
// MaxLookups or MaxLookupsPerUser.
func errTooManyLookups(retryAfter time.Duration) error {
	return status.TooManyRequests("too many namespace lookups in flight; retry later", retryAfter)
}

// Unnamed reports whether e does not name the object yet: the middleware then
// takes the name from the request's body (Named).
func (e *ForbiddenError) Unnamed() bool { return e.Name == "" }

// Named returns e naming the object name.
func (e *ForbiddenError) Named(name string) error {
	named := *e
	named.Name = name
	return &named
}
