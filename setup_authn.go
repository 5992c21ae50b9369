package aggauth

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/authz"
)

// authenticator builds the union of the front proxy and client-certificate
// authenticators, each configured from its file when one is given, else from the
// cluster's ConfigMap, and of the bearer-token authenticator (unless
// SkipTokenReview), as Kubernetes' delegating authentication does.
func (c *Chain) authenticator(ctx context.Context, o Options, cfg *rest.Config) (*authn.Union, error) {
	var src *authn.ConfigMapSource
	needCM := !o.SkipInClusterLookup && (o.ClientCAFile == "" || o.RequestHeader.ClientCAFile == "")
	if needCM {
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("aggauth: %w", err)
		}
		src, err = authn.NewConfigMapSource(authn.ConfigMapSourceOptions{Client: client, Logger: o.Logger})
		if err != nil {
			return nil, err
		}
		if err := src.Start(ctx); err != nil {
			if !o.TolerateInClusterLookupFailure {
				return nil, err
			}
			o.Logger.Warn("continuing without the authentication ConfigMap; nobody is authenticated from headers until it can be read", "err", err)
		}
	}

	switch {
	case o.ClientCAFile != "":
		ca, err := authn.NewFileCA(authn.FileCAOptions{Path: o.ClientCAFile, Logger: o.Logger})
		if err != nil {
			return nil, err
		}
		ca.Start(ctx)
		c.clientCA = ca
	case src != nil:
		c.clientCA = src.ClientCA()
	}
	switch rh := o.RequestHeader; {
	case rh.ClientCAFile != "":
		ca, err := authn.NewFileCA(authn.FileCAOptions{Path: rh.ClientCAFile, Logger: o.Logger})
		if err != nil {
			return nil, err
		}
		ca.Start(ctx)
		c.rh, err = authn.RequestHeaderFromCA(ca, authn.RequestHeaderConfig{
			AllowedNames: rh.AllowedNames, UsernameHeaders: rh.UsernameHeaders, UIDHeaders: rh.UIDHeaders,
			GroupHeaders: rh.GroupHeaders, ExtraHeaderPrefixes: rh.ExtraHeaderPrefixes,
		})
		if err != nil {
			return nil, err
		}
	case src != nil:
		c.rh = src.RequestHeader()
		c.rhReady = src.Ready
	}
	if c.rh == nil && c.clientCA == nil {
		return nil, errors.New("aggauth: no authentication configured: the ConfigMap lookup is skipped and neither --client-ca-file nor --requestheader-client-ca-file is set")
	}
	uo := authn.UnionOptions{Anonymous: o.Anonymous, AllowSharedCA: o.AllowSharedCA}
	var err error
	if c.rh != nil {
		if uo.FrontProxy, err = authn.NewFrontProxy(authn.FrontProxyOptions{Config: c.rh}); err != nil {
			return nil, err
		}
	}
	if c.clientCA != nil {
		if uo.ClientCert, err = authn.NewClientCert(authn.ClientCertOptions{CA: c.clientCA}); err != nil {
			return nil, err
		}
	}
	if !o.SkipTokenReview {
		if c.token, err = newToken(o, cfg); err != nil {
			return nil, err
		}
		uo.Token = c.token
	}
	return authn.NewUnion(uo)
}

// newToken builds the bearer-token authenticator: TokenReviews through a
// client of their own (with a budget of their own, the authorizer's client
// timeout, and Kubernetes' retry backoff, as the authorizer's reviews).
func newToken(o Options, cfg *rest.Config) (*authn.Token, error) {
	client, err := authn.NewTokenReviewClient(cfg, authn.TokenReviewClientOptions{
		QPS: o.QPS, Burst: o.Burst, Timeout: authz.DefaultClientTimeout,
	})
	if err != nil {
		return nil, err
	}
	return authn.NewToken(authn.TokenOptions{
		Client: client, Audiences: o.APIAudiences, CacheTTL: o.TokenWebhookCacheTTL,
		RetryBackoff: authz.DefaultRetryBackoff(), Logger: o.Logger,
	})
}

// authnReady reports whether a front-proxy configuration is in force: before it,
// the aggregator's requests cannot be authenticated.
func (c *Chain) authnReady() error {
	if c.rh != nil && c.rh.RequestHeaderConfig() == nil {
		if c.rhReady != nil {
			return c.rhReady()
		}
		return errors.New("front-proxy configuration not loaded yet")
	}
	if c.rh == nil && c.clientCA.CABundle() == nil {
		return errors.New("client CA not loaded yet")
	}
	return nil
}
