package admission

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// fakeAPIServer is a small kube-apiserver for namespaces: list, watch (plain
// and streaming "watch-list") and get, over real HTTP. It counts GETs of single
// namespaces and can hold list/watch or GET requests until released.
type fakeAPIServer struct {
	srv  *httptest.Server
	done chan struct{}
	gets atomic.Int64
	// cancelled counts the held requests whose client went away.
	cancelled atomic.Int64

	mu       sync.Mutex
	rv       int
	objs     map[string]*corev1.Namespace
	events   []metav1.WatchEvent // every change, in order, Object.Raw set
	changed  chan struct{}       // closed and replaced on every change
	listGate chan struct{}       // when set, list and watch wait for it to close
	getGate  chan struct{}       // when set, GETs wait for it to close
	getFail  bool                // when set, GETs answer 500
}

func newFakeAPIServer(t *testing.T, initial ...*corev1.Namespace) *fakeAPIServer {
	t.Helper()
	s := &fakeAPIServer{
		done:    make(chan struct{}),
		objs:    map[string]*corev1.Namespace{},
		changed: make(chan struct{}),
	}
	for _, ns := range initial {
		s.put(ns)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.done)
		s.srv.Close()
	})
	return s
}

// client returns a clientset talking to s, without client-side rate limits.
func (s *fakeAPIServer) client(t *testing.T) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(&rest.Config{Host: s.srv.URL, QPS: 1000, Burst: 1000})
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	return c
}

// put creates or replaces a namespace and records the watch event.
func (s *fakeAPIServer) put(ns *corev1.Namespace) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns = ns.DeepCopy()
	ns.Kind, ns.APIVersion = "Namespace", "v1"
	s.rv++
	ns.ResourceVersion = strconv.Itoa(s.rv)
	typ := "ADDED"
	if _, ok := s.objs[ns.Name]; ok {
		typ = "MODIFIED"
	}
	s.objs[ns.Name] = ns
	raw, _ := json.Marshal(ns)
	s.events = append(s.events, metav1.WatchEvent{Type: typ, Object: runtime.RawExtension{Raw: raw}})
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *fakeAPIServer) gate(which *chan struct{}) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := make(chan struct{})
	*which = g
	var once sync.Once
	return func() { once.Do(func() { close(g) }) }
}

// holdLists makes list and watch requests wait until release is called.
func (s *fakeAPIServer) holdLists() (release func()) { return s.gate(&s.listGate) }

// holdGets makes GET requests wait until release is called.
func (s *fakeAPIServer) holdGets() (release func()) { return s.gate(&s.getGate) }

// wait blocks on the gate g (if any) until it opens, the request ends or the
// server closes; it reports whether the request may go on.
func (s *fakeAPIServer) wait(r *http.Request, g chan struct{}) bool {
	if g == nil {
		return true
	}
	select {
	case <-g:
		return true
	case <-r.Context().Done():
		s.cancelled.Add(1)
	case <-s.done:
	}
	return false
}

func (s *fakeAPIServer) serve(w http.ResponseWriter, r *http.Request) {
	const prefix = "/api/v1/namespaces"
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, prefix) {
		writeJSON(w, http.StatusNotFound, notFoundStatus("", r.URL.Path))
		return
	}
	name := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, prefix), "/")
	s.mu.Lock()
	listGate, getGate, getFail := s.listGate, s.getGate, s.getFail
	s.mu.Unlock()
	switch {
	case name != "":
		s.gets.Add(1)
		if s.wait(r, getGate) {
			s.get(w, name, getFail)
		}
	case !s.wait(r, listGate):
	case r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
		s.watch(w, r)
	default:
		s.list(w)
	}
}

func (s *fakeAPIServer) get(w http.ResponseWriter, name string, fail bool) {
	if fail {
		writeJSON(w, http.StatusInternalServerError, apierrors.NewInternalError(errBackend).ErrStatus)
		return
	}
	s.mu.Lock()
	ns, ok := s.objs[name]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, notFoundStatus("namespaces", name))
		return
	}
	writeJSON(w, http.StatusOK, ns)
}

func (s *fakeAPIServer) list(w http.ResponseWriter) {
	s.mu.Lock()
	list := &corev1.NamespaceList{TypeMeta: metav1.TypeMeta{Kind: "NamespaceList", APIVersion: "v1"}}
	list.ResourceVersion = strconv.Itoa(s.rv)
	for _, ns := range s.objs {
		list.Items = append(list.Items, *ns)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, list)
}
