// Package flight runs calls to kube-apiserver (a SubjectAccessReview, a
// TokenReview, a namespace lookup) once for all the requests that need the same
// answer at the same time, within hard bounds:
//
//   - a call runs on a context of its own, detached from the request that
//     started it and bounded by a timeout, so that one request ending does not
//     fail the others waiting for the same answer;
//   - when its last waiter leaves, the call is cancelled (a call that already
//     has its answer finishes storing it; cancelling then changes nothing) and
//     forgotten, so the next request for the key starts afresh;
//   - at most Max calls run at once, and at most MaxPerOwner for one owner (the
//     user a call is made for): beyond, Do fails at once with ErrTooMany instead
//     of queueing, so that neither abandoned nor flooding requests can pile up
//     goroutines or spend the client's budget on answers nobody waits for.
package flight

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrTooMany is returned by Do when a new call would exceed Max or MaxPerOwner.
var ErrTooMany = errors.New("too many calls in flight")

// Group runs calls keyed by K. The zero value is not usable: set Max and
// MaxPerOwner (both positive) and Timeout before the first Do. A Group is safe
// for concurrent use.
type Group[K comparable, V any] struct {
	// Max bounds the calls running at once (cancelled ones included, until
	// they return).
	Max int
	// MaxPerOwner bounds the calls running at once for one owner.
	MaxPerOwner int
	// Timeout bounds each call.
	Timeout time.Duration
	// OnWait, when set, is called by every Do that joined or started a call,
	// just before it waits: a hook for tests to know a request is waiting.
	OnWait func()

	mu      sync.Mutex // guards the fields below
	calls   map[K]*call[V]
	running int
	owners  map[string]int
}

// call is one call in flight. done is closed once val and err are set.
type call[V any] struct {
	done    chan struct{}
	val     V
	err     error
	waiters int // guarded by Group.mu
	cancel  context.CancelFunc
}

// Do returns the result of fn for key, from the call in flight for key if
// there is one, else from a new call started for owner. fn runs in a goroutine
// of its own with a context that keeps ctx's values, ends after Timeout, and is
// cancelled when every caller waiting for it has left. shared reports whether
// this caller joined a call another caller started. When ctx ends first, Do
// returns ctx's cause at once.
func (g *Group[K, V]) Do(ctx context.Context, key K, owner string, fn func(context.Context) (V, error)) (v V, shared bool, err error) {
	g.mu.Lock()
	c, shared := g.calls[key]
	if shared {
		c.waiters++
	} else {
		if g.running >= g.Max || g.owners[owner] >= g.MaxPerOwner {
			g.mu.Unlock()
			return v, false, ErrTooMany
		}
		c = g.start(ctx, key, owner, fn)
	}
	g.mu.Unlock()
	if g.OnWait != nil {
		g.OnWait()
	}
	select {
	case <-c.done:
		return c.val, shared, c.err
	case <-ctx.Done():
		g.leave(key, c)
		return v, shared, context.Cause(ctx)
	}
}

// start begins a call; g.mu is held.
func (g *Group[K, V]) start(ctx context.Context, key K, owner string, fn func(context.Context) (V, error)) *call[V] {
	if g.calls == nil {
		g.calls, g.owners = make(map[K]*call[V]), make(map[string]int)
	}
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.Timeout)
	c := &call[V]{done: make(chan struct{}), waiters: 1, cancel: cancel}
	g.calls[key] = c
	g.running++
	g.owners[owner]++
	go func() {
		defer cancel()
		c.val, c.err = fn(callCtx)
		g.mu.Lock()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
		g.running--
		if g.owners[owner]--; g.owners[owner] == 0 {
			delete(g.owners, owner)
		}
		g.mu.Unlock()
		close(c.done)
	}()
	return c
}

// leave records that a waiter of c gave up; the last one cancels c and makes
// the key free for a new call.
func (g *Group[K, V]) leave(key K, c *call[V]) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.waiters--; c.waiters > 0 {
		return
	}
	if g.calls[key] == c {
		delete(g.calls, key)
	}
	c.cancel()
}

// Running returns the number of calls running (cancelled ones included).
func (g *Group[K, V]) Running() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running
}
