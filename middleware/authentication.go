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

	"github.com/aggauth/aggauth/internal/idheaders"
	"github.com/aggauth/aggauth/internal/logs"
	"github.com/aggauth/aggauth/pipeline"
	"github.com/aggauth/aggauth/status"
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
//   - on a *status.Refusal (authn's 429 for a bearer token that would need
//     one more TokenReview than the authenticator's bounds allow) the
//     response is its Status with Retry-After, like kube-apiserver's
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
	reason       func(error) string // the authenticator's FailureReason, or failureReason
	retryAfter   time.Duration
}

// headerClearer is implemented by authenticators that know which identity
// headers their configuration uses (authn.Union, authn.FrontProxy).
type headerClearer interface {
	ClearHeaders(http.Header)
}

// onePass is implemented by an authenticator that reads an identity and
// clears the identity headers in one pass (authn.Union). It is used only when
// OnePass returns the authenticator itself: a type embedding one has the
// methods promoted, and its own AuthenticateRequest and ClearHeaders would be
// bypassed by them.
type onePass interface {
	OnePass() authenticator.Request
	AuthenticateAndClear(*http.Request) (*authenticator.Response, bool, error)
}

// failureReasoner is implemented by authenticators that tell why a request
// was not authenticated (authn's: see authn.FailureReason), for the metrics.
type failureReasoner interface {
	FailureReason(error) string
}

// The reasons of failureReason, authn.ReasonNoCredentials and
// authn.ReasonOther.
const (
	reasonNoCredentials = "no_credentials"
	reasonOther         = "other"
)

// failureReason is the reason of a failure of an authenticator that does not
// tell.
func failureReason(err error) string {
	if err == nil {
		return reasonNoCredentials
	}
	return reasonOther
}

// NewAuthentication checks opts and returns the step.
func NewAuthentication(opts AuthenticationOptions) (*Authentication, error) {
	if opts.Authenticator == nil {
		return nil, errors.New("middleware: AuthenticationOptions.Authenticator is required")
	}
	a := &Authentication{
		log:   logs.NewLimited(opts.Logger),
		clear: idheaders.ClearStandard,
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "aggauth", Subsystem: "authn", Name: "failures_total",
			Help: "Requests not authenticated, by reason (see authn.FailureReason): answered 401, or 429 for token_too_many_in_flight.",
		}, []string{"reason"}),
		reason:     failureReason,
		retryAfter: opts.RetryAfter,
	}
	auth := opts.Authenticator
	if fr, ok := auth.(failureReasoner); ok {
		a.reason = fr.FailureReason
	}
	a.authenticate = (&group.AuthenticatedGroupAdder{Authenticator: auth}).AuthenticateRequest
	if op, ok := auth.(onePass); ok && op.OnePass() == auth {
		// It adds system:authenticated itself, and clears as it reads.
		a.authenticate, a.clear = op.AuthenticateAndClear, nil
	} else if hc, ok := auth.(headerClearer); ok {
		a.clear = hc.ClearHeaders
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
		reason := a.reason(err)
		a.failures.WithLabelValues(reason).Inc()
		if err != nil {
			a.log.Log(slog.LevelInfo, "request not authenticated", "reason", reason, "path", logs.Cut(r.URL.Path, logs.MaxQuoted))
		}
		if ref := status.RefusalOf(err); ref != nil {
			// Still a request nobody authenticated: over HTTP/2 its
			// connection closes too.
			if r.ProtoMajor == 2 {
				w.Header().Set("Connection", "close")
			}
			WriteStatus(w, status.WithRetryAfter(ref.Status, a.retryAfter))
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
