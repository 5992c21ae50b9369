// Package flight runs calls to kube-apiserver (a SubjectAccessReview, a
// TokenReview, a namespace lookup) once for all the requests that need the same
// answer at the same time, within hard bounds, shared fairly between owners
// (the user, or the client address, a call is made for):
//
//   - a call runs on a context of its own, detached from the request that
//     started it and bounded by a timeout, so that one request ending does not
//     fail the others waiting for the same answer; the context names the owner
//     (fair.OwnerFrom), so that a fair.Limiter serves the owners in turn;
//   - when its last waiter leaves, the call is cancelled (a call that already
//     has its answer finishes storing it; cancelling then changes nothing) and
//     forgotten, so the next request for the key starts afresh;
//   - at most Max calls run at once, at most MaxPerOwner for one owner, and
//     their weights (the bytes they hold) add up to at most MaxBytes;
//   - a call that cannot start at once waits in its owner's queue, for at most
//     MaxWait: a waiting call holds no goroutine of its own (only its
//     callers wait). When a running call ends, the next call to start is the
//     head of the queue of the owner with the fewest calls running, so a
//     newcomer starts before an owner that already has many calls running,
//     however long that owner's queue;
//   - the queues hold at most MaxWaiting calls (4 × Max by default: a caller
//     that waits costs nothing, a caller refused may come back at once) and
//     MaxBytes of weight together, and at most MaxPerOwner calls for one
//     owner. When they are full, a newcomer
//     takes the place of the newest call of the owner with the longest queue,
//     if that queue is longer than the newcomer's owner's would be; else it is
//     refused. Refusals are ErrTooMany, at once: nothing queues without bound;
//   - a call whose function panics fails with a *PanicError for its waiters
//     only; OnPanic is told, and the process keeps serving.
package flight

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/aggauth/aggauth/internal/fair"
)

// ErrTooMany is returned by Do when a call can neither start nor wait, or
// waited MaxWait without starting.
var ErrTooMany = errors.New("too many calls in flight")

// PanicError is the error of a call whose function panicked. Its text says
// nothing of the panic, which may hold what a client sent.
type PanicError struct{ Value any }

func (e *PanicError) Error() string { return "the call failed unexpectedly" }

// errGoexit is the error of a call whose function ended its goroutine
// (runtime.Goexit) instead of returning.
var errGoexit = errors.New("the call ended without an answer")

// DefaultMaxWait is MaxWait's default: how long a call waits to start.
const DefaultMaxWait = 5 * time.Second

// Group runs calls keyed by K. The zero value is not usable: set Max and
// MaxPerOwner (both positive) and Timeout before the first Do. A Group is safe
// for concurrent use.
type Group[K comparable, V any] struct {
	// Max bounds the calls running at once (cancelled ones included, until
	// they return).
	Max int
	// MaxWaiting bounds the calls waiting to start. Default 4 × Max.
	MaxWaiting int
	// MaxPerOwner bounds the calls running at once for one owner, and its
	// calls waiting to start.
	MaxPerOwner int
	// MaxBytes bounds the weights of the calls running, and of the calls
	// waiting to start. 0: no bound (for calls whose weight is bounded by
	// construction).
	MaxBytes int64
	// MaxWait bounds how long a call waits to start. Default DefaultMaxWait.
	MaxWait time.Duration
	// Timeout bounds each call once started.
	Timeout time.Duration
	// OnWait, when set, is called by every Do that joined or started a call,
	// just before it waits: a hook for tests to know a request is waiting.
	OnWait func()
	// OnPanic, when set, is called with the value of a panic of a call's
	// function, on the call's goroutine.
	OnPanic func(value any)

	mu      sync.Mutex // guards the fields below and those of calls and owners
	calls   map[K]*call[K, V]
	owners  map[string]*owner[K, V]
	queuing []*owner[K, V] // owners with calls waiting to start
	running int
	queued  int
	bytes   int64 // weights of the calls running
	qbytes  int64 // weights of the calls waiting
	seq     uint64
}

// owner is the state of one owner with calls running or waiting.
type owner[K comparable, V any] struct {
	name    string
	running int
	queue   []*call[K, V] // waiting to start, oldest first
	qbytes  int64
}

// call is one call, waiting or running. done is closed once val and err are
// set.
type call[K comparable, V any] struct {
	key      K
	owner    *owner[K, V]
	weight   int64
	seq      uint64 // arrival order
	fn       func(context.Context) (V, error)
	ctx      context.Context // the first caller's, for its values; nil once started
	started  bool
	finished bool // its answer is given (done is closed): never dropped again
	done     chan struct{}
	val      V
	err      error
	waiters  int
	cancel   context.CancelFunc
}

// Do returns the result of fn for key, from the call in flight for key if
// there is one, else from a new call made for owner, whose weight is the
// number of bytes it holds. fn runs in a goroutine of its own with a context
// that keeps ctx's values, names owner, ends after Timeout, and is cancelled
// when every caller waiting for it has left. shared reports whether this
// caller joined a call another caller made. When ctx ends first, Do returns
// ctx's cause at once.
func (g *Group[K, V]) Do(ctx context.Context, key K, owner string, weight int64, fn func(context.Context) (V, error)) (v V, shared bool, err error) {
	g.mu.Lock()
	c, shared := g.calls[key]
	if shared {
		c.waiters++
	} else if c, err = g.enqueue(ctx, key, owner, max(weight, 1), fn); err != nil {
		g.mu.Unlock()
		return v, false, err
	}
	waiting := !c.started
	g.mu.Unlock()
	if g.OnWait != nil {
		g.OnWait()
	}
	var expired <-chan time.Time
	if waiting {
		t := time.NewTimer(cmpOr(g.MaxWait, DefaultMaxWait))
		defer t.Stop()
		expired = t.C
	}
	for {
		select {
		case <-c.done:
			return c.val, shared, c.err
		case <-ctx.Done():
			g.leave(c)
			return v, shared, context.Cause(ctx)
		case <-expired:
			g.mu.Lock()
			if !c.started && !c.finished {
				g.drop(c, ErrTooMany)
			}
			g.mu.Unlock()
			expired = nil
		}
	}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// enqueue queues a new call for key, making room as the package documents,
// and starts what can start. g.mu is held.
func (g *Group[K, V]) enqueue(ctx context.Context, key K, name string, weight int64, fn func(context.Context) (V, error)) (*call[K, V], error) {
	if g.calls == nil {
		g.calls, g.owners = make(map[K]*call[K, V]), make(map[string]*owner[K, V])
	}
	o := g.owners[name]
	if o == nil {
		o = &owner[K, V]{name: name}
	}
	if len(o.queue) >= g.MaxPerOwner || (g.MaxBytes > 0 && weight > g.MaxBytes) || !g.makeRoom(o, weight) {
		return nil, ErrTooMany
	}
	g.owners[name] = o
	g.seq++
	c := &call[K, V]{key: key, owner: o, weight: weight, seq: g.seq, fn: fn, ctx: ctx, done: make(chan struct{}), waiters: 1}
	g.calls[key] = c
	if len(o.queue) == 0 {
		g.queuing = append(g.queuing, o)
	}
	o.queue = append(o.queue, c)
	o.qbytes += weight
	g.queued++
	g.qbytes += weight
	g.dispatch()
	return c, nil
}

// makeRoom makes a call of o weighing weight fit in the queues, and reports
// whether it does: when the queues are full (in calls or in bytes), the
// newest waiting call of the owner with the longest queue (in calls, or in
// bytes when only the bytes are over) loses its place, if that queue is
// longer than o's would be and the newcomer then fits. At most one call is
// dropped for a newcomer, and none for a newcomer refused anyway. g.mu is
// held.
func (g *Group[K, V]) makeRoom(o *owner[K, V], weight int64) bool {
	countOver := g.queued >= g.maxWaiting()
	bytesOver := g.MaxBytes > 0 && g.qbytes+weight > g.MaxBytes
	if !countOver && !bytesOver {
		return true
	}
	var v *owner[K, V]
	if countOver {
		v = g.longest(func(x *owner[K, V]) int64 { return int64(len(x.queue)) })
		if v == nil || v == o || len(v.queue) <= len(o.queue)+1 {
			return false
		}
	} else {
		v = g.longest(func(x *owner[K, V]) int64 { return x.qbytes })
		if v == nil || v == o || v.qbytes <= o.qbytes+weight {
			return false
		}
	}
	victim := v.queue[len(v.queue)-1]
	if g.MaxBytes > 0 && g.qbytes-victim.weight+weight > g.MaxBytes {
		return false
	}
	g.drop(victim, ErrTooMany)
	return true
}

// maxWaiting is MaxWaiting or its default.
func (g *Group[K, V]) maxWaiting() int { return cmp.Or(g.MaxWaiting, 4*g.Max) }

// longest returns the owner with calls waiting whose size is the largest.
func (g *Group[K, V]) longest(size func(*owner[K, V]) int64) *owner[K, V] {
	var best *owner[K, V]
	for _, o := range g.queuing {
		if best == nil || size(o) > size(best) {
			best = o
		}
	}
	return best
}

// dispatch starts waiting calls while the bounds allow, each time the head of
// the queue of the owner with the fewest calls running (the oldest head among
// equals). g.mu is held.
func (g *Group[K, V]) dispatch() {
	for g.running < g.Max {
		var next *owner[K, V]
		for _, o := range g.queuing {
			switch {
			case o.running >= g.MaxPerOwner, g.MaxBytes > 0 && g.bytes+o.queue[0].weight > g.MaxBytes:
			case next == nil, o.running < next.running, o.running == next.running && o.queue[0].seq < next.queue[0].seq:
				next = o
			}
		}
		if next == nil {
			return
		}
		c := next.queue[0]
		g.unqueue(c)
		g.start(c)
	}
}

// unqueue takes the waiting call c out of its owner's queue. g.mu is held.
func (g *Group[K, V]) unqueue(c *call[K, V]) {
	o := c.owner
	o.queue = slices.DeleteFunc(o.queue, func(x *call[K, V]) bool { return x == c })
	o.qbytes -= c.weight
	g.queued--
	g.qbytes -= c.weight
	if len(o.queue) == 0 {
		g.queuing = slices.DeleteFunc(g.queuing, func(x *owner[K, V]) bool { return x == o })
	}
}

// start runs the call c, taken out of its queue. g.mu is held.
func (g *Group[K, V]) start(c *call[K, V]) {
	ctx := fair.WithOwner(context.WithoutCancel(c.ctx), c.owner.name)
	ctx, c.cancel = context.WithTimeout(ctx, g.Timeout)
	c.ctx, c.started = nil, true
	g.running++
	g.bytes += c.weight
	c.owner.running++
	go func() {
		var v V
		err := errGoexit // until fn returns: it may end its goroutine instead
		defer func() {
			c.cancel()
			g.mu.Lock()
			defer g.mu.Unlock()
			g.running--
			g.bytes -= c.weight
			c.owner.running--
			g.finish(c, v, err)
			g.dispatch()
		}()
		v, err = g.run(ctx, c.fn)
	}()
}

// run calls fn, turning a panic into a *PanicError.
func (g *Group[K, V]) run(ctx context.Context, fn func(context.Context) (V, error)) (v V, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r}
			if g.OnPanic != nil {
				g.OnPanic(r)
			}
		}
	}()
	return fn(ctx)
}

// finish gives c's waiters their answer and forgets c and, when idle, its
// owner. g.mu is held.
func (g *Group[K, V]) finish(c *call[K, V], v V, err error) {
	if g.calls[c.key] == c {
		delete(g.calls, c.key)
	}
	if o := c.owner; o.running == 0 && len(o.queue) == 0 && g.owners[o.name] == o {
		delete(g.owners, o.name)
	}
	c.val, c.err, c.fn, c.finished = v, err, nil, true
	close(c.done)
}

// drop ends the waiting call c with err. g.mu is held.
func (g *Group[K, V]) drop(c *call[K, V], err error) {
	var zero V
	g.unqueue(c)
	c.ctx = nil
	g.finish(c, zero, err)
}

// leave records that a waiter of c gave up; the last one cancels c (or takes
// it out of its queue) and makes the key free for a new call.
func (g *Group[K, V]) leave(c *call[K, V]) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.waiters--; c.waiters > 0 {
		return
	}
	switch {
	case c.finished: // answered (or dropped) meanwhile: nothing to cancel
	case !c.started:
		g.drop(c, context.Canceled)
	case g.calls[c.key] == c:
		delete(g.calls, c.key)
		c.cancel()
	default:
		c.cancel()
	}
}

// Running returns the number of calls running (cancelled ones included).
func (g *Group[K, V]) Running() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running
}

// Waiting returns the number of calls waiting to start.
func (g *Group[K, V]) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.queued
}

// Bytes returns the weights of the calls running and of those waiting.
func (g *Group[K, V]) Bytes() (running, waiting int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.bytes, g.qbytes
}
