package objects

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
)

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
