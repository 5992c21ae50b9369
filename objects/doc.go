// Package objects writes a handler's objects, lists and watch streams as
// kube-apiserver writes them, so that kubectl, client-go's informers and the
// cluster's controllers read an extension apiserver's resources as they read
// a CustomResourceDefinition's.
//
// A handler behind the chain and discovery.Handler (which puts the request's
// declared Endpoint in its context) needs four calls:
//
//	func (s *store) list(w http.ResponseWriter, r *http.Request) {
//		if objects.IsWatch(r) { // ?watch=true, declared verb watch
//			objects.ServeWatch(w, r, s.events) // a *objects.Broadcaster[*Widget]
//			return
//		}
//		objects.Write(w, r, http.StatusOK, s.List(r.PathValue("ns"))) // a *WidgetList
//	}
//
//	func (s *store) create(w http.ResponseWriter, r *http.Request) {
//		var in Widget
//		if err := objects.Decode(r, &in); err != nil {
//			objects.WriteError(w, r, err) // 406, 415, 413, 422 or 400
//			return
//		}
//		...
//		objects.Write(w, r, http.StatusCreated, created)
//	}
//
// and the store calls s.events.Emit(watch.Added, obj) after each change.
//
// # Write
//
// Write negotiates the Accept header as k8s.io/apiserver's handlers do
// (handlers/negotiation, transformResponseObject, WriteObjectNegotiated):
//
//   - application/json, indented for ?pretty=true and for curl, wget and
//     browsers; application/yaml; application/vnd.kubernetes.protobuf only
//     for a type with generated protobuf methods (for other types that
//     alternative is skipped, as for a CustomResourceDefinition);
//   - ;as=Table;g=meta.k8s.io;v=v1 (or v1beta1, which kube-apiserver v1.37
//     still serves), JSON or YAML: the Table kubectl get prints, with the
//     Endpoint's printer columns (discovery.Resource.Columns, a
//     CustomResourceDefinition's additionalPrinterColumns: Name, the
//     declared columns or Age), and ?includeObject=None, Metadata (the
//     default) or Object;
//   - ;as=PartialObjectMetadata and ;as=PartialObjectMetadataList
//     (meta.k8s.io v1 or v1beta1), in any of the three: what metadata
//     informers (the garbage collector, namespace and quota controllers)
//     ask for;
//   - a 406 NotAcceptable Status with Kubernetes' message when no
//     alternative can be served, and Kubernetes' 406 for a conversion that
//     does not apply (PartialObjectMetadata of a list, PartialObjectMetadataList
//     of an object).
//
// An object or list without apiVersion and kind gets the Endpoint's Kind or
// ListKind, as Kubernetes' codecs set them, and an empty list has "items":[];
// obj itself is not changed. WriteError writes any error as
// responsewriters.ErrorNegotiated does: the Status of an apierrors error, in
// the negotiated media type, with Retry-After when it asks for a delay.
//
// # Decode
//
// Decode reads a create or update body with kube-apiserver's checks, in its
// order: 406 when the answer could not be written, 415 for a Content-Type
// other than JSON or YAML, 413 beyond 3 MiB (Decoder.MaxBodyBytes), 422 for
// bad ?fieldValidation=, ?dryRun= or ?fieldManager=, 400 for a body that is
// not the Endpoint's kind and version, and unknown or duplicate fields as
// warnings (Warn, the default), a 400 (Strict) or nothing (Ignore).
//
// # Watch
//
// ServeWatch answers ?watch=true as handlers.ListResource and WatchServer
// do: list options read and checked (with the WatchList feature
// kube-apiserver v1.37 enables by default, so a watch from resourceVersion ""
// or "0" is a watch-list request, which client-go's informers send), the
// stream negotiated (JSON, protobuf for metadata and for protobuf types,
// Table with the column headers in the first event only,
// PartialObjectMetadata), one {"type":...,"object":...} document per event,
// flushed whenever no other event is waiting, until ?timeoutSeconds= (by
// default a random time between 30 and 60 minutes, WatchServer), the source
// ends it, the client leaves, or the server shuts down (the generic
// apiserver's request.ServerShutdownSignalFrom).
//
// Broadcaster is an in-memory event source, a small watch cache that a
// store feeds with Emit under its lock: it keeps the current objects (the
// Added events a watch starts with) and a history bounded in events and
// bytes (a watch from an older resourceVersion gets the 410 Expired error
// event "too old resource version", and the informer lists again). Each
// watcher has a bounded buffer; one that falls further behind is ended, as
// the watch cache ends it, and the client watches again from where it was.
// The store's resourceVersions must be increasing decimal integers, and a
// list's resourceVersion the last emitted one (Broadcaster.ResourceVersion).
//
// # Tests
//
// The differential tests send the same requests to these functions and to
// k8s.io/apiserver v0.37.2's own handlers (GetResource, ListResource with a
// CustomResourceDefinition-like RequestScope and apiextensions' table
// convertor, ErrorNegotiated) for a corpus of Accept headers (kubectl's,
// client-go's typed, dynamic and metadata clients', curl's and browsers',
// each conversion in each media type, and refusals), queries (pretty,
// includeObject, list and watch options) and User-Agents, over objects and
// lists of a JSON-only type and of a protobuf type, and watch streams of the
// same events: the status, Content-Type and bytes must be equal. client-go's
// metadata and dynamic informers sync against a Broadcaster-backed handler
// and follow its changes, with and without watch-list requests.
//
// # Where it differs from Kubernetes
//
//   - Only the first 64 clauses of an Accept header are read (Kubernetes
//     sorts all of them, however many).
//   - Decode does not decode protobuf bodies: its 415 lists JSON and YAML
//     only. A body of another kind in the same group is refused with
//     Kubernetes' words, without its scheme's name.
//   - Write negotiates when it is called: a handler that fails before
//     writing answers with its error (WriteError), where kube-apiserver
//     answers 406 first. Decode checks the Accept header first, so that a
//     create is not made that cannot be answered.
//   - Answers are not gzip-compressed (kube-apiserver compresses answers
//     over 128 KiB for clients that accept gzip): put a compression
//     middleware in front if lists are large.
//   - Broadcaster ends a watcher whose buffer is full at once; the watch
//     cache first waits for it a little while. It keeps the history in
//     memory only: after a restart, informers list again (the 410 path), as
//     they do after a kube-apiserver restart.
//   - Watches over websockets (which kubectl and client-go do not use) and
//     CBOR (off by default in v1.37) are not served.
package objects
