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
// Close stops what New started (the informers, the CA file watchers), as
// New's context ending does.
//
// Options can also take in memory what New would otherwise read from files
// or the cluster: the CA bundles (Options.ClientCA, RequestHeader.ClientCA),
// the TokenReview and SubjectAccessReview clients, an authorizer instead of
// SubjectAccessReviews, and a clientset for the ConfigMap and namespace reads;
// given all of them, New makes no connection at all. To test handlers through
// the chain without a cluster, see package aggauthtest: a fake cluster in
// process, the callers the aggregator and direct clients are, and New against
// it in one call.
//
// The building blocks can also be composed by hand: see middleware.NewChain.
package aggauth
