package admission

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/internal/flight"
)

// lookup reads namespace ns from kube-apiserver, for a namespace the informer
// does not know, on behalf of user. It returns the namespace, the 404 for a
// missing one, the 429 when too many lookups are in flight, or the 500 for any
// other failure.
//
// Concurrent lookups of one namespace share a single GET (internal/flight). That
// GET runs on a context detached from the request that started it (keeping its
// values, not its cancellation) and bounded by LookupTimeout, so that request
// ending does not fail the others; each caller stops waiting when its own ctx
// ends, and the GET is cancelled when the last one has. A "not found" answer is
// remembered for NegativeCacheTTL before the shared call returns, so a request
// arriving after the GET finds it in the cache. A name that is not a valid
// namespace name cannot exist: it is answered 404 without a GET.
func (l *NamespaceLifecycle) lookup(ctx context.Context, ns, user string) (*corev1.Namespace, error) {
	if len(validation.ValidateNamespaceName(ns, false)) > 0 || l.knownMissing(ns) {
		return nil, errNamespaceNotFound(ns)
	}
	namespace, _, err := l.lookups.Do(ctx, ns, user, 0, func(ctx context.Context) (*corev1.Namespace, error) {
		return l.get(ctx, ns)
	})
	switch {
	case errors.Is(err, flight.ErrTooMany):
		return nil, errTooManyLookups(l.retryAfter)
	case err != nil && (ctx.Err() != nil || errors.As(err, new(*flight.PanicError))):
		return nil, errLookup(ns, err)
	}
	return namespace, err
}

// get is the shared live GET of lookup, on the flight's context.
func (l *NamespaceLifecycle) get(ctx context.Context, ns string) (*corev1.Namespace, error) {
	namespace, err := l.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if l.negative != nil {
			l.negative.Add(ns, l.clock.Now().Add(l.negTTL))
		}
		return nil, errNamespaceNotFound(ns)
	case err != nil:
		return nil, errLookup(ns, err)
	}
	return namespace, nil
}

// knownMissing reports whether ns is in the negative cache and not expired.
func (l *NamespaceLifecycle) knownMissing(ns string) bool {
	if l.negative == nil {
		return false
	}
	// An expired entry is left in place: the next "not found" overwrites it
	// and the LRU bounds evict it otherwise. Removing it here could remove a
	// fresh entry written concurrently.
	expiry, ok := l.negative.Get(ns)
	return ok && l.clock.Now().Before(expiry)
}
