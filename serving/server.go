package serving

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aggauth/aggauth/internal/httpserver"
	"github.com/aggauth/aggauth/internal/logs"
	"github.com/aggauth/aggauth/pipeline"
)

// Server serves an extension apiserver's handler over HTTPS as the generic
// apiserver does: Kubernetes' TLS and HTTP/2 settings, the request hygiene
// filters in Kubernetes' order, and graceful shutdown. It is built by New,
// runs with Run, and stops when Run's context ends (gracefully) or on Close
// (at once).
type Server struct {
	opts    Options // with defaults
	ln      net.Listener
	http    *http.Server
	metrics *metrics
	// tlsSource is New's; Collectors includes its collectors, if any.
	tlsSource TLSConfigSource

	phase    atomic.Int32 // phaseServing, then phaseShuttingDown, then phaseDraining
	inflight inflight     // requests that are not long-running

	// draining ends when the server stops taking requests: long-running
	// requests are then cancelled. closed ends on Close.
	draining, closed context.Context
	drain, close     context.CancelFunc
	closeOnce        sync.Once
	running          atomic.Bool
}

// New builds a Server for handler (usually chain.Handler(yourAPI)) from opts:
// it validates them, reads or generates the serving certificate, builds the
// TLS configuration with tlsSource (usually the *aggauth.Chain, so that the
// client CAs it trusts are advertised; nil: no CA advertised) and opens the
// listener, so that the address is known (Addr) and taken before Run. When it
// fails, what it opened is closed, opts.Listener included.
func New(opts Options, tlsSource TLSConfigSource, handler http.Handler) (*Server, error) {
	s, err := newServer(opts, tlsSource, handler)
	if err != nil && opts.Listener != nil {
		_ = opts.Listener.Close()
	}
	return s, err
}

func newServer(opts Options, tlsSource TLSConfigSource, handler http.Handler) (*Server, error) {
	if handler == nil {
		return nil, errors.New("serving: New needs a handler")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	settings, err := newTLSSettings(o)
	if err != nil {
		return nil, err
	}
	bind := o.BindAddress
	if a, ok := addrOf(o.Listener); ok {
		bind = a.IP
	}
	certFile, keyFile, err := certFiles(o, bind, o.Logger)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := serverTLSConfig(tlsSource, certFile, keyFile, settings, o.Logger)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, metrics: newMetrics(o.Resources), tlsSource: tlsSource}
	s.inflight.drained = make(chan struct{})
	s.draining, s.drain = context.WithCancel(context.Background())
	s.closed, s.close = context.WithCancel(context.Background())
	if s.ln, err = listen(o); err != nil {
		return nil, err
	}
	s.http = s.newHTTPServer(tlsCfg, s.buildHandler(handler))
	return s, nil
}

func addrOf(ln net.Listener) (*net.TCPAddr, bool) {
	if ln == nil {
		return nil, false
	}
	a, ok := ln.Addr().(*net.TCPAddr)
	return a, ok
}

// buildHandler composes the Server's steps in front of handler, outermost
// first in the generic apiserver's order (DefaultBuildHandlerChain): audit ID
// and RequestInfo, metrics, panic recovery, shutdown answers, Cache-Control,
// GOAWAY, in-flight tracking, warnings, timeout. The metrics come before the
// panic recovery (Kubernetes' latency trackers come after) so that a panic is
// counted as the 500 it becomes. When handler is a pipeline (the chain's
// Handler), its steps join the Server's: one pipeline from the socket to the
// handler, with one request state and one writer; the in-flight limit then
// runs after authentication and impersonation, right before authorization,
// as Kubernetes' MaxInFlight does (else right before the handler). The
// body limit runs last, right before the handler.
func (s *Server) buildHandler(handler http.Handler) http.Handler {
	o := s.opts
	steps := []pipeline.Step{
		auditIDStep{},
		requestStep{o.LongRunning},
		metricsStep{s.metrics},
		newRecover(o.Logger),
		lifecycle{s},
		cacheControl{},
	}
	if !o.DisableHTTP2 && o.GoawayChance > 0 {
		steps = append(steps, goaway{o.GoawayChance})
	}
	// The warning recorder before the timeout (Kubernetes has it after): its
	// writes go to the timeout's writer all the same, and no step after the
	// timeout publishes a value the steps before it read concurrently.
	steps = append(steps, track{s}, warningsStep{}, newTimeout(o.RequestTimeout, o.Logger))
	if p, ok := handler.(*pipeline.Pipeline); ok {
		steps = append(steps, p.Steps()...)
		handler = p.Next()
	}
	steps = pipeline.InsertBefore(steps, pipeline.KindAuthorization, newInflightStep(o, s.metrics.inflight))
	steps = append(steps, bodyLimit{o.MaxRequestBodyBytes})
	return pipeline.New(handler, steps...)
}

func (s *Server) newHTTPServer(tlsCfg *tls.Config, h http.Handler) *http.Server {
	o := s.opts
	return httpserver.New(h, tlsCfg, o.DisableHTTP2, o.HTTP2MaxStreamsPerConnection,
		log.New(errorLogWriter{logs.NewLimited(o.Logger)}, "", 0))
}

// errorLogWriter sends net/http's error log to a rate-limited logger, TLS
// handshake errors (which any client can cause) at debug level, as Kubernetes
// logs them at V(5).
type errorLogWriter struct{ log *logs.Limited }

func (w errorLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	level := slog.LevelWarn
	if strings.Contains(msg, "TLS handshake error") {
		level = slog.LevelDebug
	}
	w.log.Log(level, "https server", "msg", logs.Cut(msg, logs.MaxQuotedError))
	return len(p), nil
}

// Handler returns the server's request pipeline: its steps in front of the
// handler New was given (with the chain's steps when that handler is the
// chain's), as the server runs it; for tests and for serving it in process.
func (s *Server) Handler() http.Handler { return s.http.Handler }

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Collectors returns the server's Prometheus collectors, for the caller to
// register: Kubernetes' request metrics, as the generic apiserver records
// them (see the package documentation):
//
//   - apiserver_request_total{verb, dry_run, group, version, resource,
//     subresource, scope, component, code}
//   - apiserver_request_duration_seconds{verb, dry_run, group, version,
//     resource, subresource, scope, component}
//   - apiserver_request_sli_duration_seconds{verb, group, version, resource,
//     subresource, scope, component}
//   - apiserver_response_sizes{verb, group, version, resource, subresource,
//     scope, component}
//   - apiserver_longrunning_requests{verb, group, version, resource,
//     subresource, scope, component}
//   - apiserver_current_inflight_requests{request_kind}
//   - apiserver_request_terminations_total{verb, group, version, resource,
//     subresource, scope, component, code}
//   - apiserver_request_aborts_total{verb, group, version, resource,
//     subresource, scope}
//
// When the TLS source given to New has collectors of its own (the
// *aggauth.Chain: authentication, authorization, the delegated review
// metrics, the audit log), they come first: one registration holds
// everything the server and its chain record.
func (s *Server) Collectors() []prometheus.Collector {
	if c, ok := s.tlsSource.(interface{ Collectors() []prometheus.Collector }); ok {
		return append(c.Collectors(), s.metrics.collectors()...)
	}
	return s.metrics.collectors()
}

// Run serves until ctx ends, then shuts down as kube-apiserver does
// (preparedGenericAPIServer.RunWithContext), and returns nil once it is done;
// or it returns the error that stopped serving. It is called once.
//
// The shutdown:
//
//  1. /readyz answers 503 at once, while everything else is served for
//     ShutdownDelayDuration, so that load balancers take the server out;
//  2. then no new request is taken, and long-running requests are cancelled;
//  3. then either the listener closes (new connections are refused) and the
//     HTTP server shuts down, sending HTTP/2 clients a GOAWAY and waiting up
//     to RequestTimeout for the requests in flight; or, with
//     ShutdownSendRetryAfter, the listener stays open and new requests are
//     answered 429 with Retry-After and Connection: close until the requests
//     in flight are done (within RequestTimeout), and the HTTP server then
//     shuts down within 2s;
//  4. connections still open at the end are closed.
//
// Close cuts every wait short.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("serving: Run called twice")
	}
	defer s.Close()
	served := make(chan error, 1)
	go func() { served <- s.http.ServeTLS(s.ln, "", "") }()
	s.opts.Logger.Info("serving securely", "addr", s.Addr().String())
	select {
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	s.shutdown()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// Close stops the server at once: the listener and every connection are
// closed, long-running requests cancelled, and a Run in progress returns. It
// is safe to call more than once, and concurrently with Run.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.phase.Store(phaseDraining)
		s.inflight.close()
		s.close()
		s.drain()
		_ = s.http.Close()
		_ = s.ln.Close() // when Run never served it
	})
	return nil
}
