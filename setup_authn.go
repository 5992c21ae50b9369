package aggauth

import (
	"context"
	"errors"
	"fmt"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/authz"
	"github.com/aggauth/aggauth/internal/reviewmetrics"
)

// authnSetup is what setupAuthn builds: the authenticator, and what the chain
// reads from it afterwards (the CAs it advertises, its readiness, the token
// authenticator's metrics).
type authnSetup struct {
	union    *authn.Union
	token    *authn.Token           // nil with SkipTokenReview
	metrics  *reviewmetrics.Metrics // of the TokenReview client built here; nil for one supplied
	clientCA authn.CAProvider
	rh       authn.RequestHeaderProvider
	rhReady  func() error // why rh has no configuration, when it comes from the ConfigMap
}

// setupAuthn builds the union of the front proxy and client-certificate
// authenticators, each configured from its file or bytes when given, else from
// the cluster's ConfigMap, and of the bearer-token authenticator (unless
// SkipTokenReview), as Kubernetes' delegating authentication does. What it
// starts (the ConfigMap informer, file watchers) runs until ctx is done.
func setupAuthn(ctx context.Context, o Options) (authnSetup, error) {
	var s authnSetup
	src, err := configMapSource(ctx, o)
	if err != nil {
		return s, err
	}
	if s.clientCA, err = caProvider(ctx, o, "ClientCA", o.ClientCAFile, o.ClientCA); err != nil {
		return s, err
	}
	if s.clientCA == nil && src != nil {
		s.clientCA = src.ClientCA()
	}
	rh := o.RequestHeader
	proxyCA, err := caProvider(ctx, o, "RequestHeader.ClientCA", rh.ClientCAFile, rh.ClientCA)
	switch {
	case err != nil:
		return s, err
	case proxyCA != nil:
		s.rh, err = authn.RequestHeaderFromCA(proxyCA, authn.RequestHeaderConfig{
			AllowedNames: rh.AllowedNames, UsernameHeaders: rh.UsernameHeaders, UIDHeaders: rh.UIDHeaders,
			GroupHeaders: rh.GroupHeaders, ExtraHeaderPrefixes: rh.ExtraHeaderPrefixes,
		})
		if err != nil {
			return s, err
		}
	case src != nil:
		s.rh, s.rhReady = src.RequestHeader(), src.Ready
	}
	if s.rh == nil && s.clientCA == nil {
		return s, errors.New("aggauth: no authentication configured: the ConfigMap lookup is skipped and neither a client CA nor a front-proxy CA is given " +
			"(--client-ca-file, --requestheader-client-ca-file, or the bundles in memory)")
	}
	if err = s.authenticators(o); err != nil {
		return s, err
	}
	return s, nil
}

// configMapSource starts reading the authentication ConfigMap when a CA is
// left to it, and returns nil when none is or SkipInClusterLookup.
func configMapSource(ctx context.Context, o Options) (*authn.ConfigMapSource, error) {
	clientCAGiven := o.ClientCAFile != "" || len(o.ClientCA) > 0
	proxyCAGiven := o.RequestHeader.ClientCAFile != "" || len(o.RequestHeader.ClientCA) > 0
	if o.SkipInClusterLookup || (clientCAGiven && proxyCAGiven) {
		return nil, nil
	}
	client, err := o.clientset(forAuthentication)
	if err != nil {
		return nil, err
	}
	src, err := authn.NewConfigMapSource(authn.ConfigMapSourceOptions{Client: client, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	if err := src.Start(ctx); err != nil {
		if !o.TolerateInClusterLookupFailure {
			return nil, err
		}
		o.Logger.Warn("continuing without the authentication ConfigMap; nobody is authenticated from headers until it can be read", "err", err)
	}
	return src, nil
}

// caProvider returns the CA of file, watched until ctx is done, or of pem (the
// option name), or nil when neither is given (validate refuses both).
func caProvider(ctx context.Context, o Options, name, file string, pem []byte) (authn.CAProvider, error) {
	switch {
	case file != "":
		ca, err := authn.NewFileCA(authn.FileCAOptions{Path: file, Logger: o.Logger})
		if err != nil {
			return nil, err
		}
		ca.Start(ctx)
		return ca, nil
	case len(pem) > 0:
		b, err := authn.NewCABundle(pem)
		if err != nil {
			return nil, fmt.Errorf("aggauth: %s: %w", name, err)
		}
		return authn.StaticCA{Bundle: b}, nil
	}
	return nil, nil
}

// authenticators composes the union of the configured authenticators.
func (s *authnSetup) authenticators(o Options) error {
	uo := authn.UnionOptions{Anonymous: o.Anonymous, AllowSharedCA: o.AllowSharedCA}
	var err error
	if s.rh != nil {
		if uo.FrontProxy, err = authn.NewFrontProxy(authn.FrontProxyOptions{Config: s.rh}); err != nil {
			return err
		}
	}
	if s.clientCA != nil {
		if uo.ClientCert, err = authn.NewClientCert(authn.ClientCertOptions{CA: s.clientCA}); err != nil {
			return err
		}
	}
	if !o.SkipTokenReview {
		if uo.Token, s.metrics, err = newToken(o); err != nil {
			return err
		}
	}
	s.token = uo.Token
	s.union, err = authn.NewUnion(uo)
	return err
}

// newToken builds the bearer-token authenticator: TokenReviews through
// TokenReviewClient, or a client of its own (with a budget of its own, the
// authorizer's client timeout, and Kubernetes' retry backoff, as the
// authorizer's reviews), whose requests are recorded in the metrics it
// returns.
func newToken(o Options) (*authn.Token, *reviewmetrics.Metrics, error) {
	client := o.TokenReviewClient
	var metrics *reviewmetrics.Metrics
	if client == nil {
		cfg, err := o.restConfig(forAuthentication)
		if err != nil {
			return nil, nil, err
		}
		metrics = reviewmetrics.NewAuthn()
		cfg.Wrap(metrics.WrapTransport)
		if client, err = authn.NewReviewClient(cfg, authn.ReviewClientOptions{
			QPS: o.QPS, Burst: o.Burst, Timeout: authz.DefaultReviewClientTimeout,
		}); err != nil {
			return nil, nil, err
		}
	}
	t, err := authn.NewToken(authn.TokenOptions{
		Client: client, Audiences: o.APIAudiences, CacheTTL: o.TokenWebhookCacheTTL,
		RetryBackoff: authz.DefaultRetryBackoff(), Logger: o.Logger,
	})
	return t, metrics, err
}

// ready reports whether a front-proxy configuration is in force: before it,
// the aggregator's requests cannot be authenticated.
func (s authnSetup) ready() error {
	if s.rh != nil && s.rh.RequestHeaderConfig() == nil {
		if s.rhReady != nil {
			return s.rhReady()
		}
		return errors.New("front-proxy configuration not loaded yet")
	}
	if s.rh == nil && s.clientCA.CABundle() == nil {
		return errors.New("client CA not loaded yet")
	}
	return nil
}
