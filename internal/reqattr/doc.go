// Package reqattr resolves a request into Kubernetes' RequestInfo and
// authorizer attributes with the exact rules of k8s.io/apiserver, in one
// allocation. It is the implementation behind the public package requestinfo;
// middleware and authz use its per-request methods (Init, RawSelectors)
// directly, which users do not need.
package reqattr
