package objects

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
)

// Defaults of BroadcasterOptions.
const (
	DefaultHistory      = 1000
	DefaultHistoryBytes = 64 << 20
	DefaultBuffer       = 100
)

// bookmarkFrequency is how often the watch cache sends a watcher a
// bookmark (defaultBookmarkFrequency); it also sends one 2 s before the
// watch's deadline.
const bookmarkFrequency = time.Minute

// BroadcasterOptions tunes a Broadcaster. The zero value works.
type BroadcasterOptions struct {
	// History is how many events are kept for the watches that start from a
	// resourceVersion (an informer's re-watch after a timeout). A watch from
	// before the oldest kept event gets kube-apiserver's 410 Expired error
	// event, and the client lists again. Default: DefaultHistory.
	History int
	// HistoryBytes bounds the kept events by the size of their objects'
	// JSON, measured once per event. Default: DefaultHistoryBytes.
	HistoryBytes int
	// Buffer is how many events a watcher may fall behind: a watcher whose
	// client reads slower than the changes come is ended, as the watch
	// cache ends it, and the client watches again from where it was. Its
	// memory is Buffer events, the objects being shared. Default:
	// DefaultBuffer, the watch cache's buffer for a resource without
	// indexes.
	Buffer int
}

// Broadcaster is an in-memory source of watch events, a small version of
// kube-apiserver's watch cache: a store calls Emit after each change, and
// ServeWatch serves watches from it. It keeps the current objects (for the
// Added events a watch from resourceVersion "" or "0" starts with) and a
// bounded history of events (for a watch from a resourceVersion). T is the
// store's object type, a pointer to a struct embedding metav1.TypeMeta and
// metav1.ObjectMeta such as *Widget; objects given to Emit are shared with
// the watchers and must not be changed afterwards.
//
// A Broadcaster is safe for concurrent use; mu guards everything below it.
// Close ends every watch.
type Broadcaster[T any] struct {
	opts     BroadcasterOptions
	protobuf bool

	mu       sync.Mutex
	closed   bool
	rv       uint64               // of the last event
	state    map[objectKey]T      // the current objects
	ring     []entry[T]           // the history, oldest at start
	start    int                  // index of the oldest event in ring
	n        int                  // events in ring
	bytes    int                  // their size
	evicted  bool                 // an event left the history
	watchers map[*watcher[T]]bool // the live watches
	changed  chan struct{}        // closed and replaced by each event
}

type objectKey struct{ namespace, name string }

// entry is one event of the history: the object and the object it
// replaced, for the watches whose selectors only one of them matches.
type entry[T any] struct {
	typ     watch.EventType
	obj     T
	prev    T
	hasPrev bool
	rv      uint64
	size    int
}

// NewBroadcaster returns an empty Broadcaster.
func NewBroadcaster[T any](opts BroadcasterOptions) *Broadcaster[T] {
	opts.History = cmp.Or(max(opts.History, 0), DefaultHistory)
	opts.HistoryBytes = cmp.Or(max(opts.HistoryBytes, 0), DefaultHistoryBytes)
	opts.Buffer = cmp.Or(max(opts.Buffer, 0), DefaultBuffer)
	var zero T
	return &Broadcaster[T]{
		opts: opts, protobuf: shapeOf(zero).protobuf,
		state: map[objectKey]T{}, ring: make([]entry[T], opts.History), watchers: map[*watcher[T]]bool{},
		changed: make(chan struct{}),
	}
}

// Protobuf reports whether T can be written as protobuf.
func (b *Broadcaster[T]) Protobuf() bool { return b.protobuf }

// ResourceVersion is the resourceVersion of the last event, "0" before the
// first: the version of a list of the current objects.
func (b *Broadcaster[T]) ResourceVersion() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strconv.FormatUint(b.rv, 10)
}

// Emit records a change and sends it to the watches it concerns: typ is
// watch.Added, watch.Modified or watch.Deleted, obj the object after the
// change (the deleted object for Deleted), whose resourceVersion is a
// decimal integer greater than every one emitted before, as Kubernetes'
// resourceVersions are (etcd's revisions). Call it in the order of the
// changes, under the store's lock. The error is a programmer's error: a bad
// event type or resourceVersion, or a closed Broadcaster.
func (b *Broadcaster[T]) Emit(typ watch.EventType, obj T) error {
	if typ != watch.Added && typ != watch.Modified && typ != watch.Deleted {
		return fmt.Errorf("objects: cannot emit a %s event", typ)
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return fmt.Errorf("objects: emitting %T: %w", obj, err)
	}
	rv, err := strconv.ParseUint(m.GetResourceVersion(), 10, 64)
	if err != nil {
		return fmt.Errorf("objects: emitting %s/%s: resourceVersion %q is not a decimal integer", m.GetNamespace(), m.GetName(), m.GetResourceVersion())
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("objects: emitting %s/%s: %w", m.GetNamespace(), m.GetName(), err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return errors.New("objects: emit on a closed Broadcaster")
	case rv <= b.rv:
		return fmt.Errorf("objects: emitting %s/%s: resourceVersion %d is not after %d", m.GetNamespace(), m.GetName(), rv, b.rv)
	}
	key := objectKey{m.GetNamespace(), m.GetName()}
	e := entry[T]{typ: typ, obj: obj, rv: rv, size: len(data)}
	e.prev, e.hasPrev = b.state[key]
	if typ == watch.Deleted {
		delete(b.state, key)
	} else {
		b.state[key] = obj
	}
	b.record(e)
	b.rv = rv
	close(b.changed)
	b.changed = make(chan struct{})
	for w := range b.watchers {
		if ev, ok := w.convert(&e); ok && rv > w.minRV {
			w.send(ev)
		}
	}
	return nil
}

// record adds e to the history, dropping the oldest events beyond its
// bounds (keeping e itself).
func (b *Broadcaster[T]) record(e entry[T]) {
	for b.n > 0 && (b.n == len(b.ring) || b.bytes+e.size > b.opts.HistoryBytes) {
		b.bytes -= b.ring[b.start].size
		b.ring[b.start] = entry[T]{} // let the objects go
		b.start = (b.start + 1) % len(b.ring)
		b.n--
		b.evicted = true
	}
	b.ring[(b.start+b.n)%len(b.ring)] = e
	b.n++
	b.bytes += e.size
}

// Close ends every watch and refuses new ones: their channel is closed at
// once, as the watch cache closes them while it is not ready. Safe to call
// twice.
func (b *Broadcaster[T]) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for w := range b.watchers {
		w.stopLocked()
	}
}

// Watch starts a watch, as the watch cache does (Cacher.Watch):
//
//   - with sendInitialEvents (a watch-list request, what client-go's
//     informers send by default), the current objects as Added events once
//     the Broadcaster has reached the requested resourceVersion (else, after
//     3 s, the 504 "Too large resource version" error event), then, when
//     bookmarks are allowed, a Bookmark annotated k8s.io/initial-events-end;
//   - for resourceVersion "" or "0" without it (a legacy watch), the current
//     objects as Added events; with sendInitialEvents=false, nothing;
//   - from another resourceVersion, the kept events after it, or, when it is
//     older than the history, a single Error event with the 410 Expired
//     Status kube-apiserver sends ("too old resource version");
//   - then each change after that, and, when bookmarks are allowed, a
//     Bookmark every minute and 2 s before ctx's deadline.
//
// A resourceVersion that is not a number is an error, as in kube-apiserver
// (a 500). The channel is closed when ctx is done, when the watcher falls
// more than Buffer events behind, and on Close.
func (b *Broadcaster[T]) Watch(ctx context.Context, opts WatchOptions) (<-chan Event, error) {
	requested, err := parseResourceVersion(opts.ResourceVersion)
	if err != nil {
		return nil, err
	}
	watchList := opts.SendInitialEvents != nil && *opts.SendInitialEvents
	if watchList && requested > 0 {
		if err := b.waitFor(ctx, requested); err != nil {
			return errorChannel(err), nil
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return closedChannel(), nil
	}
	w := &watcher[T]{b: b, opts: opts, live: make(chan Event, b.opts.Buffer), minRV: max(requested, b.rv)}
	var initial []Event
	switch {
	case watchList:
		initial = b.currentLocked(w)
		if opts.AllowBookmarks {
			end := bookmarkObject[T](b.rv)
			if m, err := meta.Accessor(end); err == nil {
				m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
			}
			initial = append(initial, Event{Type: watch.Bookmark, Object: end})
		}
	case requested == 0 && opts.SendInitialEvents == nil:
		initial = b.currentLocked(w)
	case requested == 0: // sendInitialEvents=false: from now on
	default:
		oldest := b.ring[b.start].rv
		if !b.evicted {
			oldest = 1
		}
		if requested < oldest-1 {
			return errorChannel(apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", requested, oldest-1))), nil
		}
		initial = b.sinceLocked(w, requested)
	}
	b.startLocked(ctx, w)
	if len(initial) == 0 {
		return w.live, nil
	}
	out := make(chan Event)
	go w.forward(ctx, initial, out)
	return out, nil
}

// startLocked registers w until ctx is done, and arms its bookmarks.
func (b *Broadcaster[T]) startLocked(ctx context.Context, w *watcher[T]) {
	b.watchers[w] = true
	w.stopCtx = context.AfterFunc(ctx, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		w.stopLocked()
	})
	if deadline, ok := ctx.Deadline(); ok {
		w.deadline = deadline
	}
	if w.opts.AllowBookmarks {
		w.scheduleBookmarkLocked(time.Now())
	}
}

// freshTimeout is how long a watch-list request waits for the
// resourceVersion it asks for (the watch cache's blockTimeout).
const freshTimeout = 3 * time.Second

// waitFor waits until the Broadcaster has reached rv, at most freshTimeout:
// else the error is the watch cache's "Too large resource version" (504).
func (b *Broadcaster[T]) waitFor(ctx context.Context, rv uint64) error {
	timer := time.NewTimer(freshTimeout)
	defer timer.Stop()
	for {
		b.mu.Lock()
		current, changed := b.rv, b.changed
		b.mu.Unlock()
		if current >= rv {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return tooLargeResourceVersion(rv, current)
		case <-timer.C:
			return tooLargeResourceVersion(rv, current)
		}
	}
}

// tooLargeResourceVersion is storage.NewTooLargeResourceVersionError with
// the watch cache's retry delay.
func tooLargeResourceVersion(requested, current uint64) error {
	err := apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", requested, current), 1)
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
	return err
}

// errorChannel is the watch cache's errWatcher: one Error event.
func errorChannel(err error) <-chan Event {
	ch := make(chan Event, 1)
	ch <- Event{Type: watch.Error, Object: &err.(*apierrors.StatusError).ErrStatus}
	close(ch)
	return ch
}

// currentLocked is the current objects w selects, as Added events in the
// order of their namespace and name (the watch cache's key order).
func (b *Broadcaster[T]) currentLocked(w *watcher[T]) []Event {
	keys := make([]objectKey, 0, len(b.state))
	for k, obj := range b.state {
		if w.matches(obj) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b objectKey) int {
		return cmp.Or(cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.name, b.name))
	})
	events := make([]Event, len(keys))
	for i, k := range keys {
		events[i] = Event{Type: watch.Added, Object: b.state[k]}
	}
	return events
}

// sinceLocked is the kept events after rv that w selects.
func (b *Broadcaster[T]) sinceLocked(w *watcher[T], rv uint64) []Event {
	at := func(i int) *entry[T] { return &b.ring[(b.start+i)%len(b.ring)] }
	var events []Event
	for i := sort.Search(b.n, func(i int) bool { return at(i).rv > rv }); i < b.n; i++ {
		if ev, ok := w.convert(at(i)); ok {
			events = append(events, ev)
		}
	}
	return events
}

func closedChannel() <-chan Event {
	ch := make(chan Event)
	close(ch)
	return ch
}

// parseResourceVersion is storage.APIObjectVersioner.ParseResourceVersion:
// its error, which kube-apiserver's watch handler answers with a 500.
func parseResourceVersion(rv string) (uint64, error) {
	if rv == "" || rv == "0" {
		return 0, nil
	}
	v, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return 0, errors.New(field.ErrorList{field.Invalid(field.NewPath("resourceVersion"), rv, err.Error())}.ToAggregate().Error())
	}
	return v, nil
}

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

var _ ProtobufSource = (*Broadcaster[*metav1.PartialObjectMetadata])(nil)
