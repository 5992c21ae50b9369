package middleware

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authorization/authorizer"

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
// then Authenticate, RequestAttributes, Authorize, Admit and the next handler.
type Chain struct {
	opts ChainOptions
	wrap func(http.Handler) http.Handler
}

// NewChain checks opts and composes the chain.
func NewChain(opts ChainOptions) (*Chain, error) {
	if opts.Authorizer == nil {
		return nil, errors.New("middleware: ChainOptions.Authorizer is required")
	}
	authenticate, err := Authenticate(AuthenticateOptions{Authenticator: opts.Authenticator, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	authorize := Authorize(opts.Authorizer, opts.Authorize)
	steps := []func(http.Handler) http.Handler{authenticate, RequestAttributes, authorize}
	if opts.Admission != nil {
		admit, err := Admit(AdmitOptions{Admission: opts.Admission})
		if err != nil {
			return nil, err
		}
		steps = append(steps, admit)
	}
	c := &Chain{opts: opts}
	c.wrap = func(next http.Handler) http.Handler {
		for i := len(steps) - 1; i >= 0; i-- {
			next = steps[i](next)
		}
		return next
	}
	return c, nil
}

// Handler wraps next with the chain. It is a func(http.Handler) http.Handler.
func (c *Chain) Handler(next http.Handler) http.Handler {
	protected := c.wrap(next)
	if c.opts.NoHealthEndpoints {
		return protected
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/livez":
			writeOK(w)
		case "/readyz":
			if err := c.Ready(); err != nil {
				WriteStatus(w, notReady(err))
				return
			}
			writeOK(w)
		default:
			protected.ServeHTTP(w, r)
		}
	})
}

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

func notReady(err error) error {
	e := apierrors.NewServiceUnavailable("not ready: " + err.Error())
	return e
}

func writeOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write([]byte("ok"))
}
