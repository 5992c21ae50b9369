// Package serving is the rest of an extension apiserver's request path, the
// part kube-apiserver's generic apiserver does around its handler chain:
// secure serving with Kubernetes' flags, HTTP/2 tuned for a server behind
// the aggregator, graceful shutdown, and the request hygiene filters.
//
//	opts := serving.NewOptions()
//	opts.AddFlags(pflag.CommandLine) // --secure-port, --tls-cert-file, --shutdown-delay-duration ...
//	pflag.Parse()
//	srv, err := serving.New(*opts, chain, chain.Handler(mux)) // chain: *aggauth.Chain
//	if err != nil {
//		log.Fatal(err)
//	}
//	registry.MustRegister(srv.Collectors()...)
//	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
//	defer stop()
//	if err := srv.Run(ctx); err != nil { // nil after a graceful shutdown
//		log.Fatal(err)
//	}
//
// # Flags
//
// Options.AddFlags defines Kubernetes' secure serving and shutdown flags with
// their names, types and defaults (k8s.io/apiserver's SecureServingOptions,
// with NewRecommendedOptions' 1000 HTTP/2 streams, and ServerRunOptions):
// --bind-address, --secure-port (443), --cert-dir, --tls-cert-file,
// --tls-private-key-file, --tls-cipher-suites, --tls-curve-preferences,
// --tls-min-version, --disable-http2-serving,
// --http2-max-streams-per-connection, --permit-port-sharing,
// --permit-address-sharing, --request-timeout, --goaway-chance,
// --shutdown-delay-duration, --shutdown-send-retry-after,
// --max-requests-inflight (400) and --max-mutating-requests-inflight (200).
// One flag is the package's own: --max-request-body-bytes (3 MiB), the
// generic apiserver's MaxRequestBodyBytes, a configuration field there, not
// a flag. Not supported:
// --tls-sni-cert-key (one serving certificate; the aggregator asks for one
// name); insecure cipher suites and TLS versions before 1.2 are refused.
//
// # Serving
//
// Without --tls-cert-file, the certificate is read from --cert-dir
// (apiserver.crt, apiserver.key), generated self-signed there when absent, as
// the generic apiserver does. The TLS configuration comes from the chain
// (TLSConfigSource), which advertises the client CAs it trusts and reloads the
// certificate files when they change; the TLS flags apply on top. HTTP/2 is
// configured as the generic apiserver configures it for an aggregated server:
// 1000 concurrent streams, 256 KiB frames and stream buffers, a connection
// buffer of 256 KiB per stream; 90s idle timeout, 32s to read headers, 1 MiB
// of headers.
//
// # Request path
//
// The Server runs one pipeline (package pipeline) from the socket to the
// handler, outermost first in Kubernetes' order: AuditID, the request's
// RequestInfo (resolved once for every step and the handler), its metrics,
// Recover, the shutdown answers, CacheControl, Goaway, the in-flight
// tracking, Warnings, Timeout, then, when the handler is the chain's (its
// Handler is a pipeline), the chain's steps with the in-flight limit right
// before authorization, then the body limit, and the handler. Every step
// shares the request's one state and one writer. Each filter is also
// exported, a func(http.Handler) http.Handler, for servers of their own.
//
// Long-running requests are watches (and /debug/pprof/ paths), as in the
// generic apiserver, plus what Options.LongRunning reports: declare there the
// endpoints that upgrade the connection (WebSocket, SPDY), as Kubernetes
// declares its connect subresources. An Upgrade header alone makes no
// request long-running: any client could add one to skip the deadline and
// the in-flight limits. Long-running requests have no deadline, hold no in-flight
// slot, never get a GOAWAY, and are cancelled at shutdown. They go through
// every step with http.Flusher, http.Hijacker and http.ResponseController's
// methods working.
//
// # In-flight limits
//
// As the generic apiserver's WithMaxInFlightLimit: the requests in flight
// that are not long-running are bounded, read-only ones (get, list) by
// --max-requests-inflight and the others by --max-mutating-requests-inflight
// (0: no bound). Beyond its bound a request is answered 429 with
// Retry-After: 1, unless its user is in system:masters, as the aggregator's
// availability probe is. Kubernetes answers the text "Too many requests,
// please try again later."; the Server answers a Status with that message,
// which kubectl prints as any refusal and client-go reads as the same
// TooManyRequests error with the same delay. The limit runs after
// authentication and impersonation, right before authorization, as in
// Kubernetes, when the handler given to New is the chain's Handler (a
// pipeline): a request refused there costs no SubjectAccessReview. Behind a
// router that runs the chain itself (chi's r.Use(chain.Handler)), the
// limit runs before the router, before authentication: system:masters is
// then not told apart. The health endpoints, answered by the chain before
// authentication, never wait for a slot (Kubernetes' /healthz does, and is
// refused with the rest).
//
// Priority and fairness (APF) is not offered. In an extension apiserver it
// needs RBAC on the flowcontrol API's flowschemas and
// prioritylevelconfigurations and a flowcontrol API version the cluster
// serves; cert-manager's webhook and others broke on it (cert-manager#6035,
// kubernetes#124533) and many turn it off. And behind the aggregator it
// would queue what kube-apiserver's own priority and fairness has already
// admitted, classified by user and flow schema: every request forwarded by
// the aggregator has passed it. The in-flight limits are the generic
// apiserver's behaviour with APF off: a backstop for the extension's own
// capacity.
//
// # Request bodies
//
// A request body is bounded by --max-request-body-bytes (3 MiB, Kubernetes'
// MaxRequestBodyBytes; negative: no bound): a request whose Content-Length
// says more is answered 413 RequestEntityTooLarge before the handler runs,
// and a handler that reads more gets an error (a 413 Status error that also
// answers errors.As for an *http.MaxBytesError) while the Server answers 413
// in its place: what the handler writes afterwards is dropped. The bound
// runs right before the handler, after the chain's refusals, as Kubernetes'
// handlers read bodies after its filters. objects.Decode reads the same
// bound from the request (pipeline.State.MaxBodyBytes), so that the two
// agree.
//
// # Shutdown
//
// When Run's context ends: /readyz answers 503 at once (the Server answers it
// before the handler), the rest is served for --shutdown-delay-duration, then
// no new request is taken and the requests in flight get up to
// --request-timeout to finish (Server.Run says more, also on
// --shutdown-send-retry-after).
//
// An HTTP/2 client's connection ends with a GOAWAY (net/http's graceful
// shutdown, as in the generic apiserver): it names the last request the
// server took, and a request the client sent before the GOAWAY reached it
// is not processed. Go's HTTP/2 client sends such a request again when it
// can rewind its body (client-go can); kube-apiserver's aggregator, which
// streams the caller's body to the extension, cannot, and answers that one
// request 503 (the caller sees "the server is currently unable to handle the
// request"). A rolling restart behind the aggregator can therefore lose a
// create or an update in the instant of the GOAWAY, behind this package as
// behind a generic apiserver: net/http sends a single GOAWAY, not the
// announcing one RFC 9113 section 6.8 allows before it. The end-to-end
// scenario 15 restarts an example server under load through kube-apiserver:
// it loses no read, and reports the creates that cross the GOAWAY, which
// neither process processed (none in most runs; in one, kube-apiserver
// answered one create of 603 503 at the GOAWAY).
//
// # Metrics
//
// Server.Collectors returns Kubernetes' request metrics with their names,
// types, labels, buckets and help (k8s.io/apiserver's
// pkg/endpoints/metrics), so that dashboards, alerts and SLO rules written
// for kube-apiserver read them unchanged: apiserver_request_total,
// apiserver_request_duration_seconds,
// apiserver_request_sli_duration_seconds, apiserver_response_sizes,
// apiserver_longrunning_requests, apiserver_current_inflight_requests,
// apiserver_request_terminations_total and apiserver_request_aborts_total.
// The verb is Kubernetes' (CleanVerb: GET or LIST, WATCH for a list that
// watches, APPLY for a server-side apply, CONNECT for its connect
// subresources, other for an unknown method), and so are scope (cluster,
// namespace, resource), dry_run, component (apiserver; empty for the health
// endpoints, as Kubernetes' health checks report) and code.
//
// Labels are bounded whatever clients send: group, version, resource and
// subresource are those of a resource the server declares
// (Options.Resources, usually from its discovery declaration), else empty;
// for a request that is not for a resource, subresource is its path for the
// health endpoints and /apis, else empty. No label holds a user, a
// namespace, a name or any other path. Each request records its series
// without a label lookup (a table of children).
//
// The differences from the generic apiserver: every request the Server
// answers is counted, the chain's refusals (401, 403, 404 ...) included,
// where Kubernetes counts what reaches its REST handlers plus its 429s; a
// 504 at the deadline is counted with that code (Kubernetes counts what the
// handler wrote after it); the current in-flight gauge is the highest count
// of the last one to two seconds, read when scraped (Kubernetes' goroutine
// samples it every second); a watch on a deprecated /watch/ path is WATCH
// in every metric (Kubernetes' filters report it LIST or GET).
//
// Given the *aggauth.Chain as its TLS source, Server.Collectors returns the
// chain's collectors too, among them Kubernetes' metrics of the reviews sent
// to kube-apiserver (apiserver_delegated_authn_request_total,
// ..._duration_seconds, and the authz pair): one registration holds them all.
package serving
