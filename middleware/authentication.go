package middleware

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/logs"
	"github.com/aggauth/aggauth/internal/retryafter"
	"github.com/aggauth/aggauth/pipeline"
)

// AuthenticationOptions configures NewAuthentication.
type AuthenticationOptions struct {
	// Authenticator decides who is calling. Required. Usually an *authn.Union;
	// any Kubernetes authenticator.Request works. Every user it authenticates
	// (but system:anonymous, and a user already in system:authenticated or
	// system:unauthenticated) gets the group system:authenticated, as
	// Kubernetes' delegating authentication wraps its union in an
	// AuthenticatedGroupAdder: RBAC bound to system:authenticated matches
	// however the chain is assembled (an *authn.Union adds it itself).
	Authenticator authenticator.Request

	// Logger receives authentication errors at Info level (clients cause
	// them), a few a second at most, each with its reason
	// (authn.FailureReason) and the request path cut to 64 bytes and escaped;
	// never the error's text, which may repeat what the client sent.
	// Default: slog.Default().
	Logger *slog.Logger

	// RetryAfter is the delay advised, in a Retry-After header and the Status
	// details, when a request is refused with 429 because too many token
	// reviews are in flight (authn.ErrTooManyInFlight), rounded up to whole
	// seconds. Default 1 s.
	RetryAfter time.Duration
}

// Authentication authenticates every request, as kube-apiserver's
// WithAuthentication filter does:
//
//   - on success the user is stored with k8s.io/apiserver's request.WithUser
//     (read it with request.UserFrom) and the next handler runs;
//   - on an error, or when no authenticator has an opinion, the response is
//     401 with the Status body kube-apiserver writes ("Unauthorized"), and
//     over HTTP/2 the connection is closed (kube-apiserver's
//     UnauthenticatedHTTP2DOSMitigation), so that one connection cannot
//     stream unauthenticated requests; an anonymous request over HTTP/2 closes
//     its connection too;
//   - on an error wrapping authn.ErrTooManyInFlight (a bearer token that
//     would need one more TokenReview than the authenticator's bounds allow)
//     the response is 429 with Retry-After, a Status like kube-apiserver's
//     max-in-flight refusals; it is still a request nobody authenticated, so
//     over HTTP/2 its connection is closed too.
//
// Before the next handler runs, the Authorization header and every standard
// (X-Remote-User, X-Remote-Uid, X-Remote-Group, X-Remote-Extra-*) and
// configured identity header are removed, whoever sent them. Failures are
// counted by reason in aggauth_authn_failures_total (Collectors).
type Authentication struct {
	log   *logs.Limited
	clear func(http.Header) // nil when the authenticator clears them itself
	// authenticate is the authenticator's AuthenticateAndClear, or its
	// AuthenticateRequest.
	authenticate func(*http.Request) (*authenticator.Response, bool, error)
	failures     *prometheus.CounterVec
	busy         error // the 429 answer
}

// headerClearer is implemented by authenticators that know which identity
// headers their configuration uses (authn.Union, authn.FrontProxy).
type headerClearer interface {
	ClearHeaders(http.Header)
}

// NewAuthentication checks opts and returns the step.
func NewAuthentication(opts AuthenticationOptions) (*Authentication, error) {
	if opts.Authenticator == nil {
		return nil, errors.New("middleware: AuthenticationOptions.Authenticator is required")
	}
	a := &Authentication{
		log:   logs.NewLimited(opts.Logger),
		clear: authn.ClearHeaders,
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "aggauth", Subsystem: "authn", Name: "failures_total",
			Help: "Requests not authenticated, by reason (see authn.FailureReason): answered 401, or 429 for token_too_many_in_flight.",
		}, []string{"reason"}),
		busy: retryafter.TooManyRequests("too many requests are waiting for their token review; retry later", opts.RetryAfter),
	}
	// An *authn.Union clears the headers as it authenticates, in fewer passes
	// over them. Only the Union itself: a type embedding it has the method
	// too, and would have its own AuthenticateRequest and ClearHeaders
	// bypassed by it.
	a.authenticate = (&group.AuthenticatedGroupAdder{Authenticator: opts.Authenticator}).AuthenticateRequest
	switch auth := opts.Authenticator.(type) {
	case *authn.Union:
		a.authenticate, a.clear = auth.AuthenticateAndClear, nil
	case headerClearer:
		a.clear = auth.ClearHeaders
	}
	return a, nil
}

// Handler wraps next with the step. It is a func(http.Handler) http.Handler.
func (a *Authentication) Handler(next http.Handler) http.Handler { return pipeline.New(next, a) }

// Collectors returns the step's Prometheus collectors, for the caller to
// register: aggauth_authn_failures_total{reason}.
func (a *Authentication) Collectors() []prometheus.Collector {
	return []prometheus.Collector{a.failures}
}

func (a *Authentication) Serve(w http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	resp, ok, err := a.authenticate(r)
	if err != nil || !ok {
		reason := authn.FailureReason(err)
		a.failures.WithLabelValues(reason).Inc()
		if err != nil {
			a.log.Log(slog.LevelInfo, "request not authenticated", "reason", reason, "path", logs.Cut(r.URL.Path, logs.MaxQuoted))
		}
		if errors.Is(err, authn.ErrTooManyInFlight) {
			if r.ProtoMajor == 2 {
				w.Header().Set("Connection", "close")
			}
			WriteStatus(w, a.busy)
			return nil
		}
		Unauthorized(w, r)
		return nil
	}
	if a.clear != nil {
		a.clear(r.Header)
	}
	if r.ProtoMajor == 2 && resp.User.GetName() == user.Anonymous {
		w.Header().Set("Connection", "close")
	}
	s.SetUser(resp.User)
	return r
}

// Unauthorized writes kube-apiserver's 401 response for a request that could
// not be authenticated. Over HTTP/2 it also asks to close the connection.
func Unauthorized(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 2 {
		w.Header().Set("Connection", "close")
	}
	WriteStatus(w, unauthorized)
}
