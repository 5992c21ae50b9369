package admission

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/aggauth/aggauth/internal/flight"
	"github.com/aggauth/aggauth/internal/logs"
	"github.com/aggauth/aggauth/internal/lru"
)

// Defaults of NamespaceLifecycleOptions.
const (
	DefaultNegativeCacheTTL  = 2 * time.Second
	DefaultNegativeCacheSize = 4096
	DefaultLookupTimeout     = 10 * time.Second
	DefaultReadyTimeout      = 10 * time.Second
	DefaultMaxLookups        = 100
	DefaultMaxLookupsPerUser = 16
)

// negativeEntryBytes is what one remembered missing namespace counts towards the
// negative cache's byte bound, besides its name (at most 63 bytes).
const negativeEntryBytes = 128

// NamespaceLifecycleOptions configures NewNamespaceLifecycle. Only Client is
// required; every other zero value selects the documented default.
type NamespaceLifecycleOptions struct {
	// Client reads namespaces from kube-apiserver: the live GET on an informer
	// miss and, unless InformerFactory is set, the informer's list and watch.
	// Required. It needs get, list and watch on namespaces.
	Client kubernetes.Interface

	// InformerFactory supplies the namespace informer, so that a server that
	// already runs a shared informer factory watches namespaces once.
	// Default: a factory of its own on Client, without resync.
	InformerFactory informers.SharedInformerFactory

	// NegativeCacheTTL is how long a "not found" answer of the live GET is
	// remembered: creates into that namespace are refused without another GET
	// until it expires or the informer sees the namespace. Default 2s; a
	// negative value disables the cache.
	NegativeCacheTTL time.Duration

	// NegativeCacheSize bounds the number of namespaces remembered as not
	// found; the least recently used is forgotten first. Default 4096.
	NegativeCacheSize int

	// LookupTimeout bounds the live GET, which runs on a context detached from
	// the request that started it so that other requests waiting for the same
	// namespace are not failed when that request ends. Each request still stops
	// waiting when its own context ends. Default 10s (also for a negative
	// value).
	LookupTimeout time.Duration

	// ReadyTimeout is how long a request waits for the informer's first sync
	// before it is answered 503; Kubernetes waits 10s. Default 10s; a negative
	// value answers 503 at once.
	ReadyTimeout time.Duration

	// RetryAfter is the delay advised (Retry-After, rounded up to seconds) by
	// the 503 answered before the informer has synced and the 429 answered
	// beyond MaxLookups. Default 1 s.
	RetryAfter time.Duration

	// MaxLookups bounds the live GETs in flight at once, MaxLookupsPerUser
	// those made for one user's requests. A create that cannot start one at
	// once waits in its user's queue (4 × MaxLookups may wait in all), for at most 5 s, and the next GET to
	// start is that of the user with the fewest in flight (see
	// internal/flight); a create that can neither start nor wait, or waited
	// 5 s, is answered 429 with Retry-After. Joining a GET in flight for the
	// same namespace is always possible. Default 100 and 16.
	MaxLookups, MaxLookupsPerUser int

	// Logger receives a panic of Client's GET (answered 500 to the creates
	// waiting for it), a few a second at most. Default slog.Default().
	Logger *slog.Logger

	// Clock measures the negative cache's expiry and ReadyTimeout.
	// Default clock.RealClock{}.
	Clock clock.Clock
}

// NamespaceLifecycle refuses creates of namespaced resources into namespaces
// that do not exist (404) or are being terminated (403), like Kubernetes'
// NamespaceLifecycle admission plugin. It is an Interface.
//
// Start must be called to start the namespace informer (with a shared
// InformerFactory, starting that factory is enough). Until the informer has
// synced, requests wait up to ReadyTimeout and are then answered 503; Ready
// reports readiness for /readyz.
//
// All methods are safe for concurrent use.
type NamespaceLifecycle struct {
	client   kubernetes.Interface
	factory  informers.SharedInformerFactory
	indexer  cache.Indexer
	informer cache.SharedIndexInformer
	syncedCh <-chan struct{} // closed once the informer has synced

	negTTL     time.Duration
	negative   *lru.Cache[string, time.Time] // namespace -> expiry; nil when disabled
	lookups    *flight.Group[string, *corev1.Namespace]
	readyTO    time.Duration
	retryAfter time.Duration
	clock      clock.Clock
}

// NewNamespaceLifecycle returns a NamespaceLifecycle configured by opts. It
// registers the namespace informer with the factory but starts nothing.
func NewNamespaceLifecycle(opts NamespaceLifecycleOptions) (*NamespaceLifecycle, error) {
	if opts.Client == nil {
		return nil, errors.New("admission: NamespaceLifecycleOptions.Client is required")
	}
	if opts.NegativeCacheSize < 0 || opts.MaxLookups < 0 || opts.MaxLookupsPerUser < 0 {
		return nil, errors.New("admission: NegativeCacheSize, MaxLookups and MaxLookupsPerUser must not be negative")
	}
	l := &NamespaceLifecycle{
		client:  opts.Client,
		factory: opts.InformerFactory,
		negTTL:  orDefault(opts.NegativeCacheTTL, DefaultNegativeCacheTTL),
		lookups: &flight.Group[string, *corev1.Namespace]{
			Max:         orDefault(opts.MaxLookups, DefaultMaxLookups),
			MaxPerOwner: orDefault(opts.MaxLookupsPerUser, DefaultMaxLookupsPerUser),
			Timeout:     orDefault(max(opts.LookupTimeout, 0), DefaultLookupTimeout),
			OnPanic:     panicLogger(opts.Logger),
		},
		readyTO:    orDefault(opts.ReadyTimeout, DefaultReadyTimeout),
		retryAfter: opts.RetryAfter,
		clock:      opts.Clock,
	}
	if l.clock == nil {
		l.clock = clock.RealClock{}
	}
	if l.factory == nil {
		l.factory = informers.NewSharedInformerFactory(opts.Client, 0)
	}
	if l.negTTL > 0 {
		size := orDefault(opts.NegativeCacheSize, DefaultNegativeCacheSize)
		l.negative = lru.New(size, int64(size)*negativeEntryBytes,
			func(ns string, _ time.Time) int64 { return int64(len(ns)) + negativeEntryBytes/2 }, nil)
	}
	l.informer = l.factory.Core().V1().Namespaces().Informer()
	l.indexer = l.informer.GetIndexer()
	l.syncedCh = l.informer.HasSyncedChecker().Done()
	return l, nil
}

// panicLogger returns the flight's OnPanic: a rate-limited log line.
func panicLogger(l *slog.Logger) func(any) {
	log := logs.NewLimited(cmp.Or(l, slog.Default()))
	return func(v any) {
		log.Log(slog.LevelError, "admission: namespace lookup panicked", "panic", logs.Cut(fmt.Sprint(v), logs.MaxQuotedError))
	}
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Start starts the namespace informer, if it is not running yet, and returns
// at once; the informer stops when ctx ends. Calling Start again, or after the
// shared factory was started, does nothing more.
func (l *NamespaceLifecycle) Start(ctx context.Context) {
	l.factory.StartWithContext(ctx)
}

// Ready returns nil once the namespace informer has completed its first list,
// which is when NamespaceLifecycle can admit requests without waiting, else
// why not.
func (l *NamespaceLifecycle) Ready() error {
	if l.synced() {
		return nil
	}
	return errors.New("the namespace informer has not synced yet")
}

func (l *NamespaceLifecycle) synced() bool {
	select {
	case <-l.syncedCh:
		return true
	default:
		return false
	}
}

// Admit refuses a create of a namespaced resource when its namespace does not
// exist (404 NotFound) or is being terminated (403 Forbidden with the
// NamespaceTerminating cause), with kube-apiserver's messages. Every other
// request is admitted: non-resource requests, cluster-scoped requests, every
// verb other than create, any request on core namespaces themselves, and
// creates of authorization.k8s.io localsubjectaccessreviews (answering those
// would reveal whether a namespace exists). Before the informer has synced it
// waits up to ReadyTimeout and then answers 503 with Retry-After; a failed
// lookup is a 500.
//
// "Create" is the verb of the attributes, as RequestInfo derives it from a
// POST. kube-apiserver also checks an update or apply that creates the object,
// and does not check a POST to a connect subresource (exec, attach, proxy):
// a handler that creates on PUT or PATCH can call Admit itself with verb
// "create" once it knows the object is new.
func (l *NamespaceLifecycle) Admit(ctx context.Context, a authorizer.Attributes) error {
	ns, ok := checkedNamespace(a)
	if !ok {
		return nil
	}
	if err := l.waitForSync(ctx); err != nil {
		return err
	}
	obj, exists, err := l.indexer.GetByKey(ns)
	if err != nil {
		return errLookup(ns, err)
	}
	namespace, _ := obj.(*corev1.Namespace)
	if !exists || namespace == nil {
		var user string
		if u := a.GetUser(); u != nil {
			user = u.GetName()
		}
		if namespace, err = l.lookup(ctx, ns, user); err != nil {
			return err
		}
	}
	if namespace.Status.Phase == corev1.NamespaceTerminating {
		return errNamespaceTerminating(a)
	}
	return nil
}

// checkedNamespace returns the namespace of a and whether Kubernetes'
// NamespaceLifecycle rules look at a: only creates of namespaced resources
// other than namespaces themselves and local access reviews.
func checkedNamespace(a authorizer.Attributes) (string, bool) {
	var verb, ns, group, resource string
	var resourceRequest bool
	if r, ok := a.(*authorizer.AttributesRecord); ok {
		// AttributesRecord's methods have value receivers: calling them
		// through the interface copies the whole record each time.
		verb, ns, group, resource, resourceRequest = r.Verb, r.Namespace, r.APIGroup, r.Resource, r.ResourceRequest
	} else {
		verb, ns, group, resource, resourceRequest = a.GetVerb(), a.GetNamespace(), a.GetAPIGroup(), a.GetResource(), a.IsResourceRequest()
	}
	if verb != "create" || !resourceRequest || ns == "" {
		return "", false
	}
	if group == "" && resource == "namespaces" {
		return "", false
	}
	if group == "authorization.k8s.io" && resource == "localsubjectaccessreviews" {
		return "", false
	}
	return ns, true
}

// waitForSync returns nil once the informer has synced, or the 503 when it
// has not within ReadyTimeout or ctx ends first.
func (l *NamespaceLifecycle) waitForSync(ctx context.Context) error {
	if l.synced() {
		return nil
	}
	if l.readyTO < 0 {
		return errNotReady(l.retryAfter)
	}
	t := l.clock.NewTimer(l.readyTO)
	defer t.Stop()
	select {
	case <-l.syncedCh:
		return nil
	case <-t.C():
	case <-ctx.Done():
	}
	if l.synced() {
		return nil
	}
	return errNotReady(l.retryAfter)
}
