package admission

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// backend is a kube-apiserver holding namespaces, as seen by the tests: either
// client-go's fake clientset or fakeAPIServer over HTTP.
type backend interface {
	client() kubernetes.Interface
	// put creates or replaces a namespace, as if a user did it after start-up.
	put(t *testing.T, ns *corev1.Namespace)
	// gets is the number of GETs of single namespaces served so far.
	gets() int
	// holdGets makes GETs wait until release is called.
	holdGets() (release func())
	// failGets makes GETs fail with a 500.
	failGets()
}

// backends are the two kube-apiservers every scenario runs against.
var backends = []struct {
	name string
	new  func(t *testing.T, initial ...*corev1.Namespace) backend
}{
	{"fake-clientset", newFakeClientsetBackend},
	{"http-apiserver", newHTTPBackend},
	{"http-apiserver-list-watch", newHTTPListWatchBackend},
}

type fakeClientsetBackend struct {
	cs    *fake.Clientset
	count atomic.Int64

	mu      sync.Mutex
	gate    chan struct{}
	fail    bool
	panicOn string // a namespace whose GET panics
}

// panicOnGet makes the GET of namespace ns panic, as a broken transport would.
func (b *fakeClientsetBackend) panicOnGet(ns string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.panicOn = ns
}

func newFakeClientsetBackend(_ *testing.T, initial ...*corev1.Namespace) backend {
	objs := make([]runtime.Object, 0, len(initial))
	for _, ns := range initial {
		objs = append(objs, ns)
	}
	b := &fakeClientsetBackend{cs: fake.NewClientset(objs...)}
	b.cs.PrependReactor("get", "namespaces", func(a k8stesting.Action) (bool, runtime.Object, error) {
		b.count.Add(1)
		b.mu.Lock()
		gate, fail, panicOn := b.gate, b.fail, b.panicOn
		b.mu.Unlock()
		if get, ok := a.(k8stesting.GetAction); ok && panicOn != "" && get.GetName() == panicOn {
			panic("transport exploded")
		}
		if gate != nil {
			<-gate
		}
		if fail {
			return true, nil, apierrors.NewInternalError(errBackend)
		}
		return false, nil, nil // fall through to the object tracker
	})
	return b
}

func (b *fakeClientsetBackend) client() kubernetes.Interface { return b.cs }
func (b *fakeClientsetBackend) gets() int                    { return int(b.count.Load()) }

func (b *fakeClientsetBackend) put(t *testing.T, ns *corev1.Namespace) {
	t.Helper()
	nsi := b.cs.CoreV1().Namespaces()
	_, err := nsi.Update(context.Background(), ns, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		_, err = nsi.Create(context.Background(), ns, metav1.CreateOptions{})
	}
	require.NoError(t, err)
}

func (b *fakeClientsetBackend) holdGets() func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	g := make(chan struct{})
	b.gate = g
	var once sync.Once
	return func() { once.Do(func() { close(g) }) }
}

func (b *fakeClientsetBackend) failGets() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fail = true
}

type httpBackend struct {
	srv *fakeAPIServer
	cs  kubernetes.Interface
}

func newHTTPBackend(t *testing.T, initial ...*corev1.Namespace) backend {
	srv := newFakeAPIServer(t, initial...)
	return &httpBackend{srv: srv, cs: srv.client(t)}
}

// newHTTPListWatchBackend is newHTTPBackend with client-go's streaming
// watch-list turned off: the informer lists, then watches.
func newHTTPListWatchBackend(t *testing.T, initial ...*corev1.Namespace) backend {
	clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, false)
	return newHTTPBackend(t, initial...)
}

func (b *httpBackend) client() kubernetes.Interface { return b.cs }
func (b *httpBackend) gets() int                    { return int(b.srv.gets.Load()) }
func (b *httpBackend) holdGets() func()             { return b.srv.holdGets() }
func (b *httpBackend) put(_ *testing.T, ns *corev1.Namespace) {
	b.srv.put(ns)
}

func (b *httpBackend) failGets() {
	b.srv.mu.Lock()
	defer b.srv.mu.Unlock()
	b.srv.getFail = true
}
