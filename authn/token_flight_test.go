package authn_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"github.com/aggauth/aggauth/authn"
)

// TestTokenCoalescing: 1,000 concurrent identical misses share exactly one
// review, whatever the scheduling: every request is known to wait before the
// review is let through.
func TestTokenCoalescing(t *testing.T) {
	const n = 1000
	rev := newMemReviewer(knownTokens)
	release := rev.hold(t)
	tok := newToken(t, rev, authn.TokenOptions{})
	var waiting sync.WaitGroup
	waiting.Add(n)
	authn.SetTokenOnWait(tok, waiting.Done)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, ok, err := tok.AuthenticateRequest(bearer(fmt.Sprintf("10.0.%d.%d:1234", i/256, i%256), "Bearer good-storm"))
			assert.NoError(t, err)
			assert.True(t, ok)
			if ok {
				assert.Equal(t, "alice", resp.User.GetName())
			}
		})
	}
	waiting.Wait()
	release()
	wg.Wait()
	assert.Equal(t, int64(1), rev.count.Load())
	assert.Equal(t, float64(n-1), gatherValue(t, tok.Collectors(), "aggauth_authn_token_coalesced_waits_total", ""))
	assert.Equal(t, float64(n), gatherValue(t, tok.Collectors(), "aggauth_authn_token_requests_total", "success"))
}

// TestTokenAbandonedReviewCancelled: a request that leaves stops waiting at
// once; the review goes on for the others and is cancelled when the last has
// left; the next request starts afresh.
func TestTokenAbandonedReviewCancelled(t *testing.T) {
	rev := newMemReviewer(knownTokens)
	release := rev.hold(t)
	tok := newToken(t, rev, authn.TokenOptions{})
	var waiting sync.WaitGroup
	authn.SetTokenOnWait(tok, waiting.Done)
	cancels := make([]context.CancelFunc, 3)
	var wg sync.WaitGroup
	for i := range cancels {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		waiting.Add(1)
		wg.Go(func() {
			_, ok, err := tok.AuthenticateRequest(bearer("", "Bearer good-x").WithContext(ctx))
			assert.False(t, ok)
			assert.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, authn.ReasonTokenReviewFailed, authn.FailureReason(err))
		})
	}
	waiting.Wait()
	require.Eventually(t, func() bool { return rev.count.Load() == 1 }, 10*time.Second, time.Millisecond)
	cancels[0]()
	cancels[1]()
	time.Sleep(20 * time.Millisecond)
	assert.Zero(t, rev.cancelled.Load(), "a waiter remains: the review goes on")
	cancels[2]()
	wg.Wait()
	require.Eventually(t, func() bool { return rev.cancelled.Load() == 1 && tok.InFlight() == 0 }, 10*time.Second, time.Millisecond)
	assert.Zero(t, gatherValue(t, tok.Collectors(), "aggauth_authn_token_review_errors_total", ""), "an abandoned review is no failure")

	authn.SetTokenOnWait(tok, nil)
	release()
	_, ok, err := tok.AuthenticateRequest(bearer("", "Bearer good-x"))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, int64(2), rev.count.Load())
}

// TestTokenMaxInFlight: beyond a client's bound a miss waits its turn in the
// client's queue (an IPv6 client is its /64); when the queues are full a
// newcomer takes the place of the newest miss of the longest queue; beyond
// that a miss fails at once with ErrTooManyInFlight. Joining a review in
// flight is always possible.
func TestTokenMaxInFlight(t *testing.T) {
	rev := newMemReviewer(knownTokens)
	release := rev.hold(t)
	tok := newToken(t, rev, authn.TokenOptions{MaxInFlight: 3, MaxInFlightPerClient: 2})
	authn.SetTokenMaxWaiting(tok, 3)
	var waiting sync.WaitGroup
	authn.SetTokenOnWait(tok, waiting.Done)
	var wg sync.WaitGroup
	start := func(addr, token string, want error) {
		waiting.Add(1)
		wg.Go(func() {
			_, ok, err := tok.AuthenticateRequest(bearer(addr, "Bearer "+token))
			if want != nil {
				assert.ErrorIs(t, err, want, token)
				return
			}
			assert.NoError(t, err)
			assert.True(t, ok)
		})
		waiting.Wait()
	}
	refused := func(addr, token, why string) {
		_, ok, err := tok.AuthenticateRequest(bearer(addr, "Bearer "+token))
		assert.False(t, ok)
		require.ErrorIs(t, err, authn.ErrTooManyInFlight, why)
		assert.Equal(t, authn.ReasonTokenTooManyInFlight, authn.FailureReason(err))
	}
	start("10.0.0.1:1", "good-1", nil)
	start("10.0.0.1:2", "good-2", nil)                      // another port: the same client
	start("10.0.0.1:3", "good-3", nil)                      // waits its turn
	start("10.0.0.1:4", "good-4", authn.ErrTooManyInFlight) // waits, then loses its place
	refused("10.0.0.1:5", "good-5", "10.0.0.1's queue holds 2")
	start("10.0.0.1:6", "good-1", nil) // joins
	start("[2001:db8::1]:5", "good-6", nil)
	start("[2001:db8::2]:5", "good-7", nil) // the same /64: waits
	start("10.0.0.2:1", "good-8", nil)      // takes good-4's place
	refused("10.0.0.3:1", "good-9", "no queue is longer than 10.0.0.3's would be")
	release()
	wg.Wait()
	assert.Equal(t, int64(6), rev.count.Load())
	assert.Equal(t, 3.0, gatherValue(t, tok.Collectors(), "aggauth_authn_token_requests_total", "too_many_in_flight"))
}

// TestTokenReviewPanic: a client that panics fails its review, as in
// Kubernetes' cached token authenticator, instead of crashing the server.
func TestTokenReviewPanic(t *testing.T) {
	rev := newMemReviewer(func(authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
		panic("client bug")
	})
	tok := newToken(t, rev, authn.TokenOptions{})
	_, ok, err := tok.AuthenticateRequest(bearer("", "Bearer good-1"))
	assert.False(t, ok)
	require.Error(t, err)
	assert.Equal(t, authn.ReasonTokenReviewFailed, authn.FailureReason(err))
}

// TestTokenFailureReasonInAUnion: a refusal for too many reviews decides the
// reason of a union's aggregate (and so the 429), whatever else failed.
func TestTokenFailureReasonInAUnion(t *testing.T) {
	busy := fmt.Errorf("authn: %w", authn.ErrTooManyInFlight)
	agg := utilerrors.NewAggregate([]error{errors.New("x509: unknown authority"), busy})
	assert.Equal(t, authn.ReasonTokenTooManyInFlight, authn.FailureReason(agg))
	assert.ErrorIs(t, agg, authn.ErrTooManyInFlight)
}
