package objects

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metainternalversionvalidation "k8s.io/apimachinery/pkg/apis/meta/internalversion/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/discovery"
	"github.com/aggauth/aggauth/internal/negotiation"
	"github.com/aggauth/aggauth/requestinfo"
)

// DefaultMinRequestTimeout is kube-apiserver's --min-request-timeout: a
// watch without timeoutSeconds lasts a random time between it and twice it.
const DefaultMinRequestTimeout = 30 * time.Minute

// WatchServer serves watches. The zero value is ready to use.
type WatchServer struct {
	// MinRequestTimeout: a watch without ?timeoutSeconds= ends after a
	// random time between it and twice it, so that clients spread their
	// re-watches. Default (0): DefaultMinRequestTimeout.
	MinRequestTimeout time.Duration
}

// IsWatch reports whether r is a watch: its RequestInfo's verb is watch
// (?watch=true on a list, or a /watch/ path), or, without a RequestInfo in
// the context, ?watch= is true.
func IsWatch(r *http.Request) bool {
	if info, ok := request.RequestInfoFrom(r.Context()); ok && info != nil {
		return info.Verb == "watch"
	}
	opts := metainternalversion.ListOptions{}
	err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, &opts)
	return err == nil && opts.Watch
}

// ServeWatch answers a watch request with the events of src, as
// kube-apiserver's list handler answers ?watch=true (handlers.ListResource
// and WatchServer):
//
//   - the list options are read, defaulted and checked as Kubernetes does
//     with its WatchList feature (on by default since v1.34): 400 and 422
//     Statuses, a watch from resourceVersion "" or "0" is a watch-list
//     request (sendInitialEvents), the name of a /watch/ path and the
//     selectors become WatchOptions;
//   - the stream is JSON, or protobuf for the metadata (and for the objects
//     of a ProtobufSource), framed as kube-apiserver frames it: one
//     {"type":...,"object":...} document per event, flushed whenever no
//     other event is waiting; the objects are converted as Write converts
//     them (as=Table, with the column headers in the first event only, and
//     as=PartialObjectMetadata), except Error events' Status; an event that
//     cannot be converted (as=PartialObjectMetadataList, which is for
//     lists) ends the watch, as it ends kube-apiserver's;
//   - it ends after ?timeoutSeconds= (by default a random time between
//     MinRequestTimeout and twice it), when src closes the channel (a
//     watcher too slow for its buffer: the client watches again), when the
//     client leaves, and at once when the server shuts down
//     (request.ServerShutdownSignalFrom, as kube-apiserver's watches do).
//
// Put the Endpoint in the request's context (discovery.Handler does) for
// the Table form and the objects' kinds.
func ServeWatch(w http.ResponseWriter, r *http.Request, src Source) {
	WatchServer{}.ServeWatch(w, r, src)
}

// ServeWatch is the package's ServeWatch with s's timeout.
func (s WatchServer) ServeWatch(w http.ResponseWriter, r *http.Request, src Source) {
	e, _ := discovery.EndpointFrom(r.Context())
	ps, _ := src.(ProtobufSource)
	restr := restrictions{protobuf: ps != nil && ps.Protobuf(), table: e != nil}
	accepted, _, ok := negotiation.Output(r, infos, restr)
	if !ok {
		writeStatus(w, r, negotiation.NotAcceptable(negotiation.MediaTypes(infos)))
		return
	}
	opts, timeout, err := s.watchOptions(r)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	events, err := src.Watch(ctx, opts)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	stream, err := newEventEncoder(r, e, restr, accepted.Convert)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		WriteError(w, r, apierrors.NewInternalError(fmt.Errorf("unable to start watch - can't get http.Flusher: %T", w)))
		return
	}
	var shuttingDown <-chan struct{}
	if signal := request.ServerShutdownSignalFrom(r.Context()); signal != nil {
		shuttingDown = signal.ShuttingDown()
	}
	h := w.Header()
	h.Set("Content-Type", stream.mediaType)
	h.Set("Transfer-Encoding", "chunked")
	setHeaders(h)
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	for {
		select {
		case <-shuttingDown:
			return
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if err := stream.encode(w, ev); err != nil {
				return // the client left
			}
			if len(events) == 0 {
				flusher.Flush()
			}
		}
	}
}

// watchOptions is handlers.listOpts and handleWatch's timeout: the
// options of r, checked, and how long the watch lasts.
func (s WatchServer) watchOptions(r *http.Request) (WatchOptions, time.Duration, error) {
	opts := metainternalversion.ListOptions{}
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, &opts); err != nil {
		return WatchOptions{}, 0, apierrors.NewBadRequest(err.Error())
	}
	// Kubernetes' WatchList feature, on by default since v1.34.
	metainternalversion.SetListOptionsDefaults(&opts, true)
	if errs := metainternalversionvalidation.ValidateListOptions(&opts, true); len(errs) > 0 {
		return WatchOptions{}, 0, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "ListOptions"}, "", errs)
	}
	out := WatchOptions{ResourceVersion: opts.ResourceVersion, SendInitialEvents: opts.SendInitialEvents, AllowBookmarks: opts.AllowWatchBookmarks}
	info, _ := request.RequestInfoFrom(r.Context())
	if info != nil {
		out.Namespace, out.Name = info.Namespace, info.Name
	}
	if out.Name != "" {
		// A watch of one object is a watch with its name as field selector.
		if opts.FieldSelector != nil && !opts.FieldSelector.Empty() {
			if name, ok := opts.FieldSelector.RequiresExactMatch("metadata.name"); !ok || name != out.Name {
				return WatchOptions{}, 0, apierrors.NewBadRequest("fieldSelector metadata.name doesn't match requested name")
			}
		} else {
			opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", out.Name)
		}
	}
	sel, err := requestinfo.NewSelectors(opts.LabelSelector, opts.FieldSelector)
	if err != nil {
		return WatchOptions{}, 0, err
	}
	out.Selectors = sel
	var timeout time.Duration
	if opts.TimeoutSeconds != nil {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	if timeout == 0 {
		min := cmpOr(int64(s.MinRequestTimeout), int64(DefaultMinRequestTimeout))
		timeout = time.Duration(float64(min) * (rand.Float64() + 1.0))
	}
	return out, timeout, nil
}

// eventEncoder writes watch events as handlers' watchEncoder does: each
// object (converted) as the embedded encoder writes it, in a WatchEvent,
// in a frame.
type eventEncoder struct {
	e         *discovery.Endpoint
	target    *schema.GroupVersionKind
	tableOpts *metav1.TableOptions
	protobuf  bool
	mediaType string
}

// newEventEncoder is serveWatchHandler: the Table options, then the stream
// media type Accept asks for (406 when it has none).
func newEventEncoder(r *http.Request, e *discovery.Endpoint, restr restrictions, target *schema.GroupVersionKind) (*eventEncoder, error) {
	enc := &eventEncoder{e: e, target: target}
	var err error
	if enc.tableOpts, err = tableOptions(r, target); err != nil {
		return nil, err
	}
	opts, ok := negotiation.MediaType(r.Header.Get("Accept"), infos, restr)
	if !ok || opts.Accepted.StreamSerializer == nil {
		return nil, &apierrors.StatusError{ErrStatus: *negotiation.NotAcceptable(negotiation.StreamMediaTypes(infos))}
	}
	enc.protobuf = opts.Index == protobufIndex
	enc.mediaType = opts.Accepted.MediaType
	if enc.protobuf {
		enc.mediaType += ";stream=watch"
	}
	return enc, nil
}

func (enc *eventEncoder) encode(w io.Writer, ev Event) error {
	obj, err := transform(enc.e, shapeOf(ev.Object), ev.Object, enc.target, enc.tableOpts)
	if err != nil {
		// kube-apiserver encodes the unconverted object with the
		// conversion's serializer, which only knows meta.k8s.io's kinds:
		// the encoding fails and the watch ends (a PartialObjectMetadataList
		// of a watch event, for one).
		return err
	}
	if enc.tableOpts != nil {
		enc.tableOpts.NoHeaders = true // the headers come once
	}
	if enc.protobuf {
		embedded, err := runtime.Encode(protobufSerializer, obj.(runtime.Object))
		if err != nil {
			return err
		}
		event := &metav1.WatchEvent{Type: string(ev.Type), Object: runtime.RawExtension{Raw: embedded}}
		return rawProtobuf.Encode(event, protobuf.LengthDelimitedFramer.NewFrameWriter(w))
	}
	embedded, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(&metav1.WatchEvent{Type: string(ev.Type), Object: runtime.RawExtension{Raw: embedded}})
}
