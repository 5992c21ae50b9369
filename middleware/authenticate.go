package middleware

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/logs"
)

// AuthenticateOptions configures the Authenticate middleware.
type AuthenticateOptions struct {
	// Authenticator decides who is calling. Required. Usually an *authn.Union;
	// any Kubernetes authenticator.Request works.
	Authenticator authenticator.Request

	// Logger receives authentication errors at Info level (clients cause
	// them), a few a second at most, each with its reason
	// (authn.FailureReason) and the request path cut to 64 bytes and escaped;
	// never the error's text, which may repeat what the client sent.
	// Default: slog.Default().
	Logger *slog.Logger
}

// headerClearer is implemented by authenticators that know which identity headers
// their configuration uses (authn.Union, authn.FrontProxy).
type headerClearer interface {
	ClearHeaders(http.Header)
}

// Authenticate returns a middleware that authenticates every request with
// opts.Authenticator, as kube-apiserver's WithAuthentication filter does:
//
//   - on success the user is stored with k8s.io/apiserver's request.WithUser
//     (read it with request.UserFrom) and the next handler runs;
//   - on an error, or when no authenticator has an opinion, the response is 401
//     with the Status body kube-apiserver writes ("Unauthorized"), and over
//     HTTP/2 the connection is closed, as kube-apiserver does against
//     unauthenticated HTTP/2 floods.
//
// Before the next handler runs, the Authorization header and every standard
// (X-Remote-User, X-Remote-Uid, X-Remote-Group, X-Remote-Extra-*) and configured
// identity header are removed, whoever sent them.
func Authenticate(opts AuthenticateOptions) (func(http.Handler) http.Handler, error) {
	a, err := newAuthenticateStep(opts)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u := a.authenticate(w, r); u != nil {
				next.ServeHTTP(w, r.WithContext(request.WithUser(r.Context(), u)))
			}
		})
	}, nil
}

// authenticateStep is the work of the Authenticate middleware, shared with the
// composed Chain.
type authenticateStep struct {
	auth     authenticator.Request
	log      *logs.Limited
	clear    func(http.Header)
	failures *prometheus.CounterVec
}

// newAuthenticateStep checks opts and fills in their defaults.
func newAuthenticateStep(opts AuthenticateOptions) (*authenticateStep, error) {
	if opts.Authenticator == nil {
		return nil, errors.New("middleware: the Authenticator option is required")
	}
	a := &authenticateStep{
		auth:  opts.Authenticator,
		log:   logs.NewLimited(opts.Logger),
		clear: authn.ClearHeaders,
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "aggauth", Subsystem: "authn", Name: "failures_total",
			Help: "Requests answered 401, by reason (see authn.FailureReason).",
		}, []string{"reason"}),
	}
	if hc, ok := opts.Authenticator.(headerClearer); ok {
		a.clear = hc.ClearHeaders
	}
	return a, nil
}

// authenticate returns the caller, with the identity headers removed from r, or
// writes the 401 and returns nil.
func (a *authenticateStep) authenticate(w http.ResponseWriter, r *http.Request) user.Info {
	resp, ok, err := a.auth.AuthenticateRequest(r)
	if err != nil || !ok {
		reason := authn.FailureReason(err)
		a.failures.WithLabelValues(reason).Inc()
		if err != nil {
			a.log.Log(slog.LevelInfo, "request not authenticated", "reason", reason, "path", logs.Quote(r.URL.Path, logs.MaxQuoted))
		}
		Unauthorized(w, r)
		return nil
	}
	a.clear(r.Header)
	if r.ProtoMajor == 2 && resp.User.GetName() == user.Anonymous {
		// kube-apiserver's UnauthenticatedHTTP2DOSMitigation.
		w.Header().Set("Connection", "close")
	}
	return resp.User
}

// Unauthorized writes kube-apiserver's 401 response for a request that could not be
// authenticated. Over HTTP/2 it also asks to close the connection.
func Unauthorized(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 2 {
		w.Header().Set("Connection", "close")
	}
	WriteStatus(w, apierrors.NewUnauthorized("Unauthorized"))
}
