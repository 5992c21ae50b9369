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
// --shutdown-delay-duration and --shutdown-send-retry-after. Not supported:
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
// Handler is a pipeline), the chain's steps, and the handler. Every step
// shares the request's one state and one writer. Each filter is also
// exported, a func(http.Handler) http.Handler, for servers of their own.
//
// Long-running requests are watches (and /debug/pprof/ paths), as in the
// generic apiserver, plus what Options.LongRunning reports: they have no
// deadline, never get a GOAWAY, and are cancelled at shutdown.
//
// # Shutdown
//
// When Run's context ends: /readyz answers 503 at once (the Server answers it
// before the handler), the rest is served for --shutdown-delay-duration, then
// no new request is taken and the requests in flight get up to
// --request-timeout to finish (Server.Run says more, also on
// --shutdown-send-retry-after).
//
// # Metrics
//
// Server.Collectors returns aggauth_serving_requests_total{verb,code},
// aggauth_serving_request_duration_seconds{verb} and
// aggauth_serving_request_aborts_total{verb}: the verb is Kubernetes' metric
// verb (GET, LIST, WATCH, POST, PUT, PATCH, APPLY, DELETE, DELETECOLLECTION,
// HEAD, OPTIONS, CONNECT) or OTHER, the code the HTTP status code.
package serving
