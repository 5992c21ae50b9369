package objects_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"

	"github.com/aggauth/aggauth/objects"
	"github.com/aggauth/aggauth/requestinfo"
)

// widgetStore is the smallest store an example would write: a map, and a
// Broadcaster it feeds under its lock.
type widgetStore struct {
	mu     sync.Mutex
	rv     int
	items  map[string]*Widget // by namespace/name
	events *objects.Broadcaster[*Widget]
}

func newWidgetStore() *widgetStore {
	return &widgetStore{items: map[string]*Widget{}, events: objects.NewBroadcaster[*Widget](objects.BroadcasterOptions{})}
}

// put creates or replaces a widget.
func (s *widgetStore) put(t testing.TB, w Widget) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rv++
	w.ResourceVersion = strconv.Itoa(s.rv)
	typ := watch.Modified
	if _, ok := s.items[w.Namespace+"/"+w.Name]; !ok {
		typ = watch.Added
	}
	s.items[w.Namespace+"/"+w.Name] = &w
	require.NoError(t, s.events.Emit(typ, &w))
}

func (s *widgetStore) remove(t testing.TB, ns, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.items[ns+"/"+name]
	delete(s.items, ns+"/"+name)
	s.rv++
	gone := *old
	gone.ResourceVersion = strconv.Itoa(s.rv)
	require.NoError(t, s.events.Emit(watch.Deleted, &gone))
}

// list is a consistent list: its resourceVersion is the last event's.
func (s *widgetStore) list(ns string, sel requestinfo.Selectors) *WidgetList {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &WidgetList{ListMeta: metav1.ListMeta{ResourceVersion: strconv.Itoa(s.rv)}}
	for _, w := range s.items {
		if (ns == "" || w.Namespace == ns) && sel.Matches(w) {
			out.Items = append(out.Items, *w)
		}
	}
	slices.SortFunc(out.Items, func(a, b Widget) int { return compareKeys(a, b) })
	return out
}

func compareKeys(a, b Widget) int {
	if a.Namespace != b.Namespace {
		if a.Namespace < b.Namespace {
			return -1
		}
		return 1
	}
	switch {
	case a.Name < b.Name:
		return -1
	case a.Name > b.Name:
		return 1
	}
	return 0
}

// handler is what an example server's widgets handler becomes with this
// package: list or watch, get.
func (s *widgetStore) handler(t testing.TB, queries *[]string, mu *sync.Mutex) http.Handler {
	mux := http.NewServeMux()
	list := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		*queries = append(*queries, r.URL.RawQuery)
		mu.Unlock()
		if objects.IsWatch(r) {
			objects.ServeWatch(w, r, s.events)
			return
		}
		objects.Write(w, r, http.StatusOK, s.list(r.PathValue("ns"), requestinfo.Everything))
	}
	mux.HandleFunc("GET /apis/demo.aggauth.io/v1/widgets", list)
	mux.HandleFunc("GET /apis/demo.aggauth.io/v1/namespaces/{ns}/widgets", list)
	mux.HandleFunc("GET /apis/demo.aggauth.io/v1/namespaces/{ns}/widgets/{name}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		obj, ok := s.items[r.PathValue("ns")+"/"+r.PathValue("name")]
		s.mu.Unlock()
		if !ok {
			objects.WriteError(w, r, apierrors.NewNotFound(schema.GroupResource{Group: group, Resource: "widgets"}, r.PathValue("name")))
			return
		}
		objects.Write(w, r, http.StatusOK, obj)
	})
	return withInfo(t, declaration(t).Handler(mux))
}

// TestClientGoInformers runs client-go's metadata informer (what the
// garbage collector, namespace and quota controllers run) and dynamic
// informer against a server using Write and ServeWatch: both sync, then
// follow creates, updates and deletes; with client-go's default watch-list
// requests (WatchListClient, on since v1.35) and with list then watch.
func TestClientGoInformers(t *testing.T) {
	for _, watchList := range []bool{true, false} {
		t.Run("watch list "+strconv.FormatBool(watchList), func(t *testing.T) {
			clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, watchList)
			testInformers(t, watchList)
		})
	}
}

func testInformers(t *testing.T, watchList bool) {
	s := newWidgetStore()
	defer s.events.Close()
	s.put(t, widget("a", "blue", 1))
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewServer(s.handler(t, &queries, &mu))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL}
	gvr := gv.WithResource("widgets")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	meta := metadatainformer.NewSharedInformerFactory(metadata.NewForConfigOrDie(cfg), 0).ForResource(gvr)
	dyn := dynamicinformer.NewDynamicSharedInformerFactory(dynamic.NewForConfigOrDie(cfg), 0).ForResource(gvr)
	go meta.Informer().RunWithContext(ctx)
	go dyn.Informer().RunWithContext(ctx)
	require.True(t, cache.WaitForCacheSync(ctx.Done(), meta.Informer().HasSynced, dyn.Informer().HasSynced))

	names := func(list []runtime.Object) []string {
		var out []string
		for _, o := range list {
			switch o := o.(type) {
			case *metav1.PartialObjectMetadata:
				out = append(out, o.Name+"@"+o.ResourceVersion)
			case *unstructured.Unstructured:
				color, _, _ := unstructured.NestedString(o.Object, "spec", "color")
				out = append(out, o.GetName()+"@"+o.GetResourceVersion()+"/"+color)
			}
		}
		slices.Sort(out)
		return out
	}
	wait := func(what string, want []string, list func() []runtime.Object) {
		t.Helper()
		assert.Eventually(t, func() bool { return slices.Equal(names(list()), want) }, 5*time.Second, 10*time.Millisecond,
			"%s: got %v; want %v", what, names(list()), want)
	}
	metaList := func() []runtime.Object { l, _ := meta.Lister().List(labels.Everything()); return l }
	dynList := func() []runtime.Object { l, _ := dyn.Lister().List(labels.Everything()); return l }
	wait("metadata informer after sync", []string{"a@1"}, metaList)
	wait("dynamic informer after sync", []string{"a@1/blue"}, dynList)

	s.put(t, widget("b", "red", 2))
	a := widget("a", "green", 1)
	s.put(t, a)
	s.remove(t, "ns", "b")
	wait("metadata informer after changes", []string{"a@3"}, metaList)
	wait("dynamic informer after changes", []string{"a@3/green"}, dynList)

	mu.Lock()
	defer mu.Unlock()
	var lists, watches, watchLists int
	for _, q := range queries {
		switch {
		case strings.Contains(q, "sendInitialEvents=true"):
			watchLists++
		case strings.Contains(q, "watch=true"):
			watches++
		default:
			lists++
		}
	}
	if watchList {
		assert.Equal(t, []int{0, 0, 2}, []int{lists, watches, watchLists}, "lists, watches, watch lists of %q", queries)
	} else {
		assert.Equal(t, []int{2, 2, 0}, []int{lists, watches, watchLists}, "lists, watches, watch lists of %q", queries)
	}
}
