package authn

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/utils/clock"

	"github.com/aggauth/aggauth/internal/flight"
	"github.com/aggauth/aggauth/internal/logs"
)

// Defaults of TokenOptions; Kubernetes' delegated authentication defaults
// where Kubernetes has one.
const (
	DefaultTokenCacheTTL             = 10 * time.Second
	DefaultTokenMaxEntries           = 4096
	DefaultTokenMaxBytes             = 8 << 20
	DefaultTokenMaxFailureEntries    = 1024
	DefaultTokenMaxFailureBytes      = 512 << 10
	DefaultTokenTimeout              = 10 * time.Second
	DefaultTokenMaxInFlight          = 1000
	DefaultTokenMaxInFlightPerClient = 64
	DefaultTokenMaxInFlightBytes     = 16 << 20
)

// DefaultTokenRetryBackoff is Kubernetes' authentication webhook retry
// backoff: 5 attempts, waiting about 500 ms, 750 ms, 1.1 s and 1.7 s (each
// +0-20%) in between.
func DefaultTokenRetryBackoff() wait.Backoff {
	return wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}
}

// TokenOptions configures a Token authenticator. Only Client is required; the
// zero value of every other field is Kubernetes' delegated authentication
// default.
type TokenOptions struct {
	// Client sends the TokenReviews. Required: NewReviewClient, or
	// client-go's clientset.AuthenticationV1().TokenReviews().
	Client TokenReviewCreator

	// Audiences are the identifiers of this server that tokens must be bound
	// to (kube-apiserver's --api-audiences). When set, every review asks for
	// them (spec.audiences) and a token is accepted only when the audiences
	// kube-apiserver answers (or, when it answers none, these) share at least
	// one with them; the response carries the shared ones. Audiences that an
	// outer filter stored in the request context (authenticator.WithAudiences)
	// take precedence. Default: none, no audience check, as in an extension
	// apiserver built on k8s.io/apiserver: kube-apiserver then checks the
	// token against its own audiences.
	Audiences []string

	// CacheTTL is how long an authenticated token is cached; never past the
	// token's own expiry when it is a JWT (see jwtExpiry). Default 10 s;
	// negative: not cached.
	CacheTTL time.Duration
	// FailureTTL is how long a token kube-apiserver did not authenticate is
	// cached. Reviews that failed, or whose status carries an error, are
	// never cached. Default CacheTTL (Kubernetes uses one TTL for both);
	// negative: not cached.
	FailureTTL time.Duration
	// MaxEntries and MaxBytes bound the cache of authenticated tokens.
	// Default 4096 entries and 8 MiB.
	MaxEntries int
	MaxBytes   int64
	// MaxFailureEntries and MaxFailureBytes bound the separate cache of
	// tokens not authenticated, so that random tokens never evict valid ones.
	// Default 1024 entries and 512 KiB.
	MaxFailureEntries int
	MaxFailureBytes   int64

	// MaxInFlight bounds the reviews in flight at once; 4 times as many cache
	// misses may wait to start one. A miss that cannot start a review at once waits
	// in its client's queue, for at most 5 s; when a review ends, the next to
	// start is that of the client with the fewest reviews in flight. A miss
	// that can neither start nor wait (the queues are full and no client has
	// a longer queue than its own, see internal/flight) or waited 5 s fails
	// with an error wrapping ErrTooManyInFlight (the middleware answers 429
	// with Retry-After); joining a review in flight for the same token is
	// always possible. Default 1000.
	MaxInFlight int
	// MaxInFlightPerClient bounds the reviews in flight for one client, and
	// its misses waiting to start one. A client is identified by its IP
	// address (the caller is not authenticated yet); an IPv6 address by its
	// /64 prefix, which one host usually holds whole. Clients behind one
	// address (NAT, a sidecar) share the bound: a valid token sent while
	// another client of the address floods waits its turn in the address's
	// queue instead of being refused. Default 64.
	MaxInFlightPerClient int
	// MaxInFlightBytes bounds the memory held by the reviews in flight (the
	// tokens they carry, plus 1 KiB each), and apart from it that of the
	// misses waiting to start one, so that large tokens cannot hold memory
	// in proportion to their number. Default 16 MiB.
	MaxInFlightBytes int64
	// Timeout bounds one review, retries included (Kubernetes'
	// TokenRequestTimeout). The review runs detached from the requests
	// waiting for it, and is cancelled when they have all left. Default 10 s.
	Timeout time.Duration
	// RetryBackoff is the retry schedule for retriable errors (connection
	// reset, 500, 504, 429, Retry-After); Steps is the number of attempts.
	// Default DefaultTokenRetryBackoff() (5 attempts); Steps 1 disables
	// retries.
	RetryBackoff wait.Backoff
	// Clock is used for cache expiry and retry waits. Default the real clock.
	Clock clock.WithTicker
	// Logger receives failed reviews, a few a second at most, never with the
	// token. Default slog.Default().
	Logger *slog.Logger
}

// ErrTooManyInFlight is wrapped by the error a Token returns when a review
// would exceed TokenOptions.MaxInFlight or MaxInFlightPerClient. The
// middleware answers it with 429 and Retry-After.
var ErrTooManyInFlight = errors.New("too many token reviews in flight")

var _ authenticator.Request = (*Token)(nil)

// Token authenticates requests that carry a bearer token by asking
// kube-apiserver with a TokenReview (authentication.k8s.io/v1), with the
// answers of k8s.io/apiserver's delegated token authentication (bearertoken
// in front of the cached webhook token authenticator):
//
//   - no Authorization header, another scheme, or a malformed one: no opinion;
//   - a token kube-apiserver authenticates: its user (name, uid, groups,
//     extra), and the Authorization header is deleted from the request;
//   - a token it does not authenticate, or not for the audiences: the error
//     "invalid bearer token" (or the review's own error text);
//   - a review that could not be completed: an error.
//
// Answers are cached (see TokenOptions) under an HMAC of the token, and
// concurrent identical misses share one review. It is safe for concurrent use
// and owns no background goroutine: a review runs in a goroutine only while in
// flight, and at most MaxInFlight do.
type Token struct {
	client      TokenReviewCreator
	opts        TokenOptions
	keys        *tokenKeyer
	cache       tokenCache
	flights     *flight.Group[tokenKey, *tokenEntry]
	metrics     *tokenMetrics
	log         *logs.Limited
	reviewsSent atomic.Uint64
}

// NewToken returns a Token sending its reviews through opts.Client. Invalid
// options are an error.
func NewToken(opts TokenOptions) (*Token, error) {
	if opts.Client == nil {
		return nil, errors.New("authn: TokenOptions.Client is required")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	t := &Token{
		client:  o.Client,
		opts:    o,
		keys:    newTokenKeyer(),
		cache:   newTokenCache(o),
		metrics: newTokenMetrics(),
		log:     logs.NewLimited(o.Logger),
	}
	// review recovers from a panic of the client itself, to keep the token
	// out of the log; this is for a panic anywhere else in the flight.
	t.flights = &flight.Group[tokenKey, *tokenEntry]{
		Max: o.MaxInFlight, MaxPerOwner: o.MaxInFlightPerClient, MaxBytes: o.MaxInFlightBytes, Timeout: o.Timeout,
		OnPanic: func(any) { t.log.Log(slog.LevelError, "authn: TokenReview flight panicked") },
	}
	return t, nil
}

// withDefaults validates o and fills in its defaults.
func (o TokenOptions) withDefaults() (TokenOptions, error) {
	o.CacheTTL = cmp.Or(o.CacheTTL, DefaultTokenCacheTTL)
	o.FailureTTL = cmp.Or(o.FailureTTL, o.CacheTTL)
	o.MaxEntries = cmp.Or(o.MaxEntries, DefaultTokenMaxEntries)
	o.MaxBytes = cmp.Or(o.MaxBytes, DefaultTokenMaxBytes)
	o.MaxFailureEntries = cmp.Or(o.MaxFailureEntries, DefaultTokenMaxFailureEntries)
	o.MaxFailureBytes = cmp.Or(o.MaxFailureBytes, DefaultTokenMaxFailureBytes)
	o.MaxInFlight = cmp.Or(o.MaxInFlight, DefaultTokenMaxInFlight)
	o.MaxInFlightPerClient = cmp.Or(o.MaxInFlightPerClient, min(DefaultTokenMaxInFlightPerClient, o.MaxInFlight))
	o.MaxInFlightBytes = cmp.Or(o.MaxInFlightBytes, DefaultTokenMaxInFlightBytes)
	o.Timeout = cmp.Or(o.Timeout, DefaultTokenTimeout)
	if o.RetryBackoff == (wait.Backoff{}) {
		o.RetryBackoff = DefaultTokenRetryBackoff()
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Audiences = slices.Clone(o.Audiences)
	switch {
	case o.MaxEntries < 0, o.MaxBytes < 0, o.MaxFailureEntries < 0, o.MaxFailureBytes < 0,
		o.MaxInFlight < 0, o.MaxInFlightPerClient < 0, o.MaxInFlightBytes < 0, o.Timeout < 0:
		return o, errors.New("authn: the bounds and Timeout of TokenOptions must not be negative")
	case o.RetryBackoff.Steps < 1:
		return o, errors.New("authn: TokenOptions.RetryBackoff.Steps must be at least 1")
	}
	return o, nil
}

// AuthenticateRequest implements authenticator.Request: the bearer token of
// the Authorization header, then the one a WebSocket client sends as a
// subprotocol (see authenticateWebSocket), as Kubernetes' delegated
// authentication tries its bearertoken and websocket authenticators.
func (t *Token) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	resp, ok, err := t.authenticate(req, false)
	if ok {
		return resp, true, nil
	}
	wresp, wok, werr := t.authenticateWebSocket(req, false)
	switch {
	case wok:
		return wresp, true, nil
	case err == nil:
		return nil, false, werr
	case werr == nil:
		return nil, false, err
	}
	return nil, false, utilerrors.NewAggregate([]error{err, werr})
}

// authenticate answers req from its Authorization header; authenticated asks
// for the groups with system:authenticated added (Union's
// AuthenticatedGroupAdder), which a cache hit then hands out without copying.
func (t *Token) authenticate(req *http.Request, authenticated bool) (*authenticator.Response, bool, error) {
	token, ok := bearerToken(req)
	if !ok {
		return nil, false, nil
	}
	resp, ok, err := t.authenticateToken(req, token, authenticated)
	if ok {
		// As Kubernetes' bearertoken: nobody downstream is tempted to reuse it.
		delete(req.Header, "Authorization")
	}
	return resp, ok, err
}

// authenticateWebSocket answers a WebSocket upgrade from the bearer token it
// sends as the subprotocol base64url.bearer.authorization.k8s.io.<token
// in unpadded base64url> (browsers' WebSocket clients cannot set an
// Authorization header), exactly as Kubernetes' websocket
// ProtocolAuthenticator reads it: only on a WebSocket upgrade; one such
// subprotocol at most, valid base64url of UTF-8, beside at least one other
// subprotocol (to be echoed back); on success the token's subprotocol is
// removed from Sec-WebSocket-Protocol, the others kept.
func (t *Token) authenticateWebSocket(req *http.Request, authenticated bool) (*authenticator.Response, bool, error) {
	token, err := webSocketToken(req)
	if err != nil || token == "" {
		return nil, false, err
	}
	resp, ok, err := t.authenticateToken(req, token, authenticated)
	if ok {
		req.Header.Set(webSocketProtocolHeader, webSocketOthers(req.Header[webSocketProtocolHeader]))
	}
	return resp, ok, err
}

// authenticateToken reviews token (or finds its review in the cache).
func (t *Token) authenticateToken(req *http.Request, token string, authenticated bool) (*authenticator.Response, bool, error) {
	ctx := req.Context()
	auds, check := t.audiences(ctx)
	key := t.keys.key(token, auds, check)
	e, hit := t.cache.get(key, t.opts.Clock.Now())
	if hit {
		t.metrics.hits.Inc()
	} else {
		t.metrics.misses.Inc()
		var err error
		if e, err = t.await(ctx, key, clientOf(req), token, auds, check); err != nil {
			return nil, false, err
		}
	}
	if e.err != nil {
		t.metrics.invalid.Inc()
		return nil, false, e.err
	}
	t.metrics.success.Inc()
	return e.response(authenticated), true, nil
}

// audiences are the audiences a review is checked against, and whether there
// is a check at all: the request context's (an outer filter's), else
// TokenOptions.Audiences when set, as kube-apiserver's authentication filter
// stores its --api-audiences in the context.
func (t *Token) audiences(ctx context.Context) (authenticator.Audiences, bool) {
	if auds, ok := authenticator.AudiencesFrom(ctx); ok {
		return auds, true
	}
	if len(t.opts.Audiences) > 0 {
		return t.opts.Audiences, true
	}
	return nil, false
}

// Collectors returns the Prometheus collectors of the authenticator, for the
// caller to register: requests by result, cache hits and misses, coalesced
// waits, failed reviews, and the latency of each review request. None has a
// label a client controls.
func (t *Token) Collectors() []prometheus.Collector { return t.metrics.collectors() }

// ReviewsSent returns the number of TokenReview requests sent so far, retries
// included.
func (t *Token) ReviewsSent() uint64 { return t.reviewsSent.Load() }

// InFlight returns the number of reviews in flight (abandoned ones included,
// until they have stopped).
func (t *Token) InFlight() int { return t.flights.Running() }
