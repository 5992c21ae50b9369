package objects

import (
	"context"
	"reflect"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// watcher is one watch of a Broadcaster; b.mu guards it.
type watcher[T any] struct {
	b        *Broadcaster[T]
	opts     WatchOptions
	live     chan Event
	minRV    uint64 // events and bookmarks at or before it are not sent
	deadline time.Time
	timer    *time.Timer
	stopCtx  func() bool
	stopped  bool
}

func (w *watcher[T]) matches(obj T) bool {
	m, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	return (w.opts.Namespace == "" || m.GetNamespace() == w.opts.Namespace) &&
		(w.opts.Name == "" || m.GetName() == w.opts.Name) &&
		(w.opts.Selectors.Label == nil || w.opts.Selectors.Matches(m))
}

// convert is the watch cache's convertToWatchEvent: the event w sees, if
// any. An object that starts matching w's selectors is Added, one that
// stops matching them is Deleted (its previous state, with the event's
// resourceVersion).
func (w *watcher[T]) convert(e *entry[T]) (Event, bool) {
	cur := e.typ != watch.Deleted && w.matches(e.obj)
	old := e.hasPrev && w.matches(e.prev)
	switch {
	case cur && old:
		return Event{Type: watch.Modified, Object: e.obj}, true
	case cur:
		return Event{Type: watch.Added, Object: e.obj}, true
	case old:
		return Event{Type: watch.Deleted, Object: withResourceVersion(e.prev, e.rv)}, true
	case e.typ == watch.Deleted && !e.hasPrev && w.matches(e.obj):
		return Event{Type: watch.Deleted, Object: e.obj}, true
	}
	return Event{}, false
}

// send queues ev without waiting: a watcher with a full buffer is ended.
func (w *watcher[T]) send(ev Event) {
	select {
	case w.live <- ev:
	default:
		w.stopLocked()
	}
}

func (w *watcher[T]) stopLocked() {
	if w.stopped {
		return
	}
	w.stopped = true
	delete(w.b.watchers, w)
	close(w.live)
	if w.timer != nil {
		w.timer.Stop()
	}
	if w.stopCtx != nil {
		w.stopCtx()
	}
}

// scheduleBookmarkLocked arms the next bookmark: in a minute, or 2 s
// before the deadline if that is sooner (cacheWatcher.nextBookmarkTime);
// none after that.
func (w *watcher[T]) scheduleBookmarkLocked(now time.Time) {
	next := now.Add(bookmarkFrequency)
	if !w.deadline.IsZero() {
		if pre := w.deadline.Add(-2 * time.Second); pre.Before(next) {
			next = pre
		}
		if next.Before(now) {
			return
		}
	}
	w.timer = time.AfterFunc(next.Sub(now), w.bookmark)
}

// bookmark sends a Bookmark at the Broadcaster's resourceVersion, if it is
// past what w has seen, without waiting (the watch cache does not wait for
// bookmarks either), and arms the next one.
func (w *watcher[T]) bookmark() {
	b := w.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if w.stopped {
		return
	}
	if b.rv > w.minRV {
		select {
		case w.live <- Event{Type: watch.Bookmark, Object: bookmarkObject[T](b.rv)}:
		default:
		}
	}
	w.scheduleBookmarkLocked(time.Now())
}

// forward sends the initial events, then the live ones, to out.
func (w *watcher[T]) forward(ctx context.Context, initial []Event, out chan<- Event) {
	defer close(out)
	for _, ev := range initial {
		select {
		case out <- ev:
		case <-ctx.Done():
			return
		}
	}
	for ev := range w.live {
		select {
		case out <- ev:
		case <-ctx.Done():
			return
		}
	}
}

// bookmarkObject is a new T with only its resourceVersion, as the watch
// cache makes a bookmark's object.
func bookmarkObject[T any](rv uint64) T {
	var zero T
	t := reflect.TypeOf(zero)
	if t == nil || t.Kind() != reflect.Pointer {
		return zero
	}
	obj := reflect.New(t.Elem()).Interface().(T)
	if m, err := meta.Accessor(obj); err == nil {
		m.SetResourceVersion(strconv.FormatUint(rv, 10))
	}
	return obj
}

// withResourceVersion is a copy of obj with the resourceVersion rv: a
// shallow one of a struct (its ObjectMeta is a copy), a deep one of a
// runtime.Unstructured.
func withResourceVersion[T any](obj T, rv uint64) T {
	if u, ok := any(obj).(runtime.Unstructured); ok {
		c := u.DeepCopyObject().(runtime.Unstructured)
		c.(metav1.Object).SetResourceVersion(strconv.FormatUint(rv, 10))
		return c.(T)
	}
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return obj
	}
	c := reflect.New(v.Type().Elem())
	c.Elem().Set(v.Elem())
	out := c.Interface().(T)
	if m, err := meta.Accessor(out); err == nil {
		m.SetResourceVersion(strconv.FormatUint(rv, 10))
	}
	return out
}
