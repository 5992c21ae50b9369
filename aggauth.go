package aggauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aggauth/aggauth/admission"
	"github.com/aggauth/aggauth/audit"
	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/authz"
	"github.com/aggauth/aggauth/middleware"
	"github.com/aggauth/aggauth/pipeline"
	"github.com/aggauth/aggauth/serving"
)

// Chain is an extension apiserver's whole request path, configured from the
// cluster: wrap the API handler with Handler and serve it with TLSConfig.
// Close stops what New started.
type Chain struct {
	chain   *middleware.Chain
	steps   []pipeline.Step // the chain's, with the audit's around authentication
	auditor *audit.Auditor  // nil: audit off
	authn   authnSetup
	authz   authzSetup
	cancel  context.CancelFunc // stops what New started (with New's context)
}

// New connects to kube-apiserver as opts say, starts what watches the cluster
// (the authentication ConfigMap or CA files, the namespace informer) until ctx is
// done or Close is called, and returns the chain. It fails when the
// configuration is wrong or, unless opts.TolerateInClusterLookupFailure, when
// the authentication ConfigMap cannot be read (the error names the RoleBinding
// to create). When it fails, what it started is stopped.
func New(ctx context.Context, opts Options) (_ *Chain, err error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	o := withDefaults(opts)
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		if err != nil {
			cancel()
		}
	}()
	// A budget of QPS and Burst for each kind of call to kube-apiserver, as
	// Kubernetes' delegated authentication and authorization each build a
	// client of their own: TokenReviews (which unauthenticated callers can
	// cause), SubjectAccessReviews (for users the aggregator forwards, already
	// authenticated), and the reads of the ConfigMap and namespaces. The
	// review clients share theirs fairly between users or client addresses.
	c := &Chain{cancel: cancel}
	if c.authn, err = setupAuthn(ctx, o); err != nil {
		return nil, err
	}
	if c.authz, err = setupAuthz(o); err != nil {
		return nil, err
	}
	nl, err := setupNamespaceLifecycle(ctx, o)
	if err != nil {
		return nil, err
	}
	if c.chain, err = middleware.NewChain(chainOptions(o, c.authn, c.authz, nl)); err != nil {
		return nil, err
	}
	ao := o.Audit
	if ao.Logger == nil {
		ao.Logger = o.Logger
	}
	if c.auditor, err = audit.New(ao); err != nil {
		return nil, err
	}
	c.steps = c.chain.Steps()
	if failed, audited := c.auditor.Steps(); audited != nil {
		c.steps = pipeline.InsertBefore(c.steps, pipeline.KindAuthentication, failed)
		c.steps = pipeline.InsertAfter(c.steps, pipeline.KindAuthentication, audited)
	}
	return c, nil
}

// chainOptions composes the steps: the authenticator, impersonation, the
// authorizer, the namespace check (when nl is set) and then opts.Admission,
// with a readiness check of each source of configuration.
func chainOptions(o Options, an authnSetup, az authzSetup, nl *admission.NamespaceLifecycle) middleware.ChainOptions {
	co := middleware.ChainOptions{
		Authentication: middleware.AuthenticationOptions{Authenticator: an.union, Logger: o.Logger},
		Impersonation:  middleware.ImpersonationOptions{Refuse: o.DisableImpersonation},
		Authorization:  middleware.AuthorizationOptions{Authorizer: az.authorizer},
		ReadyChecks:    []middleware.ReadyCheck{{Name: "authentication-config", Check: an.ready}},
	}
	var admit admission.Checks
	if nl != nil {
		admit = append(admit, nl)
		co.ReadyChecks = append(co.ReadyChecks, middleware.ReadyCheck{Name: "namespace-informer", Check: nl.Ready})
	}
	if admit = append(admit, o.Admission...); len(admit) > 0 {
		co.Admission.Admission = admit
	}
	return co
}

// Close stops what New started: the informers of the authentication ConfigMap
// and of namespaces, and the CA file watchers, whose goroutines end shortly
// after; and flushes and closes the audit log. Requests keep being served
// with the configuration in force. It is safe to call more than once;
// cancelling New's context stops the same, but leaves the audit log open.
func (c *Chain) Close() {
	c.cancel()
	_ = c.auditor.Close()
}

// Handler wraps next: health endpoints, authentication, the audit (when
// Options.Audit enables it), request attributes, impersonation,
// authorization, admission, then next. It is a pipeline (package pipeline)
// whose steps join those of a serving.Server it is given to, and a
// func(http.Handler) http.Handler.
func (c *Chain) Handler(next http.Handler) http.Handler { return pipeline.New(next, c.steps...) }

// Ready returns nil once the authentication configuration is loaded and the
// informers have synced; /readyz answers 503 until then.
func (c *Chain) Ready() error { return c.chain.Ready() }

// Collectors returns the Prometheus collectors of the chain (authentication
// failures by reason), of the bearer-token authenticator (requests, cache,
// reviews) and of the authorizer (cache, reviews), Kubernetes' metrics of the
// reviews sent through the clients New built
// (apiserver_delegated_authn_request_total, ..._duration_seconds, and the
// authz pair), and the audit log's. A serving.Server given the Chain as its
// TLS source returns these among its own: register one or the other.
func (c *Chain) Collectors() []prometheus.Collector {
	cs := c.chain.Collectors()
	if c.authn.token != nil {
		cs = append(cs, c.authn.token.Collectors()...)
	}
	if c.authn.metrics != nil {
		cs = append(cs, c.authn.metrics.Collectors()...)
	}
	if c.authz.sar != nil {
		cs = append(cs, c.authz.sar.Collectors()...)
	}
	if c.authz.metrics != nil {
		cs = append(cs, c.authz.metrics.Collectors()...)
	}
	if c.auditor != nil {
		cs = append(cs, c.auditor.Collectors()...)
	}
	return cs
}

// Authorizer returns the SubjectAccessReview authorizer (its ReviewsSent counter,
// say), or nil when Options.Authorizer decides instead.
func (c *Chain) Authorizer() *authz.Authorizer { return c.authz.sar }

// TLSConfig returns the serving TLS configuration for the certificate and key
// files, advertising the CAs in force to clients (see serving.TLSConfig).
func (c *Chain) TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	var cas []func() []*x509.Certificate
	if c.authn.rh != nil {
		cas = append(cas, authn.CACertificates(authn.RequestHeaderCA(c.authn.rh)))
	}
	if c.authn.clientCA != nil {
		cas = append(cas, authn.CACertificates(c.authn.clientCA))
	}
	return serving.TLSConfig(serving.TLSOptions{CertFile: certFile, KeyFile: keyFile, ClientCAs: cas})
}
