package authz

import (
	"hash/maphash"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/aggauth/aggauth/internal/lru"
)

// entryOverhead approximates the memory of one cache entry besides its key and
// reason: the entry, the LRU list element and the map slot.
const entryOverhead = 192

// entry is a cached review result.
type entry struct {
	status authorizationv1.SubjectAccessReviewStatus
	// fresh is when the entry stops answering requests (the allow or deny TTL).
	fresh time.Time
	// stale is when the entry stops answering requests that failed to reach
	// kube-apiserver (stale-if-error); it equals fresh when that is off.
	stale time.Time
}

// entrySize is the memory accounted for e stored under key k.
func entrySize(k string, e *entry) int64 {
	return entryOverhead + int64(len(k)+len(e.status.Reason)+len(e.status.EvaluationError))
}

// decisionCache is an LRU cache of review results, bounded in entries and in
// bytes (internal/lru, striped when large). Entries are stored by pointer and
// never modified once stored: a hit copies a pointer, not the entry, and the
// lookup's stack frames stay small (it runs on every request, often on a
// fresh goroutine whose stack large frames make grow).
type decisionCache struct {
	*lru.Cache[string, *entry]
}

func newDecisionCache(maxEntries int, maxBytes int64) *decisionCache {
	seed := maphash.MakeSeed()
	return &decisionCache{lru.New(maxEntries, maxBytes, entrySize, func(k string) uint64 { return maphash.String(seed, k) })}
}

// get returns the entry for k if it is still fresh at now. An entry past both
// its fresh and stale times is dropped. k may be a borrowed key: it is not kept.
func (c *decisionCache) get(k string, now time.Time) (*entry, bool) {
	e, ok := c.Get(k)
	if !ok {
		return nil, false
	}
	if now.Before(e.fresh) {
		return e, true
	}
	if !now.Before(e.stale) {
		c.Remove(k)
	}
	return nil, false
}

// getStale returns the entry for k if it may still answer a request that could
// not reach kube-apiserver at now.
func (c *decisionCache) getStale(k string, now time.Time) (*entry, bool) {
	e, ok := c.Peek(k)
	if !ok || !now.Before(e.stale) {
		return nil, false
	}
	return e, true
}

// add stores e under k, evicting the least recently used entries beyond the
// bounds. An entry larger than the byte bound (of its stripe) is not stored.
func (c *decisionCache) add(k string, e entry) { c.Add(k, &e) }

// len returns the number of entries and their accounted bytes.
func (c *decisionCache) len() (entries int, bytes int64) { return c.Len() }
