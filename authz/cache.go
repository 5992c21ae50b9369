package authz

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	authorizationv1 "k8s.io/api/authorization/v1"
)

// entryOverhead approximates the memory of one cache entry besides its key and
// reason: the entry, the LRU list element and the map slot.
const entryOverhead = 192

// cacheStripes is the number of independently locked stripes of a large cache.
const cacheStripes = 16

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
// bytes, split in stripes that each hold an equal share of both bounds.
type decisionCache struct {
	seed    maphash.Seed
	stripes []cacheStripe
}

// cacheStripe is one stripe; mu guards every other field.
type cacheStripe struct {
	mu       sync.Mutex
	lru      *simplelru.LRU[string, entry]
	bytes    int64
	maxBytes int64
}

func newDecisionCache(maxEntries int, maxBytes int64) *decisionCache {
	n := 1
	if maxEntries >= cacheStripes*256 {
		n = cacheStripes
	}
	c := &decisionCache{seed: maphash.MakeSeed(), stripes: make([]cacheStripe, n)}
	for i := range c.stripes {
		s := &c.stripes[i]
		s.maxBytes = maxBytes / int64(n)
		s.lru, _ = simplelru.NewLRU(maxEntries/n, func(k string, e entry) { s.bytes -= entrySize(k, &e) })
	}
	return c
}

func (c *decisionCache) stripe(k string) *cacheStripe {
	if len(c.stripes) == 1 {
		return &c.stripes[0]
	}
	return &c.stripes[maphash.String(c.seed, k)%uint64(len(c.stripes))]
}

// get returns the entry for k if it is still fresh at now. An entry past both
// its fresh and stale times is dropped. k may be a borrowed key: it is not kept.
func (c *decisionCache) get(k string, now time.Time) (entry, bool) {
	s := c.stripe(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lru.Get(k)
	if !ok {
		return entry{}, false
	}
	if now.Before(e.fresh) {
		return e, true
	}
	if !now.Before(e.stale) {
		s.lru.Remove(k)
	}
	return entry{}, false
}

// getStale returns the entry for k if it may still answer a request that could
// not reach kube-apiserver at now.
func (c *decisionCache) getStale(k string, now time.Time) (entry, bool) {
	s := c.stripe(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lru.Peek(k)
	if !ok || !now.Before(e.stale) {
		return entry{}, false
	}
	return e, true
}

// add stores e under k, evicting the least recently used entries of the stripe
// beyond its entry or byte bound. An entry larger than the stripe's byte bound
// is not stored.
func (c *decisionCache) add(k string, e entry) {
	size := entrySize(k, &e)
	s := c.stripe(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if size > s.maxBytes {
		return
	}
	if old, ok := s.lru.Peek(k); ok {
		s.bytes -= entrySize(k, &old)
	}
	s.lru.Add(k, e)
	s.bytes += size
	for s.bytes > s.maxBytes {
		s.lru.RemoveOldest()
	}
}

// len returns the number of entries and their accounted bytes.
func (c *decisionCache) len() (entries int, bytes int64) {
	for i := range c.stripes {
		s := &c.stripes[i]
		s.mu.Lock()
		entries += s.lru.Len()
		bytes += s.bytes
		s.mu.Unlock()
	}
	return entries, bytes
}
