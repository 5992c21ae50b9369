package admission

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	clocktesting "k8s.io/utils/clock/testing"
)

const notReadyMessage = "not yet ready to handle request: the namespace cache has not synced with kube-apiserver"

func requireNotReady(t *testing.T, err error, retryAfter int32) {
	t.Helper()
	st := requireStatus(t, err, 503, metav1.StatusReasonServiceUnavailable, notReadyMessage)
	require.NotNil(t, st.Details)
	assert.Equal(t, retryAfter, st.Details.RetryAfterSeconds, "Retry-After")
}

// waitForTimer blocks until a request is waiting on clk's timer.
func waitForTimer(t *testing.T, clk *clocktesting.FakeClock) {
	t.Helper()
	require.Eventually(t, clk.HasWaiters, hangGuard, time.Millisecond, "a request waiting for the sync")
}

func TestNotSynced(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name+"/503 after ReadyTimeout", func(t *testing.T) {
			b := be.new(t, namespace("live", corev1.NamespaceActive))
			clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
			l := newLifecycle(t, b, NamespaceLifecycleOptions{Clock: clk, RetryAfter: 7 * time.Second})
			assert.ErrorContains(t, l.Ready(), "not synced", "Ready before start")

			res := admitAsync(context.Background(), l, createIn("live"))
			waitForTimer(t, clk)
			clk.Step(DefaultReadyTimeout - time.Nanosecond)
			select {
			case err := <-res:
				t.Fatalf("got %v before ReadyTimeout; want the request still waiting", err)
			default:
			}
			clk.Step(time.Nanosecond)
			requireNotReady(t, receive(t, res, "the 503"), 7)
			assert.Zero(t, b.gets(), "live GETs")
		})
		t.Run(be.name+"/admitted once synced", func(t *testing.T) {
			b := be.new(t, namespace("live", corev1.NamespaceActive))
			clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
			l := newLifecycle(t, b, NamespaceLifecycleOptions{Clock: clk})

			res := admitAsync(context.Background(), l, createIn("live"))
			waitForTimer(t, clk)
			startLifecycle(t, l)
			require.NoError(t, receive(t, res, "the waiting create"))
			assert.NoError(t, l.Ready(), "Ready after the sync")
		})
	}
}

func TestNotSyncedImmediate(t *testing.T) {
	tests := []struct {
		name string
		opts NamespaceLifecycleOptions
		ctx  func() context.Context
	}{
		{"negative ReadyTimeout", NamespaceLifecycleOptions{ReadyTimeout: -1}, context.Background},
		{"request context ended", NamespaceLifecycleOptions{}, func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLifecycle(t, newFakeClientsetBackend(t), tt.opts)
			requireNotReady(t, l.Admit(tt.ctx(), createIn("live")), 1)
		})
	}
}

func TestListHeldUntilReleased(t *testing.T) {
	srv := newFakeAPIServer(t, namespace("live", corev1.NamespaceActive))
	release := srv.holdLists()
	defer release()
	l, err := NewNamespaceLifecycle(NamespaceLifecycleOptions{Client: srv.client(t), ReadyTimeout: -1})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.Start(ctx)

	requireNotReady(t, l.Admit(context.Background(), createIn("live")), 1)
	assert.Error(t, l.Ready())
	release()
	waitReady(t, l)
	require.NoError(t, l.Admit(context.Background(), createIn("live")))
}

// TestStartStopsItsInformerWithTheContext: the informer's goroutines end when
// the context given to Start does; starting twice is harmless.
func TestStartStopsItsInformerWithTheContext(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l := newLifecycle(t, newFakeClientsetBackend(t, namespace("live", corev1.NamespaceActive)),
		NamespaceLifecycleOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	l.Start(ctx)
	l.Start(ctx) // a second start does nothing
	waitReady(t, l)
	require.NoError(t, l.Admit(context.Background(), createIn("live")))
	cancel()
}

func TestSharedInformerFactory(t *testing.T) {
	b := newFakeClientsetBackend(t, namespace("live", corev1.NamespaceActive))
	factory := informers.NewSharedInformerFactory(b.client(), 0)
	l := newLifecycle(t, b, NamespaceLifecycleOptions{InformerFactory: factory})

	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		factory.Shutdown()
	}()
	factory.Start(ctx.Done()) // the user starts their factory; no Start needed
	waitReady(t, l)
	assert.True(t, factory.Core().V1().Namespaces().Informer().GetIndexer() == l.indexer, "one shared informer")
	require.NoError(t, l.Admit(context.Background(), createIn("live")))
	requireStatus(t, l.Admit(context.Background(), createIn("missing")), 404, metav1.StatusReasonNotFound, missingMessage)
}
