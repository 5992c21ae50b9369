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
	"github.com/aggauth/aggauth/internal/retryafter"
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
	authentication *Authentication
	attributes     *RequestAttributes
	after          []step // impersonation, authorization, admission
	readyChecks    []ReadyCheck
	noHealth       bool
	log            *logs.Limited
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
	c := &Chain{
		authentication: authentication,
		attributes:     attributes,
		after:          []step{impersonation, authorization},
		readyChecks:    opts.ReadyChecks,
		noHealth:       opts.NoHealthEndpoints,
		log:            logs.NewLimited(opts.Authentication.Logger),
	}
	if opts.Admission.Admission != nil {
		admission, err := NewAdmission(opts.Admission)
		if err != nil {
			return nil, err
		}
		c.after = append(c.after, admission)
	}
	return c, nil
}

// Handler wraps next with the chain. It is a func(http.Handler) http.Handler.
func (c *Chain) Handler(next http.Handler) http.Handler {
	return &chainHandler{c: c, next: next}
}

// chainHandler is the chain in front of next. It calls the steps directly,
// without a handler per step: each call level is stack that the goroutine of
// a request (new for each one over HTTP/2) may have to grow into.
type chainHandler struct {
	c    *Chain
	next http.Handler
}

func (h *chainHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.c.noHealth {
		if health.Is(r.URL.Path) {
			h.c.serveHealth(w, r)
			return
		}
		if check := h.c.readyCheck(r.URL.Path); check != nil {
			h.c.serve(w, r, check)
			return
		}
	}
	h.c.serve(w, r, h.next)
}

// serve runs the steps, then next.
func (c *Chain) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	s := new(requestState)
	if r = c.authentication.serve(w, r, s); r == nil {
		return
	}
	if r = c.attributes.serve(w, r, s); r == nil {
		return
	}
	r = s.publish(r)
	for _, st := range c.after {
		if r = st.serve(w, r, s); r == nil {
			return
		}
	}
	next.ServeHTTP(w, r)
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
			WriteStatus(w, retryafter.Unavailable("not ready: "+strings.Join(failed, "; "), 0))
			return
		}
	}
	writeOK(w)
}

// readyCheck returns the handler of /readyz/<name> for a ready check of that
// name, or nil: it answers, to a caller the chain authorized, whether the
// check passes and if not why.
func (c *Chain) readyCheck(path string) http.Handler {
	name, ok := strings.CutPrefix(path, "/readyz/")
	if !ok {
		return nil
	}
	for _, rc := range c.readyChecks {
		if rc.Name == name {
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if err := rc.Check(); err != nil {
					WriteStatus(w, retryafter.Unavailable("not ready: "+rc.Name+": "+err.Error(), 0))
					return
				}
				writeOK(w)
			})
		}
	}
	return nil
}

// Collectors returns the chain's Prometheus collectors, for the caller to
// register: aggauth_authn_failures_total{reason}.
func (c *Chain) Collectors() []prometheus.Collector { return c.authentication.Collectors() }

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
