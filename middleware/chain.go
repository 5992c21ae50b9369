package middleware

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aggauth/aggauth/internal/health"
	"github.com/aggauth/aggauth/internal/logs"
	"github.com/aggauth/aggauth/pipeline"
	"github.com/aggauth/aggauth/status"
)

// ReadyCheck is one condition /readyz waits for.
type ReadyCheck struct {
	// Name appears in the /readyz answer.
	Name string
	// Check returns nil when ready, or why not.
	Check func() error
}

// ChainOptions configures NewChain: the options of each step, built by the
// step's own constructor.
type ChainOptions struct {
	// Authentication configures who is calling. Its Authenticator is required.
	Authentication AuthenticationOptions
	// Impersonation configures acting as another user. Its Authorizer
	// defaults to Authorization's.
	Impersonation ImpersonationOptions
	// Authorization configures whether they may. Its Authorizer is required.
	Authorization AuthorizationOptions
	// Admission, when its Admission is set, checks mutating requests after
	// authorization. Default: no admission step.
	Admission AdmissionOptions
	// ReadyChecks must all pass for /readyz to answer 200. /readyz answers
	// anyone (it needs no credentials) and names the failed checks with
	// "reason withheld", as kube-apiserver does; the reasons go to
	// Authentication's Logger, and to the callers allowed to get
	// /readyz/<name> (authenticated and authorized like any path). Default
	// none.
	ReadyChecks []ReadyCheck
	// NoHealthEndpoints leaves /healthz, /livez and /readyz to the next
	// handler (they then need authentication like any path). Default false:
	// the chain answers them itself, without authentication.
	NoHealthEndpoints bool
}

// Chain is the whole request path of an extension apiserver, in this order:
// the health endpoints, then the steps Authentication, RequestAttributes,
// Impersonation, Authorization and Admission, then the next handler. The steps
// are the same values their constructors return, run in one handler: the
// request and its context are copied once for all of them, instead of once per
// step.
type Chain struct {
	steps       []pipeline.Step // health, authentication, attributes, impersonation, authorization, admission, checks
	readyChecks []ReadyCheck
	log         *logs.Limited
}

// NewChain builds each step from opts and composes them.
func NewChain(opts ChainOptions) (*Chain, error) {
	attributes, _ := NewRequestAttributes(RequestAttributesOptions{})
	if opts.Impersonation.Authorizer == nil {
		opts.Impersonation.Authorizer = opts.Authorization.Authorizer
	}
	// One Retry-After for the chain's refusals unless a step sets its own.
	for _, d := range []*time.Duration{&opts.Impersonation.RetryAfter, &opts.Authentication.RetryAfter} {
		if *d == 0 {
			*d = opts.Authorization.RetryAfter
		}
	}
	authentication, err := NewAuthentication(opts.Authentication)
	if err != nil {
		return nil, err
	}
	authorization, err := NewAuthorization(opts.Authorization)
	if err != nil {
		return nil, err
	}
	impersonation, err := NewImpersonation(opts.Impersonation)
	if err != nil {
		return nil, err
	}
	c := &Chain{readyChecks: opts.ReadyChecks, log: logs.NewLimited(opts.Authentication.Logger)}
	if !opts.NoHealthEndpoints {
		c.steps = append(c.steps, healthStep{c})
	}
	c.steps = append(c.steps, authentication, attributes, impersonation, authorization)
	if opts.Admission.Admission != nil {
		admission, err := NewAdmission(opts.Admission)
		if err != nil {
			return nil, err
		}
		c.steps = append(c.steps, admission)
	}
	if !opts.NoHealthEndpoints {
		c.steps = append(c.steps, readyCheckStep{c})
	}
	return c, nil
}

// Handler wraps next with the chain: a *pipeline.Pipeline, whose steps join
// those of a serving.Server it is given to. It is a func(http.Handler)
// http.Handler.
func (c *Chain) Handler(next http.Handler) http.Handler { return pipeline.New(next, c.steps...) }

// Steps returns the chain's steps, in order, for a pipeline of one's own.
func (c *Chain) Steps() []pipeline.Step { return c.steps }

// healthStep answers /healthz, /livez and /readyz without authentication.
type healthStep struct{ c *Chain }

func (h healthStep) Serve(w http.ResponseWriter, r *http.Request, _ *pipeline.State) *http.Request {
	if !health.Is(r.URL.Path) {
		return r
	}
	h.c.serveHealth(w, r)
	return nil
}

// readyCheckStep answers /readyz/<name> for a ready check of that name, to
// a caller the chain authenticated and authorized: whether the check passes
// and if not why.
type readyCheckStep struct{ c *Chain }

func (rc readyCheckStep) Serve(w http.ResponseWriter, r *http.Request, _ *pipeline.State) *http.Request {
	name, ok := strings.CutPrefix(r.URL.Path, "/readyz/")
	if !ok {
		return r
	}
	for _, check := range rc.c.readyChecks {
		if check.Name == name {
			if err := check.Check(); err != nil {
				WriteStatus(w, status.Unavailable("not ready: "+check.Name+": "+err.Error(), 0))
				return nil
			}
			writeOK(w)
			return nil
		}
	}
	return r
}

// serveHealth answers /healthz, /livez and /readyz. /readyz names the failed
// checks but withholds why, as kube-apiserver does: anyone may ask, and a
// reason may tell what the server trusts (the ConfigMap, a parse error).
func (c *Chain) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/readyz" {
		var failed []string
		for _, rc := range c.readyChecks {
			if err := rc.Check(); err != nil {
				failed = append(failed, rc.Name+": reason withheld")
				c.log.Log(slog.LevelInfo, "not ready", "check", rc.Name, "err", logs.Cut(err.Error(), logs.MaxQuotedError))
			}
		}
		if failed != nil {
			WriteStatus(w, status.Unavailable("not ready: "+strings.Join(failed, "; "), 0))
			return
		}
	}
	writeOK(w)
}

// Collectors returns the chain's Prometheus collectors, for the caller to
// register: aggauth_authn_failures_total{reason}.
func (c *Chain) Collectors() []prometheus.Collector {
	for _, st := range c.steps {
		if a, ok := st.(*Authentication); ok {
			return a.Collectors()
		}
	}
	return nil
}

// Ready returns nil when every ready check passes, or the failures.
func (c *Chain) Ready() error {
	var failed []string
	for _, rc := range c.readyChecks {
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
