package admission

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	clocktesting "k8s.io/utils/clock/testing"
)

const missingMessage = `namespaces "missing" not found`

func TestConcurrentCreatesShareOneGet(t *testing.T) {
	const n = 1000
	caches := []struct {
		name string
		ttl  time.Duration
	}{
		{"negative cache on", 0},
		{"negative cache off", -1},
	}
	for _, be := range backends {
		for _, c := range caches {
			t.Run(be.name+"/"+c.name, func(t *testing.T) {
				b := be.new(t)
				l := newLifecycle(t, b, NamespaceLifecycleOptions{NegativeCacheTTL: c.ttl})
				joined := make(chan struct{}, n)
				l.lookups.OnWait = func() { joined <- struct{}{} }
				startLifecycle(t, l)
				release := b.holdGets()
				defer release()

				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() { errs[i] = l.Admit(context.Background(), createIn("missing")) })
				}
				for range n {
					receive(t, joined, "creates to wait for the live GET")
				}
				release()
				wg.Wait()

				for _, err := range errs {
					requireStatus(t, err, 404, metav1.StatusReasonNotFound, missingMessage)
				}
				assert.Equal(t, 1, b.gets(), "live GETs for %d concurrent creates", n)
			})
		}
	}
}

func TestCancelledCallerDoesNotFailOthers(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.new(t)
			l := newLifecycle(t, b, NamespaceLifecycleOptions{})
			joined := make(chan struct{}, 2)
			l.lookups.OnWait = func() { joined <- struct{}{} }
			startLifecycle(t, l)
			release := b.holdGets()
			defer release()

			firstCtx, cancelFirst := context.WithCancel(context.Background())
			first := admitAsync(firstCtx, l, createIn("missing"))
			receive(t, joined, "the first create to start the live GET")
			second := admitAsync(context.Background(), l, createIn("missing"))
			receive(t, joined, "the second create to join it")

			cancelFirst()
			err := receive(t, first, "the cancelled create to return")
			requireStatus(t, err, 500, metav1.StatusReasonInternalError,
				`Internal error occurred: looking up namespace "missing": context canceled`)

			release()
			requireStatus(t, receive(t, second, "the second create"), 404, metav1.StatusReasonNotFound, missingMessage)
			assert.Equal(t, 1, b.gets(), "live GETs")
		})
	}
}

func TestNegativeCacheExpires(t *testing.T) {
	tests := []struct {
		name string
		ttl  time.Duration // option value
		want time.Duration // effective TTL
	}{
		{"default", 0, DefaultNegativeCacheTTL},
		{"custom", 5 * time.Second, 5 * time.Second},
	}
	for _, be := range backends {
		for _, tt := range tests {
			t.Run(be.name+"/"+tt.name, func(t *testing.T) {
				b := be.new(t)
				clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
				l := newLifecycle(t, b, NamespaceLifecycleOptions{NegativeCacheTTL: tt.ttl, Clock: clk})
				startLifecycle(t, l)
				admit := func(wantGets int) {
					t.Helper()
					requireStatus(t, l.Admit(context.Background(), createIn("missing")),
						404, metav1.StatusReasonNotFound, missingMessage)
					assert.Equal(t, wantGets, b.gets(), "live GETs at %v", clk.Now())
				}

				admit(1)
				clk.Step(tt.want - time.Nanosecond)
				admit(1) // still remembered
				clk.Step(time.Nanosecond)
				admit(2) // expired: asked again, and remembered again
				admit(2)
				clk.Step(tt.want)
				admit(3)
			})
		}
	}
}

func TestNegativeCacheDisabled(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.new(t)
			l := newLifecycle(t, b, NamespaceLifecycleOptions{NegativeCacheTTL: -1})
			startLifecycle(t, l)
			for i := 1; i <= 3; i++ {
				requireStatus(t, l.Admit(context.Background(), createIn("missing")),
					404, metav1.StatusReasonNotFound, missingMessage)
				require.Equal(t, i, b.gets(), "live GETs")
			}
		})
	}
}

func TestNegativeCacheBounded(t *testing.T) {
	b := newFakeClientsetBackend(t)
	l := newLifecycle(t, b, NamespaceLifecycleOptions{NegativeCacheSize: 2})
	startLifecycle(t, l)
	for _, ns := range []string{"a", "b", "c", "a"} {
		requireStatus(t, l.Admit(context.Background(), createIn(ns)),
			404, metav1.StatusReasonNotFound, `namespaces "`+ns+`" not found`)
	}
	// "a" was evicted by "c", so it was asked for twice.
	assert.Equal(t, 4, b.gets(), "live GETs")
	n, _ := l.negative.Len()
	assert.Equal(t, 2, n, "remembered namespaces")
}

func TestLookupTimeout(t *testing.T) {
	// The fake clientset ignores contexts; only a real HTTP GET can time out.
	b := newHTTPBackend(t)
	l := newLifecycle(t, b, NamespaceLifecycleOptions{LookupTimeout: time.Millisecond})
	startLifecycle(t, l)
	release := b.holdGets() // held until the end: only the timeout can end the GET
	defer release()

	err := l.Admit(context.Background(), createIn("missing"))
	st := requireStatus(t, err, 500, metav1.StatusReasonInternalError, err.Error())
	assert.Contains(t, st.Message, `looking up namespace "missing"`)
	assert.Contains(t, st.Message, "context deadline exceeded")
	assert.False(t, l.knownMissing("missing"), "a timeout is not remembered as not found")
}

// TestAbandonedLookupIsCancelled: when every create waiting for a live GET has
// gone, the GET stops (kube-apiserver sees it cancelled) and nothing remains in
// flight.
func TestAbandonedLookupIsCancelled(t *testing.T) {
	b := newHTTPBackend(t)
	l := newLifecycle(t, b, NamespaceLifecycleOptions{})
	joined := make(chan struct{}, 2)
	l.lookups.OnWait = func() { joined <- struct{}{} }
	startLifecycle(t, l)
	release := b.holdGets()
	defer release()

	srv := b.(*httpBackend).srv
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	first, second := admitAsync(ctx1, l, createIn("missing")), admitAsync(ctx2, l, createIn("missing"))
	receive(t, joined, "the first create")
	receive(t, joined, "the second create")
	require.Eventually(t, func() bool { return b.gets() == 1 }, hangGuard, time.Millisecond, "the GET to reach kube-apiserver")
	cancel1()
	receive(t, first, "the first create to return")
	cancel2()
	receive(t, second, "the second create to return")
	require.Eventually(t, func() bool { return srv.cancelled.Load() == 1 && l.lookups.Running() == 0 },
		hangGuard, time.Millisecond, "the abandoned GET was not cancelled")
	assert.False(t, l.knownMissing("missing"), "a cancelled GET is not remembered as not found")
}

// TestLookupBounds: beyond a user's bound or the global one a lookup waits
// its turn; when the queues are full and no user's queue is longer than the
// newcomer's would be, a create is refused at once with 429.
func TestLookupBounds(t *testing.T) {
	b := newFakeClientsetBackend(t)
	l := newLifecycle(t, b, NamespaceLifecycleOptions{MaxLookups: 2, MaxLookupsPerUser: 1})
	l.lookups.MaxWaiting = 2
	joined := make(chan struct{}, 10)
	l.lookups.OnWait = func() { joined <- struct{}{} }
	startLifecycle(t, l)
	release := b.holdGets()
	defer release()
	as := func(name, ns string) *authorizer.AttributesRecord {
		a := createIn(ns)
		a.User = &user.DefaultInfo{Name: name}
		return a
	}
	var waiting []<-chan error
	for _, c := range []struct{ user, ns, why string }{
		{"alice", "a", "alice's lookup"},
		{"alice", "b", "alice's second lookup, waiting its turn"},
		{"bob", "a", "bob joining alice's"},
		{"bob", "b", "bob joining alice's waiting lookup"},
		{"carol", "c", "carol's lookup, the second running"},
		{"dave", "d", "dave's, waiting: the queues are now full"},
	} {
		waiting = append(waiting, admitAsync(context.Background(), l, as(c.user, c.ns)))
		receive(t, joined, c.why)
	}
	start := time.Now()
	st := requireStatus(t, l.Admit(context.Background(), as("erin", "e")), 429, metav1.StatusReasonTooManyRequests,
		"too many namespace lookups in flight; retry later")
	assert.Less(t, time.Since(start), time.Second, "refused at once")
	assert.Equal(t, int32(1), st.Details.RetryAfterSeconds)
	release()
	for i, ch := range waiting {
		ns := []string{"a", "b", "a", "b", "c", "d"}[i]
		requireStatus(t, receive(t, ch, "a held create"), 404, metav1.StatusReasonNotFound, `namespaces "`+ns+`" not found`)
	}
}

// TestLookupPanic: a client whose GET panics fails the creates waiting for
// that lookup with a 500 Status; the next lookup works.
func TestLookupPanic(t *testing.T) {
	b := newFakeClientsetBackend(t).(*fakeClientsetBackend)
	l := newLifecycle(t, b, NamespaceLifecycleOptions{Logger: slog.New(slog.DiscardHandler)})
	startLifecycle(t, l)
	b.panicOnGet("boom")
	err := l.Admit(context.Background(), createIn("boom"))
	requireStatus(t, err, 500, metav1.StatusReasonInternalError,
		`Internal error occurred: looking up namespace "boom": the call failed unexpectedly`)
	requireStatus(t, l.Admit(context.Background(), createIn("missing")), 404, metav1.StatusReasonNotFound, missingMessage)
}

func TestInvalidNamespaceNamesAreNotLookedUp(t *testing.T) {
	b := newFakeClientsetBackend(t)
	l := newLifecycle(t, b, NamespaceLifecycleOptions{})
	startLifecycle(t, l)
	for _, ns := range []string{"Upper", "under_score", strings.Repeat("a", 64), strings.Repeat("x", 1<<20)} {
		requireStatus(t, l.Admit(context.Background(), createIn(ns)), 404, metav1.StatusReasonNotFound,
			`namespaces "`+ns+`" not found`)
	}
	assert.Zero(t, b.gets(), "a name that cannot exist is not looked up")
	n, _ := l.negative.Len()
	assert.Zero(t, n, "nor remembered")
}
