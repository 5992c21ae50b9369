package flight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func newGroup() *Group[string, int] {
	return &Group[string, int]{Max: 10, MaxPerOwner: 4, Timeout: time.Minute}
}

func TestConcurrentCallersShareOneCall(t *testing.T) {
	defer goleak.VerifyNone(t)
	g := newGroup()
	var waiting sync.WaitGroup
	waiting.Add(100)
	g.OnWait = waiting.Done
	release := make(chan struct{})
	var calls atomic.Int32
	fn := func(context.Context) (int, error) {
		calls.Add(1)
		<-release
		return 42, nil
	}
	var wg sync.WaitGroup
	var shared atomic.Int32
	for range 100 {
		wg.Go(func() {
			v, s, err := g.Do(context.Background(), "k", "alice", 1, fn)
			assert.NoError(t, err)
			assert.Equal(t, 42, v)
			if s {
				shared.Add(1)
			}
		})
	}
	waiting.Wait() // every caller has joined before the call may end
	close(release)
	wg.Wait()
	assert.Equal(t, int32(1), calls.Load())
	assert.Equal(t, int32(99), shared.Load())
	assert.Equal(t, 0, g.Running())
}

func TestLastWaiterLeavingCancelsTheCall(t *testing.T) {
	defer goleak.VerifyNone(t)
	g := newGroup()
	var waiting sync.WaitGroup
	waiting.Add(2)
	g.OnWait = waiting.Done
	cancelled := make(chan error, 1)
	fn := func(ctx context.Context) (int, error) {
		<-ctx.Done()
		cancelled <- ctx.Err()
		return 0, ctx.Err()
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { _, _, err := g.Do(ctx1, "k", "a", 1, fn); errs <- err }()
	go func() { _, _, err := g.Do(ctx2, "k", "b", 1, fn); errs <- err }()
	waiting.Wait()

	cancel1()
	require.ErrorIs(t, <-errs, context.Canceled)
	select {
	case <-cancelled:
		t.Fatal("the call was cancelled while a waiter remained")
	case <-time.After(50 * time.Millisecond):
	}
	cancel2()
	require.ErrorIs(t, <-errs, context.Canceled)
	select {
	case err := <-cancelled:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("the call went on after its last waiter left")
	}
	require.Eventually(t, func() bool { return g.Running() == 0 }, 5*time.Second, time.Millisecond)
}

func TestAKeyAbandonedStartsAfresh(t *testing.T) {
	defer goleak.VerifyNone(t)
	g := newGroup()
	started := make(chan struct{}, 2)
	var n atomic.Int32
	fn := func(ctx context.Context) (int, error) {
		started <- struct{}{}
		if n.Add(1) == 1 {
			<-ctx.Done() // the first call is abandoned
			time.Sleep(20 * time.Millisecond)
			return 0, ctx.Err()
		}
		return 7, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _, _, _ = g.Do(ctx, "k", "a", 1, fn) }()
	<-started
	cancel()
	<-done
	// The first call may still be returning: a new request must not join it.
	v, shared, err := g.Do(context.Background(), "k", "a", 1, fn)
	require.NoError(t, err)
	assert.Equal(t, 7, v)
	assert.False(t, shared)
	require.Eventually(t, func() bool { return g.Running() == 0 }, 5*time.Second, time.Millisecond)
}

func TestTimeoutBoundsTheCall(t *testing.T) {
	defer goleak.VerifyNone(t)
	g := newGroup()
	g.Timeout = 20 * time.Millisecond
	_, _, err := g.Do(context.Background(), "k", "a", 1, func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
}

func TestCallKeepsRequestValues(t *testing.T) {
	type key struct{}
	g := newGroup()
	ctx := context.WithValue(context.Background(), key{}, "v")
	_, _, err := g.Do(ctx, "k", "a", 1, func(ctx context.Context) (int, error) {
		assert.Equal(t, "v", ctx.Value(key{}))
		return 0, nil
	})
	require.NoError(t, err)
}
