package admission

import (
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// namespacesResource is the resource of core/v1 Namespace objects.
var namespacesResource = schema.GroupResource{Resource: "namespaces"}

// unknownName is what Kubernetes' admission.NewForbidden prints when neither
// the request nor its object has a name. A create names its object in the
// body, which checks do not see: middleware.Admit puts the object's name in
// place of this one when it answers the refusal.
const unknownName = "Unknown"

// errNamespaceNotFound is the 404 kube-apiserver answers for a create into a
// namespace that does not exist: `namespaces "<ns>" not found`.
func errNamespaceNotFound(ns string) error {
	return apierrors.NewNotFound(namespacesResource, ns)
}

// errNamespaceTerminating is the 403 kube-apiserver answers for a create into
// a terminating namespace, built like k8s.io/apiserver/pkg/admission's
// NewForbidden: `<resource>.<group> "<name>" is forbidden: unable to create new
// content in namespace <ns> because it is being terminated`, with the
// NamespaceTerminating cause on metadata.namespace.
func errNamespaceTerminating(a authorizer.Attributes) error {
	ns := a.GetNamespace()
	name := a.GetName()
	if name == "" {
		name = unknownName
	}
	gr := schema.GroupResource{Group: a.GetAPIGroup(), Resource: a.GetResource()}
	err := apierrors.NewForbidden(gr, name,
		fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
		Type:    corev1.NamespaceTerminatingCause,
		Message: fmt.Sprintf("namespace %s is being terminated", ns),
		Field:   "metadata.namespace",
	})
	return err
}

// errNotReady is the 503 answered while the namespace informer has not synced.
func errNotReady(retryAfterSeconds int32) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusServiceUnavailable,
		Reason:  metav1.StatusReasonServiceUnavailable,
		Message: "not yet ready to handle request: the namespace cache has not synced with kube-apiserver",
		Details: &metav1.StatusDetails{RetryAfterSeconds: retryAfterSeconds},
	}}
}

// errLookup is the 500 answered when the namespace could not be read.
func errLookup(ns string, err error) error {
	return apierrors.NewInternalError(fmt.Errorf("looking up namespace %q: %w", ns, err))
}

// errTooManyLookups is the 429 answered when a live lookup would exceed
// MaxLookups or MaxLookupsPerUser.
func errTooManyLookups(retryAfterSeconds int32) error {
	return apierrors.NewTooManyRequests("too many namespace lookups in flight; retry later", int(max(retryAfterSeconds, 0)))
}
