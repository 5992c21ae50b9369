package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"

	"github.com/aggauth/aggauth/internal/flight"
	"github.com/aggauth/aggauth/internal/logs"
	"github.com/aggauth/aggauth/internal/retry"
	"github.com/aggauth/aggauth/status"
)

// tokenInvalidError is a token kube-apiserver looked at and did not
// authenticate: Kubernetes' bearertoken error "invalid bearer token", or the
// error text of the review's status.
type tokenInvalidError struct{ msg string }

func (e *tokenInvalidError) Error() string { return e.msg }

// errInvalidToken is the answer for a token that is not authenticated, or not
// for the audiences, without an error of its own.
var errInvalidToken error = &tokenInvalidError{msg: "invalid bearer token"}

// tokenReviewError is a TokenReview that could not be completed.
type tokenReviewError struct {
	msg string
	err error // nil when the cause's text held the token and was redacted
}

func (e *tokenReviewError) Error() string {
	if e.err == nil {
		return e.msg
	}
	return e.msg + ": " + e.err.Error()
}

func (e *tokenReviewError) Unwrap() error { return e.err }

// reviewFailed wraps err, a failure of the review of token, with msg; if
// err's text holds the token (a proxy echoing the request, say), the text is
// kept with the token redacted and err itself is dropped.
func reviewFailed(msg string, err error, token string) error {
	if text := err.Error(); strings.Contains(text, token) {
		return &tokenReviewError{msg: msg + ": " + strings.ReplaceAll(text, token, "[token]")}
	}
	return &tokenReviewError{msg: msg, err: err}
}

// errTooMany is the refusal of a token whose review cannot start: the
// middleware answers its 429.
var errTooMany = &status.Refusal{Err: fmt.Errorf("authn: %w", ErrTooManyInFlight),
	Status: status.TooManyRequests("too many requests are waiting for their token review; retry later", 0)}

// tokenFlightOverhead is the weight of a review in flight beyond its token:
// the review, its answer and the flight's own state.
const tokenFlightOverhead = 1 << 10

// await joins the review flight for key, or starts one for client, and waits
// for its answer or for ctx to end, whichever comes first. A request that
// ends stops waiting at once; the review goes on for the others and is
// cancelled when the last of them has left.
func (t *Token) await(ctx context.Context, key tokenKey, client, token string, auds authenticator.Audiences, check bool) (*tokenEntry, error) {
	e, shared, err := t.flights.Do(ctx, key, client, int64(len(token))+tokenFlightOverhead, func(ctx context.Context) (*tokenEntry, error) {
		return t.review(ctx, key, token, auds, check)
	})
	if shared {
		t.metrics.coalesced.Inc()
	}
	switch {
	case errors.Is(err, flight.ErrTooMany):
		t.metrics.refused.Inc()
		return nil, errTooMany
	case errors.As(err, new(*flight.PanicError)):
		t.metrics.failed.Inc()
		return nil, errReviewPanicked
	case err != nil && ctx.Err() != nil:
		t.metrics.failed.Inc()
		return nil, reviewFailed("authn: request ended while waiting for its TokenReview", err, token)
	case err != nil:
		t.metrics.failed.Inc()
		return nil, err
	}
	return e, nil
}

// errReviewPanicked answers the waiters of a review whose client panicked.
var errReviewPanicked = &tokenReviewError{msg: "authn: TokenReview failed unexpectedly"}

// review sends the TokenReview and caches its answer. It runs once per
// flight, on the flight's context, in a goroutine of its own: like
// Kubernetes' cached token authenticator, it turns a panic of the client into
// an error instead of a crash of the server.
func (t *Token) review(ctx context.Context, key tokenKey, token string, auds authenticator.Audiences, check bool) (_ *tokenEntry, err error) {
	defer func() {
		if r := recover(); r != nil {
			t.metrics.reviewErrors.Inc()
			t.log.Log(slog.LevelError, "authn: TokenReview client panicked", "panic", logs.Cut(strings.ReplaceAll(fmt.Sprint(r), token, "[token]"), logs.MaxQuotedError))
			err = errReviewPanicked
		}
	}()
	// A flight that ended between this request's miss and the start of this
	// one has already answered.
	if e, ok := t.cache.get(key, t.opts.Clock.Now()); ok {
		return e, nil
	}
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: auds}}
	var res *authenticationv1.TokenReview
	err = retry.Do(ctx, t.opts.Clock, t.opts.RetryBackoff, func() (err error) {
		res, err = t.send(ctx, tr)
		return err
	})
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil, err // abandoned by every waiter: nobody to tell
		}
		t.metrics.reviewErrors.Inc()
		err = reviewFailed("authn: TokenReview failed", err, token)
		t.log.Log(slog.LevelError, "authn: TokenReview failed", "err", logs.Cut(err.Error(), logs.MaxQuotedError))
		return nil, err
	}
	e := t.entry(&res.Status, auds, check, token)
	t.store(key, e, token, t.opts.Clock.Now())
	return e, nil
}

// send makes one review request.
func (t *Token) send(ctx context.Context, tr *authenticationv1.TokenReview) (*authenticationv1.TokenReview, error) {
	t.reviewsSent.Add(1)
	start := t.opts.Clock.Now()
	res, err := t.client.Create(ctx, tr, metav1.CreateOptions{})
	t.metrics.latency.Observe(t.opts.Clock.Since(start).Seconds())
	if err == nil && res == nil {
		err = errors.New("empty TokenReview response")
	}
	return res, err
}

// entry is Kubernetes' webhook token authenticator's reading of a review's
// status, in its order: the audience check first (the answer's audiences, or
// the implicit ones when it names none, must share one with those asked for),
// then authenticated, then the user.
func (t *Token) entry(st *authenticationv1.TokenReviewStatus, auds authenticator.Audiences, check bool, token string) *tokenEntry {
	var shared authenticator.Audiences
	if check {
		got := authenticator.Audiences(t.opts.Audiences)
		if len(st.Audiences) > 0 {
			got = st.Audiences
		}
		if shared = auds.Intersect(got); len(shared) == 0 {
			return &tokenEntry{err: errInvalidToken, cacheable: true}
		}
	}
	if !st.Authenticated {
		if st.Error != "" { // an error: Kubernetes does not cache it
			return &tokenEntry{err: &tokenInvalidError{msg: strings.ReplaceAll(st.Error, token, "[token]")}}
		}
		return &tokenEntry{err: errInvalidToken, cacheable: true}
	}
	u := st.User
	var extra map[string][]string
	if u.Extra != nil {
		extra = make(map[string][]string, len(u.Extra))
		for k, v := range u.Extra {
			extra[k] = v
		}
	}
	e := &tokenEntry{
		name: u.Username, uid: u.UID, groups: u.Groups, authGroups: withAuthenticated(u.Username, slices.Clip(u.Groups)),
		extra: extra, auds: shared, cacheable: true,
	}
	e.plain, e.withAuthenticated = e.newResponse(false), e.newResponse(true)
	return e
}

// store caches e, answered at now: a success for CacheTTL, but never past the
// token's expiry when it is a JWT; a failure for FailureTTL.
func (t *Token) store(key tokenKey, e *tokenEntry, token string, now time.Time) {
	ttl := t.opts.FailureTTL
	if e.err == nil {
		ttl = t.opts.CacheTTL
		if exp, ok := jwtExpiry(token); ok && exp.Sub(now) < ttl {
			ttl = exp.Sub(now)
		}
	}
	if !e.cacheable || ttl <= 0 {
		return
	}
	e.expires = now.Add(ttl)
	t.cache.add(key, e)
}
