package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"

	"github.com/aggauth/aggauth/internal/flight"
	"github.com/aggauth/aggauth/internal/logs"
)

// SubjectAccessReviewCreator creates SubjectAccessReviews. client-go's
// authorizationv1client.SubjectAccessReviewInterface implements it.
type SubjectAccessReviewCreator interface {
	Create(ctx context.Context, sar *authorizationv1.SubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error)
}

// Clientset is the part of client-go's kubernetes.Interface the authorizer needs.
type Clientset interface {
	AuthorizationV1() authorizationv1client.AuthorizationV1Interface
}

var _ authorizer.Authorizer = (*Authorizer)(nil)

// errNoUser answers a request without a user, as Kubernetes' privileged-group
// authorizer does; it is never allowed.
var errNoUser = errors.New("authz: no user in the request attributes")

// Authorizer authorizes requests with SubjectAccessReviews sent to
// kube-apiserver, with the semantics of Kubernetes' delegated authorization
// (always-allow groups, then always-allow paths, then the webhook authorizer)
// and a cheaper cache: a hit costs an allocation-free encoding of the review's
// fields and a striped LRU lookup, and concurrent identical misses share one
// review.
//
// It is safe for concurrent use and owns no background goroutine: a review runs
// in a goroutine only while it is in flight, and at most MaxInFlight do.
type Authorizer struct {
	client     SubjectAccessReviewCreator
	opts       Options
	paths      pathMatcher
	keys       *keyer
	cache      *decisionCache
	flights    *flight.Group[string, *entry]
	metrics    *metrics
	sarsSent   atomic.Uint64
	log        reviewLog
	cacheAllow bool
	cacheDeny  bool
}

// New returns an Authorizer that sends its reviews through opts.Client. Invalid
// options are an error.
func New(opts Options) (*Authorizer, error) {
	client := opts.Client
	if client == nil {
		return nil, errors.New("authz: Options.Client is required")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	paths, err := newPathMatcher(o.AlwaysAllowPaths)
	if err != nil {
		return nil, err
	}
	a := &Authorizer{
		client:     client,
		opts:       o,
		paths:      paths,
		keys:       newKeyer(),
		cache:      newDecisionCache(o.MaxEntries, o.MaxBytes),
		metrics:    newMetrics(),
		log:        reviewLog{logs.NewLimited(o.Logger)},
		cacheAllow: o.AllowTTL > 0,
		cacheDeny:  o.DenyTTL > 0,
	}
	a.flights = &flight.Group[string, *entry]{
		Max: o.MaxInFlight, MaxPerOwner: o.MaxInFlightPerUser, MaxBytes: o.MaxInFlightBytes, Timeout: o.Timeout,
		OnPanic: func(v any) {
			a.log.Log(slog.LevelError, "authz: SubjectAccessReview client panicked", "panic", logs.Cut(fmt.Sprint(v), logs.MaxQuotedError))
		},
	}
	return a, nil
}

// NewFromClientset returns an Authorizer that sends its reviews through
// cs.AuthorizationV1().SubjectAccessReviews(); a kubernetes.Interface will do.
func NewFromClientset(cs Clientset, opts Options) (*Authorizer, error) {
	if cs == nil {
		return nil, errors.New("authz: a clientset is required")
	}
	opts.Client = cs.AuthorizationV1().SubjectAccessReviews()
	return New(opts)
}

// Authorize decides whether attrs are allowed: Allow for a member of an
// always-allowed group or an always-allowed non-resource path, otherwise the
// answer of kube-apiserver to a SubjectAccessReview (Allow, Deny, or NoOpinion
// with its reason), from the cache when it has one. When the review fails it
// returns NoOpinion and the error (or, with StaleIfError, a recent allow); it
// never allows on error.
func (a *Authorizer) Authorize(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	u := attrs.GetUser()
	if u == nil {
		return authorizer.DecisionNoOpinion, "Error", errNoUser
	}
	for _, g := range u.GetGroups() {
		for _, allowed := range a.opts.AlwaysAllowGroups {
			if g == allowed {
				return authorizer.DecisionAllow, "", nil
			}
		}
	}
	if !attrs.IsResourceRequest() && a.paths.match(attrs.GetPath()) {
		return authorizer.DecisionAllow, "", nil
	}

	key, buf := a.keys.borrow(u, attrs)
	e, ok := a.cache.get(key, a.opts.Clock.Now())
	if ok {
		a.keys.release(buf)
		a.metrics.hits.Inc()
		return decision(&e.status)
	}
	owned := strings.Clone(key)
	a.keys.release(buf)
	a.metrics.misses.Inc()
	return a.await(ctx, owned, u.GetName(), snapshot(u, attrs))
}

// snapshot copies the attributes a review is built from. The review may outlive
// the Authorize call that started it (when that request ends first), and must
// not read attributes their owner may reuse by then.
func snapshot(u user.Info, attrs authorizer.Attributes) *authorizer.AttributesRecord {
	r := &authorizer.AttributesRecord{
		User:            u,
		Verb:            attrs.GetVerb(),
		Namespace:       attrs.GetNamespace(),
		APIGroup:        attrs.GetAPIGroup(),
		APIVersion:      attrs.GetAPIVersion(),
		Resource:        attrs.GetResource(),
		Subresource:     attrs.GetSubresource(),
		Name:            attrs.GetName(),
		ResourceRequest: attrs.IsResourceRequest(),
		Path:            attrs.GetPath(),
	}
	r.FieldSelectorRequirements, r.FieldSelectorParsingErr = attrs.GetFieldSelector()
	r.LabelSelectorRequirements, r.LabelSelectorParsingErr = attrs.GetLabelSelector()
	return r
}

// ConditionsAwareAuthorize is Authorize: the authorizer is not conditions-aware.
func (a *Authorizer) ConditionsAwareAuthorize(ctx context.Context, attrs authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(a.Authorize(ctx, attrs))
}

// EvaluateConditions is not supported; it denies, as Kubernetes' webhook
// authorizer does.
func (a *Authorizer) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}

// Collectors returns the Prometheus collectors of the authorizer, for the
// caller to register: cache hits, misses, coalesced waits, review errors,
// stale allows, and the latency of each review request.
func (a *Authorizer) Collectors() []prometheus.Collector { return a.metrics.collectors() }

// ReviewsSent returns the number of SubjectAccessReview requests sent so far,
// retries included.
func (a *Authorizer) ReviewsSent() uint64 { return a.sarsSent.Load() }

// InFlight returns the number of reviews in flight (abandoned ones included,
// until they have stopped).
func (a *Authorizer) InFlight() int { return a.flights.Running() }

// reviewLog writes review failures, a few a second at most, with the
// request's fields cut short: a caller can cause them at will.
type reviewLog struct{ *logs.Limited }

func (l reviewLog) warn(msg string, attrs authorizer.Attributes, err error) {
	l.Log(slog.LevelWarn, msg, reviewFields(attrs, err)...)
}

func (l reviewLog) error(msg string, attrs authorizer.Attributes, err error) {
	l.Log(slog.LevelError, msg, reviewFields(attrs, err)...)
}

func reviewFields(attrs authorizer.Attributes, err error) []any {
	return []any{
		"user", logs.Cut(attrs.GetUser().GetName(), logs.MaxQuoted),
		"verb", logs.Cut(attrs.GetVerb(), logs.MaxQuoted),
		"resource", logs.Cut(attrs.GetResource(), logs.MaxQuoted),
		"path", logs.Cut(attrs.GetPath(), logs.MaxQuoted),
		"err", logs.Cut(err.Error(), logs.MaxQuotedError),
	}
}
