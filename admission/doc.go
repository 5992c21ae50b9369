// Package admission decides whether a change may happen, after the caller has
// been authenticated and authorized: Kubernetes' admission step, for a Go HTTP
// service behind the kube-apiserver aggregation layer.
//
// An admission check is anything with an Admit method (Interface) taking the
// request's Kubernetes authorizer.Attributes and returning nil to admit or a
// Kubernetes Status error (k8s.io/apimachinery/pkg/api/errors) to refuse. Func
// adapts a plain function; Checks runs several checks in order and stops at the
// first refusal, so a server can add its own checks after the built-in ones.
//
// NamespaceLifecycle is Kubernetes' NamespaceLifecycle admission plugin as a
// check: a create of a namespaced resource is refused with 404 when its namespace
// does not exist and with 403 when it is being terminated, with the messages,
// reasons and causes kube-apiserver uses. Its source of truth is one client-go
// shared informer on namespaces, plus a live GET when the informer does not
// know the namespace; concurrent GETs for one namespace are shared and "not
// found" answers are remembered briefly, so a flood of creates into a missing
// namespace costs kube-apiserver one request.
//
// The middleware package's Admit runs a check on every mutating request.
package admission
