package middleware

import (
	"errors"
	"log/slog"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/authn"
)

// AuthenticateOptions configures the Authenticate middleware.
type AuthenticateOptions struct {
	// Authenticator decides who is calling. Required. Usually an *authn.Union;
	// any Kubernetes authenticator.Request works.
	Authenticator authenticator.Request

	// Logger receives authentication errors (at Info level: clients cause them).
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
	if opts.Authenticator == nil {
		return nil, errors.New("middleware: AuthenticateOptions.Authenticator is required")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	clear := authn.ClearHeaders
	if hc, ok := opts.Authenticator.(headerClearer); ok {
		clear = hc.ClearHeaders
	}
	auth := opts.Authenticator
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			resp, ok, err := auth.AuthenticateRequest(r)
			if err != nil || !ok {
				if err != nil {
					logger.Info("unable to authenticate the request", "path", r.URL.Path, "err", err)
				}
				Unauthorized(w, r)
				return
			}
			clear(r.Header)
			if r.ProtoMajor == 2 && resp.User.GetName() == user.Anonymous {
				// kube-apiserver's UnauthenticatedHTTP2DOSMitigation.
				w.Header().Set("Connection", "close")
			}
			next.ServeHTTP(w, r.WithContext(request.WithUser(r.Context(), resp.User)))
		})
	}, nil
}

// Unauthorized writes kube-apiserver's 401 response for a request that could not be
// authenticated. Over HTTP/2 it also asks to close the connection.
func Unauthorized(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 2 {
		w.Header().Set("Connection", "close")
	}
	WriteStatus(w, apierrors.NewUnauthorized("Unauthorized"))
}
