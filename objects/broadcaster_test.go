package objects_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/aggauth/aggauth/objects"
	"github.com/aggauth/aggauth/requestinfo"
)

// at returns a widget of namespace ns with the resourceVersion rv and the
// labels "k=v" pairs.
func at(ns, name string, rv int, kv ...string) *Widget {
	w := &Widget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: strconv.Itoa(rv), Labels: map[string]string{}}}
	for i := 0; i+1 < len(kv); i += 2 {
		w.Labels[kv[i]] = kv[i+1]
	}
	return w
}

// seen is an event as the tests compare them.
type seen struct {
	Type            watch.EventType
	Name, RV        string
	Code            int32             // of an Error event
	Message         string            // of an Error event
	Annotations     map[string]string // of a Bookmark
	NamespaceOfItem string
}

func seenOf(ev objects.Event) seen {
	switch o := ev.Object.(type) {
	case *metav1.Status:
		return seen{Type: ev.Type, Code: o.Code, Message: o.Message}
	case *Widget:
		s := seen{Type: ev.Type, Name: o.Name, RV: o.ResourceVersion, NamespaceOfItem: o.Namespace}
		if ev.Type == watch.Bookmark {
			s.Annotations = o.Annotations
		}
		return s
	}
	panic(fmt.Sprintf("unexpected %T", ev.Object))
}

// next reads n events, failing the test if they do not come in time.
func next(t *testing.T, ch <-chan objects.Event, n int) []seen {
	t.Helper()
	var out []seen
	for range n {
		select {
		case ev, ok := <-ch:
			require.True(t, ok, "got a closed channel after %v; want %d events", out, n)
			out = append(out, seenOf(ev))
		case <-time.After(5 * time.Second):
			require.FailNow(t, "timeout", "got %v; want %d events", out, n)
		}
	}
	return out
}

// closed fails unless ch is closed (after any events still in it).
func closed(t *testing.T, ch <-chan objects.Event) []seen {
	t.Helper()
	var out []seen
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, seenOf(ev))
		case <-time.After(5 * time.Second):
			require.FailNow(t, "timeout", "got an open channel after %v; want it closed", out)
		}
	}
}

func emit(t *testing.T, b *objects.Broadcaster[*Widget], typ watch.EventType, w *Widget) {
	t.Helper()
	require.NoError(t, b.Emit(typ, w))
}

func yes() *bool { v := true; return &v }
func no() *bool  { v := false; return &v }

func TestBroadcasterWatch(t *testing.T) {
	b := objects.NewBroadcaster[*Widget](objects.BroadcasterOptions{})
	defer b.Close()
	emit(t, b, watch.Added, at("b", "y", 1))
	emit(t, b, watch.Added, at("a", "z", 2))
	emit(t, b, watch.Added, at("a", "x", 3))
	emit(t, b, watch.Modified, at("b", "y", 4))
	assert.Equal(t, "4", b.ResourceVersion())

	for _, tc := range []struct {
		name string
		opts objects.WatchOptions
		want []seen // before the change at 5
	}{
		{"legacy, from now: the objects in key order", objects.WatchOptions{}, []seen{
			{Type: watch.Added, Name: "x", RV: "3", NamespaceOfItem: "a"}, {Type: watch.Added, Name: "z", RV: "2", NamespaceOfItem: "a"},
			{Type: watch.Added, Name: "y", RV: "4", NamespaceOfItem: "b"},
		}},
		{"resourceVersion 0 is from now too", objects.WatchOptions{ResourceVersion: "0", Namespace: "b"}, []seen{
			{Type: watch.Added, Name: "y", RV: "4", NamespaceOfItem: "b"},
		}},
		{"from a resourceVersion: the kept events after it", objects.WatchOptions{ResourceVersion: "2"}, []seen{
			{Type: watch.Added, Name: "x", RV: "3", NamespaceOfItem: "a"}, {Type: watch.Modified, Name: "y", RV: "4", NamespaceOfItem: "b"},
		}},
		{"from the last resourceVersion: nothing yet", objects.WatchOptions{ResourceVersion: "4"}, nil},
		{"watch list with bookmarks", objects.WatchOptions{SendInitialEvents: yes(), AllowBookmarks: true, Namespace: "a"}, []seen{
			{Type: watch.Added, Name: "x", RV: "3", NamespaceOfItem: "a"}, {Type: watch.Added, Name: "z", RV: "2", NamespaceOfItem: "a"},
			{Type: watch.Bookmark, RV: "4", Annotations: map[string]string{"k8s.io/initial-events-end": "true"}},
		}},
		{"watch list from a resourceVersion reached", objects.WatchOptions{ResourceVersion: "3", SendInitialEvents: yes(), Name: "y"}, []seen{
			{Type: watch.Added, Name: "y", RV: "4", NamespaceOfItem: "b"},
		}},
		{"sendInitialEvents=false: from now, nothing", objects.WatchOptions{SendInitialEvents: no()}, nil},
		{"one name", objects.WatchOptions{Namespace: "a", Name: "z"}, []seen{{Type: watch.Added, Name: "z", RV: "2", NamespaceOfItem: "a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			ch, err := b.Watch(ctx, tc.opts)
			require.NoError(t, err)
			assert.Equal(t, tc.want, next(t, ch, len(tc.want)))
			cancel()
			assert.Empty(t, closed(t, ch), "got events after the last; want none")
		})
	}
}

func TestBroadcasterLive(t *testing.T) {
	b := objects.NewBroadcaster[*Widget](objects.BroadcasterOptions{})
	defer b.Close()
	emit(t, b, watch.Added, at("a", "x", 1, "app", "demo"))
	sel, err := requestinfo.NewSelectors(labels.SelectorFromSet(labels.Set{"app": "demo"}), fields.Everything())
	require.NoError(t, err)
	all, err := b.Watch(t.Context(), objects.WatchOptions{ResourceVersion: "1"})
	require.NoError(t, err)
	demo, err := b.Watch(t.Context(), objects.WatchOptions{ResourceVersion: "1", Selectors: sel})
	require.NoError(t, err)
	future, err := b.Watch(t.Context(), objects.WatchOptions{ResourceVersion: "3"})
	require.NoError(t, err)

	emit(t, b, watch.Modified, at("a", "x", 2, "app", "other")) // leaves demo's selector
	emit(t, b, watch.Modified, at("a", "x", 3, "app", "demo"))  // enters it again
	emit(t, b, watch.Added, at("a", "y", 4))
	emit(t, b, watch.Deleted, at("a", "x", 5, "app", "demo"))

	assert.Equal(t, []seen{
		{Type: watch.Modified, Name: "x", RV: "2", NamespaceOfItem: "a"}, {Type: watch.Modified, Name: "x", RV: "3", NamespaceOfItem: "a"},
		{Type: watch.Added, Name: "y", RV: "4", NamespaceOfItem: "a"}, {Type: watch.Deleted, Name: "x", RV: "5", NamespaceOfItem: "a"},
	}, next(t, all, 4))
	assert.Equal(t, []seen{
		// The object that stops matching is Deleted, in its previous state
		// with the event's resourceVersion, as the watch cache sends it.
		{Type: watch.Deleted, Name: "x", RV: "2", NamespaceOfItem: "a"}, {Type: watch.Added, Name: "x", RV: "3", NamespaceOfItem: "a"},
		{Type: watch.Deleted, Name: "x", RV: "5", NamespaceOfItem: "a"},
	}, next(t, demo, 3))
	assert.Equal(t, []seen{
		{Type: watch.Added, Name: "y", RV: "4", NamespaceOfItem: "a"}, {Type: watch.Deleted, Name: "x", RV: "5", NamespaceOfItem: "a"},
	}, next(t, future, 2), "a watch from a future resourceVersion starts after it")
}

// TestBroadcasterHistory: the history keeps at most History events and
// HistoryBytes of their JSON; a watch from before it gets the 410 Expired
// error event kube-apiserver's watch cache sends, and the channel closes.
func TestBroadcasterHistory(t *testing.T) {
	data, err := json.Marshal(at("ns", "w10", 10))
	require.NoError(t, err)
	widgetSize := len(data) // the size of each event of the test
	for _, tc := range []struct {
		name       string
		opts       objects.BroadcasterOptions
		wantOldest int // oldest resourceVersion kept after 10 events
	}{
		{"by entries", objects.BroadcasterOptions{History: 4}, 7},
		{"by bytes", objects.BroadcasterOptions{HistoryBytes: 3*widgetSize + 1}, 8},
		{"one larger than the bound is still kept", objects.BroadcasterOptions{HistoryBytes: 10}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := objects.NewBroadcaster[*Widget](tc.opts)
			defer b.Close()
			for rv := 1; rv <= 10; rv++ {
				emit(t, b, watch.Added, at("ns", fmt.Sprintf("w%02d", rv), rv))
			}
			ch, err := b.Watch(t.Context(), objects.WatchOptions{ResourceVersion: strconv.Itoa(tc.wantOldest - 1)})
			require.NoError(t, err)
			assert.Len(t, next(t, ch, 11-tc.wantOldest), 11-tc.wantOldest)

			ch, err = b.Watch(t.Context(), objects.WatchOptions{ResourceVersion: strconv.Itoa(tc.wantOldest - 2)})
			require.NoError(t, err)
			want := fmt.Sprintf("too old resource version: %d (%d)", tc.wantOldest-2, tc.wantOldest-1)
			assert.Equal(t, []seen{{Type: watch.Error, Code: 410, Message: want}}, closed(t, ch))
		})
	}
}

func TestBroadcasterErrors(t *testing.T) {
	b := objects.NewBroadcaster[*Widget](objects.BroadcasterOptions{})
	emit(t, b, watch.Added, at("ns", "a", 5))
	for _, tc := range []struct {
		typ  watch.EventType
		w    *Widget
		want string
	}{
		{watch.Bookmark, at("ns", "a", 6), "objects: cannot emit a BOOKMARK event"},
		{watch.Added, at("ns", "a", 5), "objects: emitting ns/a: resourceVersion 5 is not after 5"},
		{watch.Added, &Widget{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b", ResourceVersion: "x1"}}, `objects: emitting ns/b: resourceVersion "x1" is not a decimal integer`},
	} {
		assert.EqualError(t, b.Emit(tc.typ, tc.w), tc.want)
	}
	_, err := b.Watch(t.Context(), objects.WatchOptions{ResourceVersion: "abc"})
	assert.EqualError(t, err, `resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax`)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ch, err := b.Watch(ctx, objects.WatchOptions{ResourceVersion: "9", SendInitialEvents: yes()})
	require.NoError(t, err)
	assert.Equal(t, []seen{{Type: watch.Error, Code: 504, Message: "Timeout: Too large resource version: 9, current: 5"}}, closed(t, ch))

	b.Close()
	b.Close()
	assert.EqualError(t, b.Emit(watch.Added, at("ns", "c", 7)), "objects: emit on a closed Broadcaster")
	ch, err = b.Watch(t.Context(), objects.WatchOptions{})
	require.NoError(t, err)
	assert.Empty(t, closed(t, ch))
}

// TestBroadcasterWaitsForResourceVersion: a watch-list request for a
// resourceVersion not reached yet starts once it is.
func TestBroadcasterWaitsForResourceVersion(t *testing.T) {
	b := objects.NewBroadcaster[*Widget](objects.BroadcasterOptions{})
	defer b.Close()
	emit(t, b, watch.Added, at("ns", "a", 1))
	got := make(chan []seen)
	go func() {
		ch, err := b.Watch(t.Context(), objects.WatchOptions{ResourceVersion: "2", SendInitialEvents: yes()})
		assert.NoError(t, err)
		got <- next(t, ch, 2)
	}()
	time.Sleep(50 * time.Millisecond)
	emit(t, b, watch.Added, at("ns", "b", 2))
	assert.Equal(t, []seen{{Type: watch.Added, Name: "a", RV: "1", NamespaceOfItem: "ns"}, {Type: watch.Added, Name: "b", RV: "2", NamespaceOfItem: "ns"}}, <-got)
}

// TestBroadcasterSlowWatcher: a watcher that falls more than Buffer events
// behind is ended; the others are not held back.
func TestBroadcasterSlowWatcher(t *testing.T) {
	b := objects.NewBroadcaster[*Widget](objects.BroadcasterOptions{Buffer: 3})
	defer b.Close()
	slow, err := b.Watch(t.Context(), objects.WatchOptions{ResourceVersion: "0"})
	require.NoError(t, err)
	fast, err := b.Watch(t.Context(), objects.WatchOptions{ResourceVersion: "0"})
	require.NoError(t, err)
	for rv := 1; rv <= 10; rv++ {
		emit(t, b, watch.Added, at("ns", strconv.Itoa(rv), rv))
		assert.Len(t, next(t, fast, 1), 1)
	}
	assert.Len(t, closed(t, slow), 3, "the slow watcher gets what its buffer held, then the end")
}

// TestBroadcasterInitialEventsBeyondBuffer: the initial events do not count
// against the buffer, however many objects there are.
func TestBroadcasterInitialEventsBeyondBuffer(t *testing.T) {
	b := objects.NewBroadcaster[*Widget](objects.BroadcasterOptions{Buffer: 2})
	defer b.Close()
	for rv := 1; rv <= 50; rv++ {
		emit(t, b, watch.Added, at("ns", fmt.Sprintf("w%02d", rv), rv))
	}
	ch, err := b.Watch(t.Context(), objects.WatchOptions{})
	require.NoError(t, err)
	emit(t, b, watch.Added, at("ns", "late", 51))
	got := next(t, ch, 51)
	assert.Equal(t, seen{Type: watch.Added, Name: "late", RV: "51", NamespaceOfItem: "ns"}, got[50])
}

// TestBroadcasterBookmarks: a watcher that allows bookmarks gets one 2 s
// before its deadline (and every minute), at the Broadcaster's
// resourceVersion when that is past what it has seen.
func TestBroadcasterBookmarks(t *testing.T) {
	b := objects.NewBroadcaster[*Widget](objects.BroadcasterOptions{})
	defer b.Close()
	emit(t, b, watch.Added, at("ns", "a", 1))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second+100*time.Millisecond)
	defer cancel()
	ch, err := b.Watch(ctx, objects.WatchOptions{ResourceVersion: "1", AllowBookmarks: true})
	require.NoError(t, err)
	emit(t, b, watch.Added, at("other", "b", 2)) // another namespace: not sent, but the version moves
	quiet, err := b.Watch(ctx, objects.WatchOptions{ResourceVersion: "2", AllowBookmarks: true, Namespace: "ns"})
	require.NoError(t, err)
	assert.Equal(t, []seen{{Type: watch.Added, Name: "b", RV: "2", NamespaceOfItem: "other"}, {Type: watch.Bookmark, RV: "2"}}, next(t, ch, 2))
	assert.Empty(t, closed(t, quiet), "got a bookmark at the version the watch started from; want none")
}

// TestBroadcasterConcurrent emits and watches from many goroutines (run it
// with -race): every watcher sees the changes in order.
func TestBroadcasterConcurrent(t *testing.T) {
	b := objects.NewBroadcaster[*Widget](objects.BroadcasterOptions{Buffer: 1000})
	defer b.Close()
	var watches []<-chan objects.Event
	for range 4 {
		ch, err := b.Watch(t.Context(), objects.WatchOptions{SendInitialEvents: no()}) // the changes from now on
		require.NoError(t, err)
		watches = append(watches, ch)
	}
	var mu sync.Mutex // the store's lock, under which it emits
	rv := 0
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				mu.Lock()
				rv++
				emit(t, b, watch.Added, at("ns", fmt.Sprintf("%d-%d", i, j), rv))
				mu.Unlock()
			}
		})
	}
	for _, ch := range watches {
		wg.Go(func() {
			last := 0
			for ev := range ch {
				v, err := strconv.Atoi(ev.Object.(*Widget).ResourceVersion)
				assert.NoError(t, err)
				assert.Equal(t, last+1, v, "got resourceVersion %d after %d; want every change in order", v, last)
				if last = v; v == 200 {
					return
				}
			}
			t.Error("got the end of the watch; want every change")
		})
	}
	wg.Wait()
}
