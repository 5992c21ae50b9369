package admission

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// lookup reads namespace ns from kube-apiserver, for a namespace the informer
// does not know. It returns the namespace, the 404 for a missing one, or the
// 500 for any other failure.
//
// Concurrent lookups of one namespace share a single GET. That GET runs on a
// context detached from the request that started it (keeping its values, not
// its cancellation) and bounded by LookupTimeout, so that request ending does
// not fail the others; each caller stops waiting when its own ctx ends. A "not
// found" answer is remembered for NegativeCacheTTL before the shared call
// returns, so a request arriving after the GET finds it in the cache.
func (l *NamespaceLifecycle) lookup(ctx context.Context, ns string) (*corev1.Namespace, error) {
	if l.knownMissing(ns) {
		return nil, errNamespaceNotFound(ns)
	}
	ch := l.lookups.DoChan(ns, func() (any, error) {
		return l.get(context.WithoutCancel(ctx), ns)
	})
	if l.onLookupWait != nil {
		l.onLookupWait()
	}
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*corev1.Namespace), nil
	case <-ctx.Done():
		return nil, errLookup(ns, context.Cause(ctx))
	}
}

// get is the shared live GET of lookup.
func (l *NamespaceLifecycle) get(ctx context.Context, ns string) (*corev1.Namespace, error) {
	ctx, cancel := context.WithTimeout(ctx, l.lookupTO)
	defer cancel()
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
	// and the LRU bound evicts it otherwise. Removing it here could remove a
	// fresh entry written concurrently.
	expiry, ok := l.negative.Get(ns)
	return ok && l.clock.Now().Before(expiry)
}
