// Package aggauth turns any Go HTTP handler into a Kubernetes extension
// apiserver's API: one call connects to the cluster and returns the request
// path kube-apiserver's aggregation layer expects in front of it.
//
//	opts := aggauth.NewOptions()
//	opts.AddFlags(pflag.CommandLine) // Kubernetes' delegating authn/authz flag names
//	pflag.Parse()
//	chain, err := aggauth.New(ctx, *opts)
//	...
//	tlsCfg, err := chain.TLSConfig("tls.crt", "tls.key")
//	srv := &http.Server{Addr: ":8443", Handler: chain.Handler(api), TLSConfig: tlsCfg}
//	srv.ListenAndServeTLS("", "")
//
// The chain answers /healthz, /livez and /readyz without authentication, then
// authenticates the front proxy and the user it forwards (package authn),
// resolves the request as kube-apiserver does (package requestinfo), lets a
// direct caller impersonate when allowed, authorizes with a cached
// SubjectAccessReview (package authz), checks creates against the namespace
// lifecycle (package admission) and runs the handler with the user, the request
// info, the attributes and the decision in the context (package middleware,
// whose documentation says what a handler must still do).
//
// The building blocks can also be composed by hand: see middleware.NewChain.
package aggauth
