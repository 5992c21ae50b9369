package authz_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/util/webhook"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/aggauth/aggauth/authz"
	"github.com/aggauth/aggauth/internal/fakekube"
	"github.com/aggauth/aggauth/internal/retry"
)

// authzBackoff is Kubernetes' backoff with the given number of attempts.
func authzBackoff(steps int) wait.Backoff {
	b := authz.DefaultRetryBackoff()
	b.Steps = steps
	return b
}

// failFirst answers the first n reviews with err, then allows.
func failFirst(n int64, err error) func(authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
	var seen atomic.Int64
	return func(spec authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
		if seen.Add(1) <= n {
			return authorizationv1.SubjectAccessReviewStatus{}, err
		}
		return allowAll(spec)
	}
}

// advanceRetries steps clk past each retry wait as soon as the authorizer waits
// on it, and records the waits; stop ends it and returns how many there were.
func advanceRetries(clk *testingclock.FakeClock) (stop func() int) {
	done, waits := make(chan struct{}), make(chan int, 1)
	go func() {
		n := 0
		for {
			select {
			case <-done:
				waits <- n
				return
			default:
			}
			if clk.HasWaiters() {
				clk.Step(3 * time.Second) // longer than any default backoff step
				n++
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	return func() int { close(done); return <-waits }
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		err       *apierrors.StatusError
		failures  int64
		steps     int
		wantSARs  int64
		wantWaits int
		wantAllow bool
	}{
		{name: "500 retried", err: statusError(http.StatusInternalServerError, false), failures: 2, wantSARs: 3, wantWaits: 2, wantAllow: true},
		{name: "504 retried", err: statusError(http.StatusGatewayTimeout, false), failures: 1, wantSARs: 2, wantWaits: 1, wantAllow: true},
		{name: "429 retried", err: statusError(http.StatusTooManyRequests, false), failures: 4, wantSARs: 5, wantWaits: 4, wantAllow: true},
		{name: "Retry-After retried", err: statusError(http.StatusServiceUnavailable, true), failures: 1, wantSARs: 2, wantWaits: 1, wantAllow: true},
		{name: "at most 5 attempts", err: statusError(http.StatusInternalServerError, false), failures: 5, wantSARs: 5, wantWaits: 4},
		{name: "configured attempts", err: statusError(http.StatusInternalServerError, false), failures: 5, steps: 2, wantSARs: 2, wantWaits: 1},
		{name: "403 not retried", err: statusError(http.StatusForbidden, false), failures: 1, wantSARs: 1},
		{name: "503 without Retry-After not retried", err: statusError(http.StatusServiceUnavailable, false), failures: 1, wantSARs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSARServer(t, failFirst(tt.failures, tt.err))
			clk := testingclock.NewFakeClock(epoch)
			opts := authz.Options{Clock: clk}
			if tt.steps > 0 {
				opts.RetryBackoff = authzBackoff(tt.steps)
			}
			a := newTestAuthorizer(t, srv, opts)
			stop := advanceRetries(clk)
			d, _, err := a.Authorize(context.Background(), podAttrs("ns", "p"))
			waits := stop()
			if tt.wantAllow {
				require.NoError(t, err)
				assert.Equal(t, authorizer.DecisionAllow, d)
			} else {
				require.Error(t, err)
				assert.Equal(t, authorizer.DecisionNoOpinion, d)
			}
			assert.Equal(t, tt.wantSARs, srv.SARCounts().Received)
			assert.Equal(t, tt.wantWaits, waits)
		})
	}
}

// TestRetriesStopAtTimeout checks that a review waiting to retry gives up when
// its Timeout ends, without waiting for the backoff.
func TestRetriesStopAtTimeout(t *testing.T) {
	srv := newSARServer(t, failFirst(100, statusError(http.StatusInternalServerError, false)))
	clk := testingclock.NewFakeClock(epoch) // never stepped: the retry wait never ends
	a := newTestAuthorizer(t, srv, authz.Options{Clock: clk, Timeout: time.Second})
	d, _, err := a.Authorize(context.Background(), podAttrs("ns", "p"))
	require.Error(t, err)
	assert.Equal(t, authorizer.DecisionNoOpinion, d)
	assert.Equal(t, int64(1), srv.SARCounts().Received, "no retry once the timeout ended the wait")
	assert.Contains(t, err.Error(), "test failure", "the last review error is reported")
}

// TestStaleIfError: an earlier allow answers only while kube-apiserver cannot
// be reached (no connection, 429, 5xx), within the grace period, and never for
// a failure decided locally.
func TestStaleIfError(t *testing.T) {
	answering := func(err error) func(*fakekube.Server) {
		return func(srv *fakekube.Server) {
			srv.SetAuthorize(func(authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
				return authorizationv1.SubjectAccessReviewStatus{}, err
			})
		}
	}
	allowed := authorizationv1.SubjectAccessReviewStatus{Allowed: true}
	tests := []struct {
		name      string
		stale     time.Duration
		status    authorizationv1.SubjectAccessReviewStatus
		fail      func(*fakekube.Server)
		after     time.Duration
		wantAllow bool
	}{
		{name: "off", after: 11 * time.Second, status: allowed, fail: answering(statusError(http.StatusServiceUnavailable, false))},
		{name: "503, within grace", stale: time.Minute, after: 59 * time.Second, status: allowed, fail: answering(statusError(http.StatusServiceUnavailable, false)), wantAllow: true},
		{name: "500, within grace", stale: time.Minute, after: 59 * time.Second, status: allowed, fail: answering(statusError(http.StatusInternalServerError, false)), wantAllow: true},
		{name: "429, within grace", stale: time.Minute, after: 59 * time.Second, status: allowed, fail: answering(statusError(http.StatusTooManyRequests, false)), wantAllow: true},
		{name: "no connection, within grace", stale: time.Minute, after: 59 * time.Second, status: allowed, fail: func(srv *fakekube.Server) { srv.Close() }, wantAllow: true},
		{name: "503, past grace", stale: time.Minute, after: time.Minute, status: allowed, fail: answering(statusError(http.StatusServiceUnavailable, false))},
		{name: "403 is an answer", stale: time.Minute, after: 11 * time.Second, status: allowed, fail: answering(statusError(http.StatusForbidden, false))},
		{name: "400 is an answer", stale: time.Minute, after: 11 * time.Second, status: allowed, fail: answering(statusError(http.StatusBadRequest, false))},
		{name: "denials are never reused", stale: time.Minute, after: 11 * time.Second, status: authorizationv1.SubjectAccessReviewStatus{Reason: "no"}, fail: answering(statusError(http.StatusServiceUnavailable, false))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSARServer(t, func(authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
				return tt.status, nil
			})
			clk := testingclock.NewFakeClock(epoch)
			a := newTestAuthorizer(t, srv, authz.Options{Clock: clk, StaleIfError: tt.stale, RetryBackoff: authzBackoff(1)})
			_, _, err := a.Authorize(context.Background(), podAttrs("ns", "p"))
			require.NoError(t, err)

			tt.fail(srv)
			clk.Step(tt.after)
			d, _, err := a.Authorize(context.Background(), podAttrs("ns", "p"))
			assert.Equal(t, uint64(2), a.ReviewsSent(), "a stale entry must not answer before kube-apiserver was asked")
			if tt.wantAllow {
				require.NoError(t, err)
				assert.Equal(t, authorizer.DecisionAllow, d)
				assert.Equal(t, 1.0, metricValue(t, a, "aggauth_authz_stale_allows_total"))
			} else {
				require.Error(t, err)
				assert.Equal(t, authorizer.DecisionNoOpinion, d)
				assert.Equal(t, 0.0, metricValue(t, a, "aggauth_authz_stale_allows_total"))
			}
		})
	}
}

// TestStaleIfErrorNotForLocalFailures: waiting for the client's rate limiter
// past the review's deadline never brings an earlier allow back. (A request
// refused for too many reviews in flight never reaches a review at all.)
func TestStaleIfErrorNotForLocalFailures(t *testing.T) {
	srv := newSARServer(t, allowAll)
	clk := testingclock.NewFakeClock(epoch)
	client, err := authz.NewReviewClient(restConfig(srv), authz.ReviewClientOptions{QPS: 0.001, Burst: 1})
	require.NoError(t, err)
	a, err := authz.New(authz.Options{Client: client, Clock: clk, StaleIfError: time.Hour, Timeout: time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	_, _, err = a.Authorize(context.Background(), podAttrs("ns", "p")) // spends the only token
	require.NoError(t, err)
	clk.Step(11 * time.Second)

	d, _, err := a.Authorize(context.Background(), podAttrs("ns", "p"))
	require.Error(t, err, "the rate limiter cannot give a token before the deadline")
	assert.Equal(t, authorizer.DecisionNoOpinion, d)
	assert.Equal(t, int64(1), srv.SARCounts().Received, "the second review never left")
	assert.Equal(t, 0.0, metricValue(t, a, "aggauth_authz_stale_allows_total"))
}

// TestShouldRetryMatchesKubernetes: the retry predicate the authorizer (and
// the TokenReview authenticator) use is Kubernetes' webhook.DefaultShouldRetry
// on the errors a review can end with.
func TestShouldRetryMatchesKubernetes(t *testing.T) {
	errs := []error{
		nil,
		errors.New("plain"),
		syscall.ECONNRESET,
		&url.Error{Op: "Post", URL: "https://x", Err: syscall.ECONNRESET},
		&url.Error{Op: "Post", URL: "https://x", Err: syscall.ECONNREFUSED},
		errors.New("http2: client connection lost"),
		fmt.Errorf("wrapped: %w", errors.New("http2: client connection lost")),
		context.Canceled,
		context.DeadlineExceeded,
	}
	for _, code := range []int32{400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504} {
		errs = append(errs, statusError(code, false), statusError(code, true), fmt.Errorf("authz: SubjectAccessReview: %w", statusError(code, true)))
	}
	errs = append(errs, apierrors.NewServerTimeout(schema.GroupResource{Resource: "subjectaccessreviews"}, "create", 1),
		apierrors.NewTimeoutError("slow", 2), apierrors.NewTooManyRequests("busy", 0), apierrors.NewInternalError(errors.New("x")))
	for i, err := range errs {
		assert.Equal(t, webhook.DefaultShouldRetry(err), retry.ShouldRetry(err), "#%d: %v", i, err)
	}
}

// TestStaleIfErrorNotWhenTheReviewTimesOut: a review cut short by its own
// Timeout (which also bounds the wait for the client's rate limiter) says
// nothing of kube-apiserver, which may be up and about to deny: no stale
// allow. The hostile suite found a flood bringing a revoked allow back this
// way.
func TestStaleIfErrorNotWhenTheReviewTimesOut(t *testing.T) {
	srv := newSARServer(t, allowAll)
	a := newTestAuthorizer(t, srv, authz.Options{StaleIfError: time.Hour, AllowTTL: time.Millisecond,
		Timeout: 200 * time.Millisecond, RetryBackoff: authzBackoff(1)})
	_, _, err := a.Authorize(context.Background(), podAttrs("ns", "p"))
	require.NoError(t, err)
	time.Sleep(2 * time.Millisecond)
	srv.Hold() // kube-apiserver is up but answers after the review's Timeout
	d, _, err := a.Authorize(context.Background(), podAttrs("ns", "p"))
	require.Error(t, err)
	assert.Equal(t, authorizer.DecisionNoOpinion, d)
	assert.Equal(t, 0.0, metricValue(t, a, "aggauth_authz_stale_allows_total"))
}
