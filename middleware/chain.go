package middleware

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/admission"
)

// ReadyCheck is one condition /readyz waits for.
type ReadyCheck struct {
	// Name appears in the /readyz answer.
	Name string
	// Check returns nil when ready, or why not.
	Check func() error
}

// ChainOptions configures NewChain.
type ChainOptions struct {
	// Authenticator decides who is calling. Required.
	Authenticator authenticator.Request
	// Authorizer decides whether they may. Required (pass an authorizer that
	// always allows, explicitly, to turn authorization off).
	Authorizer authorizer.Authorizer
	// Admission checks mutating requests after authorization. Default none.
	Admission admission.Interface
	// ReadyChecks must all pass for /readyz to answer 200. Default none.
	ReadyChecks []ReadyCheck
	// NoHealthEndpoints leaves /healthz, /livez and /readyz to the next handler
	// (they then need authentication like any path). Default false: the chain
	// answers them itself, without authentication.
	NoHealthEndpoints bool
	// Authorize configures the authorization step.
	Authorize AuthorizeOptions
	// Logger receives authentication errors. Default slog.Default().
	Logger *slog.Logger
}

// Chain is the whole request path of an extension apiserver: health endpoints,
// then the work of Authenticate, RequestAttributes, Authorize and Admit, and the
// next handler. It does what those middlewares do in a row, in one handler: the
// request and its context are copied once instead of once per step.
type Chain struct {
	opts     ChainOptions
	authn    *authenticateStep
	refusals refusals
}

// NewChain checks opts and composes the chain.
func NewChain(opts ChainOptions) (*Chain, error) {
	if opts.Authorizer == nil {
		return nil, errors.New("middleware: ChainOptions.Authorizer is required")
	}
	a, err := newAuthenticateStep(AuthenticateOptions{Authenticator: opts.Authenticator, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	return &Chain{opts: opts, authn: a, refusals: opts.Authorize.refusals()}, nil
}

// serve is Authenticate, RequestAttributes, Authorize and Admit in one.
func (c *Chain) serve(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := c.authn.authenticate(w, r)
		if u == nil {
			return
		}
		s := new(requestState)
		if err := s.attrs.Init(r, u); err != nil {
			WriteStatus(w, apierrors.NewBadRequest(err.Error()))
			return
		}
		r = r.WithContext(withState(request.WithUser(r.Context(), u), s))
		if !authorized(w, r, c.opts.Authorizer, s, c.refusals) {
			return
		}
		if c.opts.Admission != nil && !admitted(w, r, c.opts.Admission, s.attrs.RequestInfo()) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Handler wraps next with the chain. It is a func(http.Handler) http.Handler.
func (c *Chain) Handler(next http.Handler) http.Handler {
	protected := c.serve(next)
	if c.opts.NoHealthEndpoints {
		return protected
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/livez":
			writeOK(w)
		case "/readyz":
			if err := c.Ready(); err != nil {
				WriteStatus(w, apierrors.NewServiceUnavailable("not ready: "+err.Error()))
				return
			}
			writeOK(w)
		default:
			protected.ServeHTTP(w, r)
		}
	})
}

// Collectors returns the chain's Prometheus collectors, for the caller to
// register: aggauth_authn_failures_total{reason}.
func (c *Chain) Collectors() []prometheus.Collector { return []prometheus.Collector{c.authn.failures} }

// Ready returns nil when every ready check passes, or the failures.
func (c *Chain) Ready() error {
	var failed []string
	for _, rc := range c.opts.ReadyChecks {
		if err := rc.Check(); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", rc.Name, err))
		}
	}
	if failed == nil {
		return nil
	}
	return errors.New(strings.Join(failed, "; "))
}

func writeOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write([]byte("ok"))
}
