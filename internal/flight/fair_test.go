package flight

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/aggauth/aggauth/internal/fair"
)

// harness drives a Group whose calls block until released, one channel per
// key, and records the order in which calls start.
type harness struct {
	t *testing.T
	g *Group[string, int]

	mu      sync.Mutex
	release map[string]chan struct{}
	started []string
	wg      sync.WaitGroup // callers not yet returned
	errs    sync.Map       // key → error of its first caller
}

func newHarness(t *testing.T, max, perOwner int) *harness {
	h := &harness{t: t, release: map[string]chan struct{}{}}
	h.g = &Group[string, int]{Max: max, MaxPerOwner: perOwner, Timeout: time.Minute}
	t.Cleanup(func() {
		h.mu.Lock()
		for _, ch := range h.release {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
		h.mu.Unlock()
		h.wg.Wait()
	})
	return h
}

func (h *harness) fn(key string) func(context.Context) (int, error) {
	h.mu.Lock()
	ch := make(chan struct{})
	h.release[key] = ch
	h.mu.Unlock()
	return func(ctx context.Context) (int, error) {
		h.mu.Lock()
		h.started = append(h.started, key)
		h.mu.Unlock()
		select {
		case <-ch:
			return 1, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// do makes a call for key and owner and returns once it is running or
// waiting (or refused).
func (h *harness) do(ctx context.Context, key, owner string, weight int64) {
	h.wg.Go(func() {
		_, _, err := h.g.Do(ctx, key, owner, weight, h.fn(key))
		h.errs.Store(key, err)
	})
	require.Eventually(h.t, func() bool {
		if _, done := h.errs.Load(key); done {
			return true
		}
		h.g.mu.Lock()
		defer h.g.mu.Unlock()
		_, ok := h.g.calls[key]
		return ok
	}, 5*time.Second, time.Millisecond)
}

// end releases key's call and waits until the group has started what comes
// next.
func (h *harness) end(key string) {
	h.mu.Lock()
	close(h.release[key])
	h.mu.Unlock()
	h.settle()
}

func (h *harness) settle() {
	time.Sleep(20 * time.Millisecond)
}

// startedOrder returns the calls started so far, in order, once at least n
// have (or after 5 s).
func (h *harness) startedOrder(n int) []string {
	h.t.Helper()
	var out []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.mu.Lock()
		out = append(out[:0], h.started...)
		h.mu.Unlock()
		if len(out) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	h.settle() // and no more than expected start
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.started...)
}

func (h *harness) err(key string) error {
	h.settle()
	v, ok := h.errs.Load(key)
	if !ok {
		return nil
	}
	err, _ := v.(error)
	return err
}

func TestBeyondPerOwnerBoundACallWaitsItsTurn(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	h := newHarness(t, 10, 2)
	for i := range 4 {
		h.do(context.Background(), fmt.Sprint("a", i), "alice", 1)
	}
	assert.Equal(t, 2, h.g.Running())
	assert.Equal(t, 2, h.g.Waiting(), "beyond MaxPerOwner, calls wait instead of being refused")
	h.do(context.Background(), "a-refused", "alice", 1)
	assert.ErrorIs(t, h.err("a-refused"), ErrTooMany, "an owner's queue holds at most MaxPerOwner calls")

	h.end("a0")
	order := h.startedOrder(3)
	assert.ElementsMatch(t, []string{"a0", "a1"}, order[:2], "the first two, started together")
	assert.Equal(t, []string{"a2"}, order[2:], "then the owner's calls in their order")
	assert.NoError(t, h.err("a0"))
}

func TestTheOwnerWithFewestRunningStartsNext(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	h := newHarness(t, 4, 4)
	for i := range 7 {
		h.do(context.Background(), fmt.Sprint("m", i), "mallory", 1)
	}
	h.do(context.Background(), "alice", "alice", 1)
	require.Equal(t, 4, h.g.Running())
	require.Equal(t, 4, h.g.Waiting())
	assert.Equal(t, 16, h.g.maxWaiting(), "by default 4 × Max calls may wait")

	h.end("m0")
	order := h.startedOrder(5)
	assert.ElementsMatch(t, []string{"m0", "m1", "m2", "m3"}, order[:4], "the first four, started together")
	assert.Equal(t, []string{"alice"}, order[4:], "alice has no call running: hers starts before mallory's older ones")
	h.end("m1")
	assert.Equal(t, "m4", h.startedOrder(6)[5], "then mallory's turn again")
}

func TestFullQueuesDropFromTheLongest(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	h := newHarness(t, 4, 4)
	h.g.MaxWaiting = 4
	for i := range 8 { // 4 running, 4 waiting: the queues are full
		h.do(context.Background(), fmt.Sprint("m", i), "mallory", 1)
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		h.do(context.Background(), u, u, 1)
		assert.NoError(t, h.err(u), "%s takes the place of mallory's newest call", u)
	}
	for _, k := range []string{"m7", "m6", "m5"} {
		assert.ErrorIs(t, h.err(k), ErrTooMany, "%s was dropped", k)
	}
	assert.NoError(t, h.err("m4"))
	assert.Equal(t, 4, h.g.Waiting())

	h.do(context.Background(), "dave", "dave", 1)
	assert.ErrorIs(t, h.err("dave"), ErrTooMany, "no queue is longer than dave's would be: dave is refused")
	assert.NoError(t, h.err("m4"), "m4 keeps its place")
}

func TestACallWaitsAtMostMaxWait(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	h := newHarness(t, 1, 1)
	h.g.MaxWait = 30 * time.Millisecond
	h.do(context.Background(), "first", "alice", 1)
	start := time.Now()
	_, _, err := h.g.Do(context.Background(), "second", "bob", 1, h.fn("second"))
	assert.ErrorIs(t, err, ErrTooMany)
	assert.Less(t, time.Since(start), time.Second)
	assert.Equal(t, 0, h.g.Waiting())
}

func TestBytesBound(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	h := newHarness(t, 10, 10)
	h.g.MaxBytes = 100
	h.do(context.Background(), "a", "alice", 40)
	h.do(context.Background(), "b", "bob", 40)
	h.do(context.Background(), "c", "carol", 40)
	running, waiting := h.g.Bytes()
	assert.Equal(t, int64(80), running, "a third call of 40 would exceed 100 bytes running")
	assert.Equal(t, int64(40), waiting)
	h.do(context.Background(), "huge", "dave", 101)
	assert.ErrorIs(t, h.err("huge"), ErrTooMany, "a call heavier than MaxBytes can never run")
	h.do(context.Background(), "d", "dave", 40)
	h.do(context.Background(), "e", "erin", 40)
	assert.ErrorIs(t, h.err("e"), ErrTooMany, "the waiting calls may hold 100 bytes at most")

	h.end("a")
	assert.Equal(t, []string{"a", "b", "c"}, h.startedOrder(3))
	running, waiting = h.g.Bytes()
	assert.Equal(t, int64(80), running)
	assert.Equal(t, int64(40), waiting)
}

func TestPanicFailsOnlyItsWaiters(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var panics []any
	var mu sync.Mutex
	g := &Group[string, int]{Max: 10, MaxPerOwner: 10, Timeout: time.Minute,
		OnPanic: func(v any) { mu.Lock(); panics = append(panics, v); mu.Unlock() }}
	_, _, err := g.Do(context.Background(), "k", "a", 1, func(context.Context) (int, error) { panic("transport exploded") })
	var pe *PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "transport exploded", pe.Value)
	assert.NotContains(t, err.Error(), "exploded", "the error text holds nothing of the panic")
	assert.Equal(t, []any{"transport exploded"}, panics)
	v, _, err := g.Do(context.Background(), "k", "a", 1, func(context.Context) (int, error) { return 7, nil })
	require.NoError(t, err, "the next call runs")
	assert.Equal(t, 7, v)
	assert.Equal(t, 0, g.Running())
}

func TestLeavingAWaitingCallForgetsIt(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	h := newHarness(t, 1, 1)
	h.do(context.Background(), "first", "alice", 1)
	ctx, cancel := context.WithCancel(context.Background())
	h.do(ctx, "second", "bob", 1)
	require.Equal(t, 1, h.g.Waiting())
	cancel()
	assert.ErrorIs(t, h.err("second"), context.Canceled)
	assert.Equal(t, 0, h.g.Waiting())
	h.end("first")
	assert.Equal(t, []string{"first"}, h.startedOrder(1), "the abandoned call never starts")
}

func TestCallNamesItsOwner(t *testing.T) {
	g := &Group[string, string]{Max: 1, MaxPerOwner: 1, Timeout: time.Minute}
	v, _, err := g.Do(context.Background(), "k", "alice", 1, func(ctx context.Context) (string, error) {
		return fair.OwnerFrom(ctx), nil
	})
	require.NoError(t, err)
	assert.Equal(t, "alice", v)
}
