package authz

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	"github.com/aggauth/aggauth/internal/health"
)

// Defaults of Options; they are Kubernetes' delegated authorization defaults
// where Kubernetes has one.
const (
	DefaultAllowTTL           = 10 * time.Second
	DefaultDenyTTL            = 10 * time.Second
	DefaultMaxEntries         = 8192
	DefaultMaxBytes           = 8 << 20
	DefaultMaxAttributeBytes  = 10000
	DefaultTimeout            = 30 * time.Second
	DefaultMaxInFlight        = 1000
	DefaultMaxInFlightPerUser = 64
	DefaultMaxInFlightBytes   = 16 << 20
)

// DefaultRetryBackoff is Kubernetes' webhook retry backoff: 5 attempts, waiting
// about 500 ms, 750 ms, 1.1 s and 1.7 s (each +0-20%) in between.
func DefaultRetryBackoff() wait.Backoff {
	return wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}
}

// DefaultAlwaysAllowPaths are the paths Kubernetes' delegated authorization
// allows without a review: the health endpoints.
func DefaultAlwaysAllowPaths() []string { return slices.Clone(health.Paths) }

// DefaultAlwaysAllowGroups are the groups Kubernetes' delegated authorization
// allows without a review. The aggregator's availability probe runs as
// system:masters.
func DefaultAlwaysAllowGroups() []string { return []string{"system:masters"} }

// Options configures an Authorizer. Only Client is required; the zero value
// of every other field is Kubernetes' delegated authorization configuration.
type Options struct {
	// Client sends the SubjectAccessReviews. Required: NewReviewClient, or
	// client-go's clientset.AuthorizationV1().SubjectAccessReviews().
	Client SubjectAccessReviewCreator

	// AllowTTL is how long an allowed review is cached. Default 10 s; negative
	// disables caching of allows.
	AllowTTL time.Duration
	// DenyTTL is how long a denied or no-opinion review is cached. Default
	// 10 s; negative disables caching of denials.
	DenyTTL time.Duration
	// MaxEntries bounds the number of cached reviews. Default 8192.
	MaxEntries int
	// MaxBytes bounds the memory of the cached reviews, counted as a fixed
	// overhead per entry plus the length of its reason. Default 8 MiB.
	MaxBytes int64
	// MaxAttributeBytes is the size of the requester-controlled attributes
	// (namespace, verb, group, version, resource, subresource, name and path)
	// from which a review is no longer cached, as in Kubernetes. Default 10000.
	MaxAttributeBytes int
	// Timeout bounds one review, retries included. The review runs detached from
	// the requests waiting for it, so that a cancelled request does not fail the
	// others. Default 30 s.
	Timeout time.Duration
	// RetryBackoff is the retry schedule for retriable errors (connection reset,
	// 500, 504, 429, Retry-After); Steps is the number of attempts. Default
	// DefaultRetryBackoff() (5 attempts); Steps 1 disables retries.
	RetryBackoff wait.Backoff
	// MaxInFlight bounds the reviews in flight at once, waiting for the
	// client's rate limiter, for kube-apiserver or for a retry; 4 times as
	// many cache misses may wait to start one. A cache miss that cannot start a review at
	// once waits in its user's queue, for at most 5 s; when a review ends,
	// the next to start is that of the user with the fewest reviews in
	// flight, so that a flood by many users delays a newcomer by one review,
	// not by the whole flood. A miss that can neither start nor wait (the
	// queues are full and no user has a longer queue than its own, see
	// internal/flight) or waited 5 s is refused with an error wrapping
	// ErrTooManyInFlight (the middleware answers 429 with Retry-After).
	// Joining a review in flight is always possible. Default 1000.
	MaxInFlight int
	// MaxInFlightPerUser bounds the reviews in flight for one user, and its
	// misses waiting to start one, so that one caller sending requests that
	// all miss the cache (random names or selectors) cannot take the whole
	// of MaxInFlight. Default 64.
	MaxInFlightPerUser int
	// MaxInFlightBytes bounds the memory held by the reviews in flight (their
	// cache keys, which hold the requester-controlled attributes, plus 1 KiB
	// each), and apart from it that of the misses waiting to start one.
	// Default 16 MiB.
	MaxInFlightBytes int64
	// AlwaysAllowPaths are non-resource paths allowed without a review, with
	// Kubernetes' rules: exact match, a leading "/" optional, a trailing "*"
	// matches a prefix. nil means DefaultAlwaysAllowPaths(); an empty, non-nil
	// slice allows no path.
	AlwaysAllowPaths []string
	// AlwaysAllowGroups are groups whose members are allowed everything without
	// a review. nil means DefaultAlwaysAllowGroups(); an empty, non-nil slice
	// allows no group.
	AlwaysAllowGroups []string
	// StaleIfError, when positive, lets a previous allow for the same review,
	// answered less than StaleIfError ago, answer a request when kube-apiserver
	// cannot be reached. It trades a window of continued access (a revoked
	// permission keeps working during an outage, for at most StaleIfError) for
	// availability during that outage. Default 0: off, every failure is a 503.
	//
	// "Cannot be reached" is exactly: the review's last attempt failed in the
	// HTTP round trip (no connection, connection reset or lost, no answer
	// within the client's per-request timeout, ReviewClientOptions.Timeout) or was
	// answered 429 or 5xx, while the review's own Timeout had not passed.
	// Nothing decided locally qualifies: not a wait for the client's rate
	// limiter, not the review's Timeout (it also bounds that wait), not a
	// cancellation, not ErrTooManyInFlight. So a caller cannot bring an old
	// allow back by flooding while kube-apiserver is up and answering.
	StaleIfError time.Duration
	// Clock is used for cache expiry and retry waits. Default the real clock.
	Clock clock.WithTicker
	// Logger receives review failures. Default slog.Default().
	Logger *slog.Logger
}

// withDefaults validates o and fills in its defaults.
func (o Options) withDefaults() (Options, error) {
	o.AllowTTL = cmp.Or(o.AllowTTL, DefaultAllowTTL)
	o.DenyTTL = cmp.Or(o.DenyTTL, DefaultDenyTTL)
	o.MaxEntries = cmp.Or(o.MaxEntries, DefaultMaxEntries)
	o.MaxBytes = cmp.Or(o.MaxBytes, DefaultMaxBytes)
	o.MaxAttributeBytes = cmp.Or(o.MaxAttributeBytes, DefaultMaxAttributeBytes)
	o.Timeout = cmp.Or(o.Timeout, DefaultTimeout)
	if o.RetryBackoff == (wait.Backoff{}) {
		o.RetryBackoff = DefaultRetryBackoff()
	}
	o.MaxInFlight = cmp.Or(o.MaxInFlight, DefaultMaxInFlight)
	o.MaxInFlightPerUser = cmp.Or(o.MaxInFlightPerUser, min(DefaultMaxInFlightPerUser, o.MaxInFlight))
	o.MaxInFlightBytes = cmp.Or(o.MaxInFlightBytes, DefaultMaxInFlightBytes)
	if o.AlwaysAllowPaths == nil {
		o.AlwaysAllowPaths = DefaultAlwaysAllowPaths()
	}
	if o.AlwaysAllowGroups == nil {
		o.AlwaysAllowGroups = DefaultAlwaysAllowGroups()
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch {
	case o.MaxEntries < 0, o.MaxBytes < 0, o.MaxAttributeBytes < 0, o.MaxInFlight < 0, o.MaxInFlightPerUser < 0, o.MaxInFlightBytes < 0:
		return o, errors.New("authz: MaxEntries, MaxBytes, MaxAttributeBytes, MaxInFlight, MaxInFlightPerUser and MaxInFlightBytes must not be negative")
	case o.Timeout < 0, o.StaleIfError < 0:
		return o, errors.New("authz: Timeout and StaleIfError must not be negative")
	case o.RetryBackoff.Steps < 1:
		return o, errors.New("authz: RetryBackoff.Steps must be at least 1")
	}
	return o, nil
}

// pathMatcher is Kubernetes' always-allow path authorizer
// (k8s.io/apiserver/pkg/authorization/path) as an exact-match set and prefixes.
type pathMatcher struct {
	exact    map[string]struct{}
	prefixes []string
}

func newPathMatcher(paths []string) (pathMatcher, error) {
	m := pathMatcher{exact: make(map[string]struct{}, len(paths))}
	for _, p := range paths {
		p = strings.TrimPrefix(p, "/")
		if len(p) == 0 {
			m.exact[p] = struct{}{}
			continue
		}
		if strings.ContainsRune(p[:len(p)-1], '*') {
			return m, fmt.Errorf("authz: only a trailing * is allowed in always-allow path %q", p)
		}
		if strings.HasSuffix(p, "*") {
			m.prefixes = append(m.prefixes, p[:len(p)-1])
		} else {
			m.exact[p] = struct{}{}
		}
	}
	return m, nil
}

func (m *pathMatcher) match(path string) bool {
	path = strings.TrimPrefix(path, "/")
	if _, ok := m.exact[path]; ok {
		return true
	}
	for _, p := range m.prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}
