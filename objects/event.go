package objects

import (
	"context"

	"k8s.io/apimachinery/pkg/watch"

	"github.com/aggauth/aggauth/requestinfo"
)

// Event is one event of a watch, as k8s.io/apimachinery's watch.Event but
// for objects that need not be runtime.Objects.
type Event struct {
	// Type is watch.Added, Modified, Deleted, Bookmark or Error.
	Type watch.EventType
	// Object is the object (after the change; before it for Deleted), an
	// object with only its resourceVersion for Bookmark, and the
	// *metav1.Status of the error for Error.
	Object any
}

// Source starts watches: Broadcaster is one. ServeWatch reads the events of
// the channel Watch returns until it is closed, the watch times out, the
// client leaves or the server shuts down; it then cancels ctx, and the
// source must close the channel and forget the watch.
type Source interface {
	// Watch starts a watch of the objects opts selects. The error is
	// written as the answer (WriteError) instead of a watch: an error in
	// the watch itself, such as a resourceVersion too old, is an Error
	// event.
	Watch(ctx context.Context, opts WatchOptions) (<-chan Event, error)
}

// ProtobufSource is a Source whose objects can be written as protobuf
// (runtime.Objects with generated protobuf methods). ServeWatch writes
// the objects of other sources as JSON only, as kube-apiserver writes a
// CustomResourceDefinition's (metadata can always be protobuf).
type ProtobufSource interface {
	Source
	Protobuf() bool
}

// WatchOptions is what a watch request asks for, read from its path and
// query by ServeWatch.
type WatchOptions struct {
	// ResourceVersion is where the watch starts: "" or "0" for the current
	// state (an Added event for each object, then the changes), else the
	// changes after that version.
	ResourceVersion string
	// SendInitialEvents, when true, asks for the current objects as Added
	// events, then (with AllowBookmarks) a Bookmark annotated
	// k8s.io/initial-events-end, then the changes: a watch-list request.
	// When false, the watch starts from resourceVersion without them. ServeWatch
	// sets it, as kube-apiserver does, for a watch from "" or "0" without it.
	SendInitialEvents *bool
	// AllowBookmarks lets the source send Bookmark events.
	AllowBookmarks bool
	// Namespace is the namespace watched; "" for all.
	Namespace string
	// Name is the only object watched (a watch of /watch/.../name, or a
	// field selector on metadata.name); "" for all.
	Name string
	// Selectors are the label and field selectors the objects must match,
	// already checked (metadata.name and metadata.namespace only).
	Selectors requestinfo.Selectors
}
