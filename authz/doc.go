// Package authz answers "may they do it" for an extension apiserver behind the
// kube-apiserver aggregation layer: it asks kube-apiserver with a
// SubjectAccessReview, with the semantics of k8s.io/apiserver v0.37.2's
// delegated authorization. (What the request is, its RequestInfo and
// attributes, is package requestinfo's question.)
//
// # SubjectAccessReview authorizer
//
// Authorizer implements authorizer.Authorizer like Kubernetes' delegated
// authorizer: members of always-allowed groups (system:masters) and
// always-allowed non-resource paths (/healthz, /readyz, /livez) are allowed
// without a review; everything else gets the answer of a SubjectAccessReview
// built field for field as Kubernetes' webhook authorizer builds it, selectors
// included. Allow, Deny and NoOpinion are cached for 10 s each by default;
// errors are never cached. It differs from Kubernetes where Kubernetes is slow
// or fragile:
//
//   - The cache key is an injective, length-prefixed encoding of every field
//     of the review (user, uid, groups in order, sorted extra, verb,
//     namespace, group, version, resource, subresource, name, path,
//     selectors), built in a pooled buffer: no JSON, no allocation on a hit,
//     and no two different reviews can share a key. The review object is built
//     only on a miss.
//   - The cache is an LRU bounded in entries and in bytes, split in locked
//     stripes when large.
//   - Concurrent identical misses share one review (singleflight), which runs
//     on a context detached from the requests, bounded by Options.Timeout. A
//     request that ends stops waiting at once without failing the others.
//   - Retries follow Kubernetes' backoff (500 ms ×1.5, jitter 0.2, 5 attempts)
//     on retriable errors only.
//   - A review whose every waiter has left is cancelled. At most
//     Options.MaxInFlight reviews run at once, and MaxInFlightPerUser for one
//     user; a miss beyond is refused at once with ErrTooManyInFlight (429),
//     never queued without end.
//   - Optionally (Options.StaleIfError, off by default) a recent allow answers
//     a request while kube-apiserver cannot be reached, and only then (see
//     Options.StaleIfError for the exact rule).
//
// It never allows on error. Prometheus collectors (hits, misses, coalesced
// waits, review errors, stale allows, review latency) are returned by
// Collectors for the caller to register; nothing is registered globally.
//
// NewReviewClient builds the SubjectAccessReview client from a *rest.Config with
// Kubernetes' settings for it: 200 QPS, burst 400, 10 s per request.
package authz
