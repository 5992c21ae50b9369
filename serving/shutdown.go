package serving

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aggauth/aggauth/pipeline"
	"github.com/aggauth/aggauth/status"
)

// The phases of a Server's life.
const (
	phaseServing      int32 = iota
	phaseShuttingDown       // /readyz fails; everything else is served
	phaseDraining           // no new request is taken
)

// sendRetryAfterShutdownTimeout bounds the HTTP server's shutdown once the
// requests in flight are done, with --shutdown-send-retry-after: net/http
// waits 1s for the peer's answer to a GOAWAY.
const sendRetryAfterShutdownTimeout = 2 * time.Second

// errShuttingDown is why a shutting down server is not ready.
var errShuttingDown = errors.New("shutting down")

var (
	// notReady is /readyz's answer once shutdown started, in the format of the
	// chain's failed ready checks (a check named "shutdown").
	notReady = status.Unavailable("not ready: shutdown: "+errShuttingDown.Error(), 0)
	// retryLater is kube-apiserver's answer, with --shutdown-send-retry-after,
	// to a request that comes when the server no longer takes any
	// (WithRetryAfter), as a Status.
	retryLater = status.TooManyRequests("The apiserver is shutting down, please try again later.", 5*time.Second)
	// shuttingDown is kube-apiserver's answer to a request that comes too late
	// for the requests in flight to include it (WithWaitGroup).
	shuttingDown = status.Unavailable("apiserver is shutting down", time.Second)
)

// Ready returns nil until the server starts shutting down, then an error:
// /readyz then answers 503 through the Server (which answers it before the
// handler). It fits a ready check named "shutdown", for a /readyz served
// elsewhere.
func (s *Server) Ready() error {
	if s.phase.Load() != phaseServing {
		return errShuttingDown
	}
	return nil
}

// shutdown is the graceful shutdown Run documents.
func (s *Server) shutdown() {
	o := s.opts
	s.phase.CompareAndSwap(phaseServing, phaseShuttingDown)
	o.Logger.Info("shutting down: /readyz fails", "delay", o.ShutdownDelayDuration)
	s.sleep(o.ShutdownDelayDuration, nil)

	s.phase.Store(phaseDraining)
	s.inflight.close()
	s.drain()
	timeout := o.RequestTimeout
	if o.ShutdownSendRetryAfter {
		o.Logger.Info("shutting down: answering new requests 429 until the requests in flight are done")
		s.sleep(o.RequestTimeout, s.inflight.drained)
		timeout = sendRetryAfterShutdownTimeout
	}
	o.Logger.Info("shutting down: closing the listener and waiting for the requests in flight", "timeout", timeout)
	ctx, cancel := context.WithTimeout(s.closed, timeout)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		o.Logger.Warn("shutting down: closing the connections still open", "err", err)
		_ = s.http.Close()
	}
}

// sleep waits for d, or until done is closed, or Close.
func (s *Server) sleep(d time.Duration, done <-chan struct{}) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-done:
	case <-s.closed.Done():
	}
}

// lifecycle answers /readyz once shutdown started, and, with
// ShutdownSendRetryAfter, every request but the health and metrics ones once
// the server no longer takes requests.
type lifecycle struct{ s *Server }

func (l lifecycle) Serve(w http.ResponseWriter, r *http.Request, _ *pipeline.State) *http.Request {
	switch phase := l.s.phase.Load(); {
	case phase == phaseServing:
	case r.URL.Path == "/readyz":
		status.Write(w, notReady)
		return nil
	case phase == phaseDraining && l.s.opts.ShutdownSendRetryAfter && !exemptFromRetryAfter(r):
		w.Header().Set("Connection", "close")
		status.Write(w, retryLater)
		return nil
	}
	return r
}

// exemptFromRetryAfter reports whether r is still served once the server no
// longer takes requests: the health probes and metrics scrapes, as in
// Kubernetes (its loopback client, which it also exempts, does not exist
// here).
func exemptFromRetryAfter(r *http.Request) bool {
	for _, p := range []string{"/readyz", "/livez", "/healthz", "/metrics"} {
		if strings.HasPrefix(r.URL.Path, p) {
			return true
		}
	}
	return false
}

// track counts the requests in flight that are not long-running, and runs
// long-running ones with a context that ends when the server stops taking
// requests. A request that comes too late to be counted gets 503 with
// Retry-After, as in Kubernetes' WithWaitGroup.
type track struct{ s *Server }

// cancelKey holds, in the state of a long-running request, what Finish
// releases.
type cancelKey struct{}

type cancels struct {
	cancel context.CancelFunc
	stop   func() bool
}

func (t track) Serve(w http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	if s.LongRunning {
		ctx, cancel := context.WithCancel(s.Parent())
		s.SetParent(ctx)
		s.WithValue(cancelKey{}, &cancels{cancel, context.AfterFunc(t.s.draining, cancel)})
		return r
	}
	if !t.s.inflight.add() {
		if !exemptFromRetryAfter(r) {
			status.Write(w, shuttingDown)
			return nil
		}
		s.WithValue(cancelKey{}, untracked)
	}
	return r
}

// untracked marks a request served while draining without being counted.
var untracked = &cancels{}

func (t track) Finish(s *pipeline.State) {
	switch c, _ := s.Value(cancelKey{}).(*cancels); {
	case c == untracked:
	case c != nil:
		c.stop()
		c.cancel()
	default:
		t.s.inflight.done()
	}
}

// inflight counts requests, as Kubernetes' SafeWaitGroup: once closed it
// takes no more, and drained is closed when the count reaches zero.
type inflight struct {
	n       atomic.Int64 // the count, plus closedBit once closed
	drained chan struct{}
	once    sync.Once
}

const closedBit = 1 << 62

// add counts one more request, or reports false once closed.
func (f *inflight) add() bool {
	if f.n.Add(1)&closedBit != 0 {
		f.done()
		return false
	}
	return true
}

func (f *inflight) done() {
	if f.n.Add(-1) == closedBit {
		f.once.Do(func() { close(f.drained) })
	}
}

func (f *inflight) close() {
	if f.n.Or(closedBit) == 0 {
		f.once.Do(func() { close(f.drained) })
	}
}
