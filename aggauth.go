package aggauth

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aggauth/aggauth/admission"
	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/authz"
	"github.com/aggauth/aggauth/middleware"
)

// Chain is an extension apiserver's whole request path, configured from the
// cluster: wrap the API handler with Handler and serve it with TLSConfig.
type Chain struct {
	chain      *middleware.Chain
	authorizer *authz.Authorizer
	token      *authn.Token // nil with SkipTokenReview
	clientCA   authn.CAProvider
	rh         authn.RequestHeaderProvider
	rhReady    func() error       // why rh has no configuration, when it comes from the ConfigMap
	stop       context.CancelFunc // stops what New started (with New's context)
}

// New connects to kube-apiserver as opts say, starts what watches the cluster
// (the authentication ConfigMap or CA files, the namespace informer) until ctx is
// done, and returns the chain. It fails when the configuration is wrong or, unless
// opts.TolerateInClusterLookupFailure, when the authentication ConfigMap cannot be
// read (the error names the RoleBinding to create). When it fails, what it
// started is stopped.
func New(ctx context.Context, opts Options) (_ *Chain, err error) {
	o := withDefaults(opts)
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		if err != nil {
			cancel()
		}
	}()
	authnCfg, err := o.restConfig(o.AuthenticationKubeconfig)
	if err != nil {
		return nil, err
	}
	authzCfg, err := o.restConfig(o.AuthorizationKubeconfig)
	if err != nil {
		return nil, err
	}
	// A budget of QPS and Burst for each kind of call to kube-apiserver, as
	// Kubernetes' delegated authentication and authorization each build a
	// client of their own: TokenReviews (which unauthenticated callers can
	// cause), SubjectAccessReviews (for users the aggregator forwards, already
	// authenticated), and the reads of the ConfigMap and namespaces. The
	// review clients share theirs fairly between users or client addresses.
	c := &Chain{stop: cancel}
	unionAuth, err := c.authenticator(ctx, o, authnCfg)
	if err != nil {
		return nil, err
	}
	sar, err := authz.NewClient(authzCfg, authz.ClientOptions{QPS: o.QPS, Burst: o.Burst})
	if err != nil {
		return nil, err
	}
	c.authorizer, err = authz.New(sar, authz.Options{
		AllowTTL: o.AllowCacheTTL, DenyTTL: o.DenyCacheTTL, StaleIfError: o.StaleIfError,
		AlwaysAllowPaths: o.AlwaysAllowPaths, AlwaysAllowGroups: o.AlwaysAllowGroups, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	chainOpts := middleware.ChainOptions{
		Authentication: middleware.AuthenticationOptions{Authenticator: unionAuth, Logger: o.Logger},
		Impersonation:  middleware.ImpersonationOptions{Refuse: o.DisableImpersonation},
		Authorization:  middleware.AuthorizationOptions{Authorizer: c.authorizer},
		ReadyChecks:    []middleware.ReadyCheck{{Name: "authentication-config", Check: c.authnReady}},
	}
	var admit admission.Checks
	if !o.DisableNamespaceLifecycle {
		nl, err := c.namespaceLifecycle(ctx, o, authzCfg)
		if err != nil {
			return nil, err
		}
		admit = append(admit, nl)
		chainOpts.ReadyChecks = append(chainOpts.ReadyChecks, middleware.ReadyCheck{Name: "namespace-informer", Check: nl.Ready})
	}
	if admit = append(admit, o.Admission...); len(admit) > 0 {
		chainOpts.Admission.Admission = admit
	}
	if c.chain, err = middleware.NewChain(chainOpts); err != nil {
		return nil, err
	}
	return c, nil
}

func withDefaults(o Options) Options {
	d := NewOptions()
	if o.QPS == 0 {
		o.QPS = d.QPS
	}
	if o.Burst == 0 {
		o.Burst = d.Burst
	}
	if o.RequestHeader.UsernameHeaders == nil {
		o.RequestHeader.UsernameHeaders = d.RequestHeader.UsernameHeaders
	}
	if o.RequestHeader.GroupHeaders == nil {
		o.RequestHeader.GroupHeaders = d.RequestHeader.GroupHeaders
	}
	if o.RequestHeader.ExtraHeaderPrefixes == nil {
		o.RequestHeader.ExtraHeaderPrefixes = d.RequestHeader.ExtraHeaderPrefixes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// restConfig returns the client configuration for one purpose: override when set,
// else Kubeconfig, else the in-cluster configuration; RESTConfig wins over all.
func (o Options) restConfig(override string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	switch path := firstNonEmpty(override, o.Kubeconfig); {
	case o.RESTConfig != nil:
		cfg = rest.CopyConfig(o.RESTConfig)
	case path != "":
		cfg, err = clientcmd.BuildConfigFromFlags("", path)
	default:
		cfg, err = rest.InClusterConfig()
		if err != nil {
			err = fmt.Errorf("%w (outside a cluster, set --kubeconfig)", err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("aggauth: connecting to kube-apiserver: %w", err)
	}
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	return cfg, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func (c *Chain) namespaceLifecycle(ctx context.Context, o Options, cfg *rest.Config) (*admission.NamespaceLifecycle, error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("aggauth: %w", err)
	}
	nl, err := admission.NewNamespaceLifecycle(admission.NamespaceLifecycleOptions{Client: client, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	nl.Start(ctx)
	return nl, nil
}

// Handler wraps next: health endpoints, authentication, request attributes,
// authorization, admission, then next. It is a func(http.Handler) http.Handler.
func (c *Chain) Handler(next http.Handler) http.Handler { return c.chain.Handler(next) }

// Ready returns nil once the authentication configuration is loaded and the
// informers have synced; /readyz answers 503 until then.
func (c *Chain) Ready() error { return c.chain.Ready() }

// Collectors returns the Prometheus collectors of the chain (authentication
// failures by reason), of the bearer-token authenticator (requests, cache,
// reviews) and of the authorizer (cache, reviews), for the server to register.
func (c *Chain) Collectors() []prometheus.Collector {
	cs := c.chain.Collectors()
	if c.token != nil {
		cs = append(cs, c.token.Collectors()...)
	}
	return append(cs, c.authorizer.Collectors()...)
}

// Authorizer returns the SubjectAccessReview authorizer (its SARsSent counter,
// say).
func (c *Chain) Authorizer() *authz.Authorizer { return c.authorizer }

// TLSConfig returns the serving TLS configuration for the certificate and key
// files, advertising the CAs in force to clients (see middleware.TLSConfig).
func (c *Chain) TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	var cas []authn.CAProvider
	if c.rh != nil {
		cas = append(cas, authn.RequestHeaderCA(c.rh))
	}
	if c.clientCA != nil {
		cas = append(cas, c.clientCA)
	}
	return middleware.TLSConfig(middleware.TLSOptions{CertFile: certFile, KeyFile: keyFile, ClientCAs: cas})
}
