package admission

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/tools/cache"
)

// hangGuard bounds every wait of the tests, so that a bug fails the test
// instead of hanging it. It is never reached by a passing test.
const hangGuard = 30 * time.Second

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status:     corev1.NamespaceStatus{Phase: phase},
	}
}

// createIn is the attributes of a create of a widget in namespace ns.
func createIn(ns string) *authorizer.AttributesRecord {
	return &authorizer.AttributesRecord{
		Verb: "create", Namespace: ns, APIGroup: "example.com", APIVersion: "v1",
		Resource: "widgets", ResourceRequest: true,
		Path: "/apis/example.com/v1/namespaces/" + ns + "/widgets",
	}
}

func newLifecycle(t *testing.T, b backend, opts NamespaceLifecycleOptions) *NamespaceLifecycle {
	t.Helper()
	opts.Client = b.client()
	l, err := NewNamespaceLifecycle(opts)
	require.NoError(t, err)
	return l
}

// startLifecycle runs l until the test ends and waits for its informer to sync.
func startLifecycle(t *testing.T, l *NamespaceLifecycle) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l.Start(ctx)
	t.Cleanup(cancel)
	waitReady(t, l)
}

func waitReady(t *testing.T, l *NamespaceLifecycle) {
	t.Helper()
	waitClosed(t, l.syncedCh, "the namespace informer to sync")
	require.NoError(t, l.Ready())
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(hangGuard):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangGuard):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// waitInformer blocks until l's informer holds namespace name satisfying ok.
func waitInformer(t *testing.T, l *NamespaceLifecycle, name string, ok func(*corev1.Namespace) bool) {
	t.Helper()
	seen := make(chan struct{})
	var once sync.Once
	check := func(obj any) {
		if ns, isNS := obj.(*corev1.Namespace); isNS && ns.Name == name && ok(ns) {
			once.Do(func() { close(seen) })
		}
	}
	reg, err := l.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { check(obj) },
		UpdateFunc: func(_, obj any) { check(obj) },
	})
	require.NoError(t, err)
	defer func() { _ = l.informer.RemoveEventHandler(reg) }()
	waitClosed(t, seen, "the informer to see namespace "+name)
}

// admitAsync runs l.Admit in a goroutine and returns the channel of its result.
func admitAsync(ctx context.Context, l *NamespaceLifecycle, a authorizer.Attributes) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- l.Admit(ctx, a) }()
	return ch
}

// requireStatus checks that err is a Status error with code, reason and message.
func requireStatus(t *testing.T, err error, code int32, reason metav1.StatusReason, message string) metav1.Status {
	t.Helper()
	require.Error(t, err)
	se, ok := err.(apierrors.APIStatus)
	require.Truef(t, ok, "got %T (%v); want a Status error", err, err)
	st := se.Status()
	require.Equal(t, code, st.Code, "code")
	require.Equal(t, reason, st.Reason, "reason")
	require.Equal(t, message, st.Message, "message")
	return st
}
