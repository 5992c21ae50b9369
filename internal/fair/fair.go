// Package fair shares one client-side rate limit towards kube-apiserver
// fairly between the parties whose calls wait for it: the users whose
// SubjectAccessReviews, or the client addresses whose TokenReviews, are in
// flight.
//
// client-go's token bucket hands its tokens out in arrival order, so a party
// with a thousand calls waiting makes a newcomer wait behind all of them (five
// seconds at 200 QPS). Limiter hands them out in turn: one to each party with
// a call waiting, round after round, each party's calls in their order. A
// newcomer waits for at most one token per other party waiting, whatever the
// number of calls they have waiting.
package fair

import (
	"context"
	"sync"

	"k8s.io/client-go/util/flowcontrol"
)

type ownerKey struct{}

// WithOwner returns ctx naming owner as the party a call is made for.
func WithOwner(ctx context.Context, owner string) context.Context {
	return context.WithValue(ctx, ownerKey{}, owner)
}

// OwnerFrom returns the party named by WithOwner, or "" for calls made for no
// one in particular (an informer's list), which share one turn.
func OwnerFrom(ctx context.Context) string {
	owner, _ := ctx.Value(ownerKey{}).(string)
	return owner
}

var _ flowcontrol.RateLimiter = (*Limiter)(nil)

// Limiter is a client-go rate limiter (a rest.Config's RateLimiter) whose
// tokens go to the waiting parties in turn. At most one caller at a time
// waits on the token bucket itself (it holds the turn); the others wait on a
// channel of their own in their party's queue. It is safe for concurrent use
// and owns no goroutine.
type Limiter struct {
	bucket flowcontrol.RateLimiter

	mu     sync.Mutex // guards the fields below
	busy   bool       // a caller holds the turn
	queues map[string][]*waiter
	ring   []string // parties with a caller waiting, in turn order
	next   int      // index in ring of the party whose turn comes next
}

// waiter is one caller waiting for its turn; ch is closed when it gets it.
type waiter struct{ ch chan struct{} }

// NewLimiter returns a Limiter of qps tokens a second with bursts of burst.
func NewLimiter(qps float32, burst int) *Limiter {
	return &Limiter{bucket: flowcontrol.NewTokenBucketRateLimiter(qps, burst), queues: map[string][]*waiter{}}
}

// Wait waits for the turn of ctx's party, then for a token; it returns ctx's
// error when ctx ends first.
func (l *Limiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	if !l.busy {
		l.busy = true
		l.mu.Unlock()
		return l.hold(ctx)
	}
	owner := OwnerFrom(ctx)
	w := &waiter{ch: make(chan struct{})}
	if len(l.queues[owner]) == 0 {
		l.ring = append(l.ring, owner)
	}
	l.queues[owner] = append(l.queues[owner], w)
	l.mu.Unlock()
	select {
	case <-w.ch:
		return l.hold(ctx)
	case <-ctx.Done():
		l.mu.Lock()
		if !l.remove(owner, w) { // given the turn meanwhile: pass it on
			l.mu.Unlock()
			l.pass()
			return ctx.Err()
		}
		l.mu.Unlock()
		return ctx.Err()
	}
}

// hold waits for a token while holding the turn, then passes the turn on.
func (l *Limiter) hold(ctx context.Context) error {
	defer l.pass()
	return l.bucket.Wait(ctx)
}

// pass gives the turn to the first caller of the next party waiting, or
// frees it.
func (l *Limiter) pass() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ring) == 0 {
		l.busy = false
		return
	}
	l.next %= len(l.ring)
	owner := l.ring[l.next]
	q := l.queues[owner]
	w := q[0]
	if q = q[1:]; len(q) == 0 {
		delete(l.queues, owner)
		l.ring = append(l.ring[:l.next], l.ring[l.next+1:]...)
	} else {
		l.queues[owner] = q
		l.next++
	}
	close(w.ch)
}

// remove takes w out of owner's queue and reports whether it was there (it is
// not once given the turn). l.mu is held.
func (l *Limiter) remove(owner string, w *waiter) bool {
	q := l.queues[owner]
	for i, x := range q {
		if x != w {
			continue
		}
		if q = append(q[:i], q[i+1:]...); len(q) > 0 {
			l.queues[owner] = q
			return true
		}
		delete(l.queues, owner)
		for j, o := range l.ring {
			if o == owner {
				l.ring = append(l.ring[:j], l.ring[j+1:]...)
				if j < l.next {
					l.next--
				}
				break
			}
		}
		return true
	}
	return false
}

// Accept waits for a token without a deadline.
func (l *Limiter) Accept() { _ = l.Wait(context.Background()) }

// TryAccept takes a token if one is free and nobody is waiting for one.
func (l *Limiter) TryAccept() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.busy && l.bucket.TryAccept()
}

// QPS returns the rate of tokens.
func (l *Limiter) QPS() float32 { return l.bucket.QPS() }

// Stop stops the token bucket.
func (l *Limiter) Stop() { l.bucket.Stop() }
