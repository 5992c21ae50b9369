package authz

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/aggauth/aggauth/internal/flight"
	"github.com/aggauth/aggauth/internal/retry"
	"github.com/aggauth/aggauth/status"
)

// ErrTooManyInFlight is wrapped by the error Authorize returns when a review
// would exceed Options.MaxInFlight or Options.MaxInFlightPerUser: a
// *status.Refusal, which the middleware answers with its 429 and
// Retry-After, as kube-apiserver's max-in-flight filter does.
var ErrTooManyInFlight = errors.New("too many authorization checks in flight")

// ErrReviewPanicked is wrapped by the error Authorize returns when the
// review client panicked: a *status.Refusal, which the middleware answers
// with its 500 Status, as
// kube-apiserver answers a request whose authorizer panicked; the other
// requests and the process are not affected.
var ErrReviewPanicked = errors.New("the authorization check failed unexpectedly")

// The refusals Authorize returns, with the Status the middleware answers.
var (
	errTooMany = &status.Refusal{Err: fmt.Errorf("authz: %w", ErrTooManyInFlight),
		Status: status.TooManyRequests("too many requests are waiting for their authorization check; retry later", 0)}
	errPanicked = &status.Refusal{Err: fmt.Errorf("authz: %w", ErrReviewPanicked),
		Status: apierrors.NewInternalError(errors.New("the authorization check for this request failed unexpectedly"))}
)

// flightOverhead is the weight of a review in flight beyond its key: the
// attributes' snapshot, the review and its answer.
const flightOverhead = 1 << 10

// await joins the review flight for key, or starts one for the user u, and
// waits for its result or for ctx to end, whichever comes first. A request that
// ends stops waiting at once; the flight goes on for the others, and is
// cancelled when the last of them has left.
func (a *Authorizer) await(ctx context.Context, key, user string, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	e, shared, err := a.flights.Do(ctx, key, user, int64(len(key))+flightOverhead, func(ctx context.Context) (*entry, error) {
		return a.review(ctx, key, attrs)
	})
	if shared {
		a.metrics.coalesced.Inc()
	}
	switch {
	case errors.Is(err, flight.ErrTooMany):
		a.metrics.refused.Inc()
		return authorizer.DecisionNoOpinion, "", errTooMany
	case errors.As(err, new(*flight.PanicError)):
		a.metrics.errors.Inc()
		return authorizer.DecisionNoOpinion, "", errPanicked
	case err != nil && ctx.Err() != nil:
		return authorizer.DecisionNoOpinion, "", fmt.Errorf("authz: request ended while waiting for its SubjectAccessReview: %w", err)
	case err != nil:
		return authorizer.DecisionNoOpinion, "", err
	}
	return decision(&e.status)
}

// review sends the SubjectAccessReview for attrs and caches its result. It runs
// once per flight, on the flight's context.
func (a *Authorizer) review(ctx context.Context, key string, attrs authorizer.Attributes) (*entry, error) {
	// A flight that ended between this request's cache miss and the start of this
	// flight has already answered.
	if e, ok := a.cache.get(key, a.opts.Clock.Now()); ok {
		return e, nil
	}
	u := attrs.GetUser()
	status, err := a.create(ctx, newSubjectAccessReview(u, attrs))
	now := a.opts.Clock.Now()
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil, err // abandoned by every waiter: nobody to tell
		}
		a.metrics.errors.Inc()
		if unreachable(ctx, err) {
			if e, ok := a.cache.getStale(key, now); ok && e.status.Allowed && !e.status.Denied {
				a.metrics.staleAllows.Inc()
				a.log.warn("authz: SubjectAccessReview failed; reusing an earlier allow (stale-if-error)", attrs, err)
				return e, nil
			}
		}
		a.log.error("authz: SubjectAccessReview failed", attrs, err)
		return nil, err
	}
	e := &entry{status: *status}
	a.store(key, e, attrs, now)
	return e, nil
}

// unreachable reports whether err, the outcome of a review on ctx, says
// kube-apiserver could not answer: no connection, a connection lost or timed
// out (the client's own per-request timeout) before the answer, or an answer of
// 429 or 5xx. It is false for everything decided locally: a wait for the
// client's rate limiter, the review's own deadline (which also bounds that
// wait: a review cut short by it says nothing of kube-apiserver), and
// cancellation. Only then may StaleIfError reuse an earlier allow.
func unreachable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return false
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		return code == 429 || code >= 500
	}
	var ue *url.Error // every failure of the HTTP round trip, and only those
	return errors.As(err, &ue)
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
	a.cache.Add(key, e)
}

// create sends sar, retrying retriable errors (see retry.ShouldRetry) with
// Options.RetryBackoff, as Kubernetes' webhook authorizer does, until ctx ends.
func (a *Authorizer) create(ctx context.Context, sar *authorizationv1.SubjectAccessReview) (*authorizationv1.SubjectAccessReviewStatus, error) {
	var res *authorizationv1.SubjectAccessReview
	err := retry.Do(ctx, a.opts.Clock, a.opts.RetryBackoff, func() (err error) {
		res, err = a.send(ctx, sar)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &res.Status, nil
}

// send makes one review request.
func (a *Authorizer) send(ctx context.Context, sar *authorizationv1.SubjectAccessReview) (*authorizationv1.SubjectAccessReview, error) {
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
