package objects

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

var _ ProtobufSource = (*Broadcaster[*metav1.PartialObjectMetadata])(nil)
