package aggauth

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/path"

	"github.com/aggauth/aggauth/admission"
	"github.com/aggauth/aggauth/authz"
	"github.com/aggauth/aggauth/internal/reviewmetrics"
)

// authzSetup is what setupAuthz builds: the authorizer the chain asks, and
// the SubjectAccessReview authorizer behind it (nil when Options.Authorizer
// decides instead).
type authzSetup struct {
	authorizer authorizer.UnconditionalAuthorizer
	sar        *authz.Authorizer
	metrics    *reviewmetrics.Metrics // of the client built here; nil for one supplied
}

// setupAuthz builds the authorizer: Options.Authorizer behind the
// always-allowed groups and paths, or the SubjectAccessReview authorizer
// (which allows those itself) with its client: SubjectAccessReviewClient, or
// one of its own with a budget of its own.
func setupAuthz(o Options) (authzSetup, error) {
	if o.Authorizer != nil {
		a, err := newAlwaysAllow(o.AlwaysAllowGroups, o.AlwaysAllowPaths, o.Authorizer)
		return authzSetup{authorizer: a}, err
	}
	client := o.SubjectAccessReviewClient
	var metrics *reviewmetrics.Metrics
	if client == nil {
		cfg, err := o.restConfig(forAuthorization)
		if err != nil {
			return authzSetup{}, err
		}
		metrics = reviewmetrics.NewAuthz()
		cfg.Wrap(metrics.WrapTransport)
		if client, err = authz.NewReviewClient(cfg, authz.ReviewClientOptions{QPS: o.QPS, Burst: o.Burst}); err != nil {
			return authzSetup{}, err
		}
	}
	sar, err := authz.New(authz.Options{Client: client,
		AllowTTL: o.AllowCacheTTL, DenyTTL: o.DenyCacheTTL, StaleIfError: o.StaleIfError,
		AlwaysAllowPaths: o.AlwaysAllowPaths, AlwaysAllowGroups: o.AlwaysAllowGroups, Logger: o.Logger,
	})
	if err != nil {
		return authzSetup{}, err
	}
	return authzSetup{authorizer: sar, sar: sar, metrics: metrics}, nil
}

// alwaysAllow allows the members of groups and the non-resource paths, then
// asks next: Kubernetes' delegated authorization puts its privileged-group
// and always-allow-path authorizers before its webhook in the same way.
type alwaysAllow struct {
	groups []string
	paths  authorizer.Authorizer
	next   authorizer.UnconditionalAuthorizer
}

func newAlwaysAllow(groups, paths []string, next authorizer.UnconditionalAuthorizer) (*alwaysAllow, error) {
	p, err := path.NewAuthorizer(paths)
	if err != nil {
		return nil, fmt.Errorf("aggauth: AlwaysAllowPaths: %w", err)
	}
	return &alwaysAllow{groups: groups, paths: p, next: next}, nil
}

// Authorize implements authorizer.UnconditionalAuthorizer.
func (a *alwaysAllow) Authorize(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	if u := attrs.GetUser(); u != nil && slices.ContainsFunc(u.GetGroups(), func(g string) bool { return slices.Contains(a.groups, g) }) {
		return authorizer.DecisionAllow, "", nil
	}
	if d, reason, err := a.paths.Authorize(ctx, attrs); d == authorizer.DecisionAllow {
		return d, reason, err
	}
	return a.next.Authorize(ctx, attrs)
}

// setupNamespaceLifecycle builds the namespace check of creates and starts
// its informer until ctx is done; nil with DisableNamespaceLifecycle.
func setupNamespaceLifecycle(ctx context.Context, o Options) (*admission.NamespaceLifecycle, error) {
	if o.DisableNamespaceLifecycle {
		return nil, nil
	}
	client, err := o.clientset(forAuthorization)
	if err != nil {
		return nil, err
	}
	nl, err := admission.NewNamespaceLifecycle(admission.NamespaceLifecycleOptions{Client: client, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	nl.Start(ctx)
	return nl, nil
}
