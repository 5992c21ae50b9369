package fair

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"k8s.io/client-go/util/flowcontrol"
)

// tokens is a token bucket whose tokens the test hands out one by one.
type tokens struct {
	flowcontrol.RateLimiter
	ch chan struct{}
}

func (b *tokens) Wait(ctx context.Context) error {
	select {
	case <-b.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newTestLimiter() (*Limiter, chan struct{}) {
	ch := make(chan struct{})
	return &Limiter{bucket: &tokens{ch: ch}, queues: map[string][]*waiter{}}, ch
}

// waiters returns the number of callers queued.
func (l *Limiter) waiters() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, q := range l.queues {
		n += len(q)
	}
	return n
}

func TestTokensGoToThePartiesInTurn(t *testing.T) {
	defer goleak.VerifyNone(t)
	l, tokens := newTestLimiter()
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	wait := func(owner string, n int) {
		for range n {
			wg.Go(func() {
				require.NoError(t, l.Wait(WithOwner(context.Background(), owner)))
				mu.Lock()
				order = append(order, owner)
				mu.Unlock()
			})
		}
	}
	wait("mallory", 1) // takes the turn
	require.Eventually(t, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.busy }, time.Second, time.Millisecond)
	wait("mallory", 5)
	require.Eventually(t, func() bool { return l.waiters() == 5 }, time.Second, time.Millisecond)
	wait("alice", 1)
	require.Eventually(t, func() bool { return l.waiters() == 6 }, time.Second, time.Millisecond)
	wait("bob", 1)
	require.Eventually(t, func() bool { return l.waiters() == 7 }, time.Second, time.Millisecond)
	for i := range 8 {
		tokens <- struct{}{}
		require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == i+1 }, time.Second, time.Millisecond)
	}
	wg.Wait()
	assert.Equal(t, []string{"mallory", "mallory", "alice", "bob", "mallory", "mallory", "mallory", "mallory"}, order,
		"after the caller holding the turn, one token for each party in turn")
}

func TestACallerLeavingPassesItsTurnOn(t *testing.T) {
	defer goleak.VerifyNone(t)
	l, tokens := newTestLimiter()
	holder, cancelHolder := context.WithCancel(context.Background())
	queued, cancelQueued := context.WithCancel(context.Background())
	errs := make(chan error, 3)
	go func() { errs <- l.Wait(WithOwner(holder, "a")) }()
	require.Eventually(t, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.busy }, time.Second, time.Millisecond)
	go func() { errs <- l.Wait(WithOwner(queued, "b")) }()
	go func() { errs <- l.Wait(WithOwner(context.Background(), "c")) }()
	require.Eventually(t, func() bool { return l.waiters() == 2 }, time.Second, time.Millisecond)

	cancelQueued()
	assert.ErrorIs(t, <-errs, context.Canceled)
	assert.Equal(t, 1, l.waiters())
	cancelHolder()
	assert.ErrorIs(t, <-errs, context.Canceled)
	tokens <- struct{}{}
	assert.NoError(t, <-errs, "c got the turn and the token")
	l.mu.Lock()
	defer l.mu.Unlock()
	assert.False(t, l.busy)
	assert.Empty(t, l.ring)
}

// TestNewcomerWaitsOneRoundNotTheFlood measures the point of the package with
// a real token bucket: 300 callers of one party wait for tokens at 100 a
// second; a caller of another party gets one within a few tokens, where
// client-go's bucket alone makes it wait behind all 300 (3 s).
func TestNewcomerWaitsOneRoundNotTheFlood(t *testing.T) {
	defer goleak.VerifyNone(t)
	l := NewLimiter(100, 1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 300 {
		wg.Go(func() { _ = l.Wait(WithOwner(ctx, "mallory")) })
	}
	require.Eventually(t, func() bool { return l.waiters() >= 290 }, 5*time.Second, time.Millisecond)
	start := time.Now()
	require.NoError(t, l.Wait(WithOwner(context.Background(), "alice")))
	took := time.Since(start)
	cancel()
	wg.Wait()
	assert.Less(t, took, 200*time.Millisecond, "got %v; a FIFO bucket would take about 3 s", took)
}
