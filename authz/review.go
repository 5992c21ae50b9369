package authz

import (
	"context"
	"errors"
	"fmt"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/util/webhook"
)

// await joins the review flight for key, starting it if there is none, and
// waits for its result or for ctx to end, whichever comes first. A request that
// ends stops waiting at once; the flight goes on for the others.
func (a *Authorizer) await(ctx context.Context, key string, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	leader := false
	ch := a.flights.DoChan(key, func() (any, error) {
		leader = true // read only after the result is received
		return a.review(ctx, key, attrs)
	})
	select {
	case res := <-ch:
		if !leader {
			a.metrics.coalesced.Inc()
		}
		if res.Err != nil {
			return authorizer.DecisionNoOpinion, "", res.Err
		}
		return decision(&res.Val.(*entry).status)
	case <-ctx.Done():
		return authorizer.DecisionNoOpinion, "", fmt.Errorf("authz: request ended while waiting for its SubjectAccessReview: %w", context.Cause(ctx))
	}
}

// review sends the SubjectAccessReview for attrs and caches its result. It runs
// once per flight, on a context detached from the request that started it
// (keeping its values) and bounded by Options.Timeout.
func (a *Authorizer) review(reqCtx context.Context, key string, attrs authorizer.Attributes) (*entry, error) {
	// A flight that ended between this request's cache miss and the start of this
	// flight has already answered.
	if e, ok := a.cache.get(key, a.opts.Clock.Now()); ok {
		return &e, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(reqCtx), a.opts.Timeout)
	defer cancel()

	u := attrs.GetUser()
	status, err := a.create(ctx, newSubjectAccessReview(u, attrs))
	now := a.opts.Clock.Now()
	if err != nil {
		a.metrics.errors.Inc()
		if e, ok := a.cache.getStale(key, now); ok && e.status.Allowed && !e.status.Denied {
			a.metrics.staleAllows.Inc()
			a.log.Warn("authz: SubjectAccessReview failed; reusing an earlier allow (stale-if-error)",
				"user", u.GetName(), "verb", attrs.GetVerb(), "resource", attrs.GetResource(), "path", attrs.GetPath(), "err", err)
			return &e, nil
		}
		a.log.Error("authz: SubjectAccessReview failed",
			"user", u.GetName(), "verb", attrs.GetVerb(), "resource", attrs.GetResource(), "path", attrs.GetPath(), "err", err)
		return nil, err
	}
	e := &entry{status: *status}
	a.store(key, e, attrs, now)
	return e, nil
}

// store caches e, answered at now, unless its kind of answer is not cached or
// the attributes are too large. Allows get the allow TTL (and may outlive it
// for stale-if-error); denials and no-opinions get the deny TTL.
func (a *Authorizer) store(key string, e *entry, attrs authorizer.Attributes, now time.Time) {
	ttl, enabled := a.opts.DenyTTL, a.cacheDeny
	if e.status.Allowed {
		ttl, enabled = a.opts.AllowTTL, a.cacheAllow
	}
	if !enabled || controlledAttributesSize(attrs) >= a.opts.MaxAttributeBytes {
		return
	}
	e.fresh = now.Add(ttl)
	e.stale = e.fresh
	if e.status.Allowed && !e.status.Denied && a.opts.StaleIfError > ttl {
		e.stale = now.Add(a.opts.StaleIfError)
	}
	a.cache.add(key, *e)
}

// create sends sar, retrying retriable errors (Kubernetes' DefaultShouldRetry:
// connection reset, HTTP/2 connection lost, 500, 504, 429, or any Retry-After)
// with Options.RetryBackoff, as Kubernetes' webhook authorizer does, until ctx
// ends.
func (a *Authorizer) create(ctx context.Context, sar *authorizationv1.SubjectAccessReview) (*authorizationv1.SubjectAccessReviewStatus, error) {
	backoff := a.opts.RetryBackoff
	for {
		res, err := a.send(ctx, sar)
		if err == nil {
			return &res.Status, nil
		}
		if !webhook.DefaultShouldRetry(err) || backoff.Steps <= 1 {
			return nil, err
		}
		t := a.opts.Clock.NewTimer(backoff.Step())
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return nil, err
		}
	}
}

// send makes one review request, holding one of the MaxInFlight slots.
func (a *Authorizer) send(ctx context.Context, sar *authorizationv1.SubjectAccessReview) (*authorizationv1.SubjectAccessReview, error) {
	select {
	case a.inFlight <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("authz: waiting for a free SubjectAccessReview slot: %w", context.Cause(ctx))
	}
	defer func() { <-a.inFlight }()
	a.sarsSent.Add(1)
	start := a.opts.Clock.Now()
	res, err := a.client.Create(ctx, sar, metav1.CreateOptions{})
	a.metrics.latency.Observe(a.opts.Clock.Since(start).Seconds())
	if err == nil && res == nil {
		err = errors.New("authz: empty SubjectAccessReview response")
	}
	if err != nil {
		return nil, fmt.Errorf("authz: SubjectAccessReview: %w", err)
	}
	return res, nil
}
