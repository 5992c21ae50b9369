// Package lru is a least-recently-used cache bounded in entries and in bytes,
// split in independently locked stripes when large. Every cache of the library
// (certificate verifications, authorization decisions, token reviews) is one,
// so that no cache can grow past its two bounds, whoever fills it.
package lru

import (
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// stripes is the number of stripes of a cache of at least stripedFrom entries.
const (
	stripes     = 16
	stripedFrom = stripes * 256
)

// Cache is an LRU cache bounded in entries and in bytes, as counted by the size
// function given to New. It is safe for concurrent use.
type Cache[K comparable, V any] struct {
	hash    func(K) uint64
	stripes []stripe[K, V]
}

// stripe is one part of a cache; mu guards every other field.
type stripe[K comparable, V any] struct {
	mu       sync.Mutex
	lru      *simplelru.LRU[K, V]
	size     func(K, V) int64
	bytes    int64
	maxBytes int64
}

// New returns a cache of at most maxEntries entries and maxBytes bytes, where
// size(k, v) is what an entry counts towards maxBytes. Both bounds must be
// positive. A cache of stripedFrom entries or more is split in stripes, each
// holding an equal share of both bounds, picked by hash(k); hash may be nil for
// a smaller cache.
func New[K comparable, V any](maxEntries int, maxBytes int64, size func(K, V) int64, hash func(K) uint64) *Cache[K, V] {
	if maxEntries <= 0 || maxBytes <= 0 || size == nil {
		panic("lru: maxEntries and maxBytes must be positive and size set")
	}
	n := 1
	if maxEntries >= stripedFrom && hash != nil {
		n = stripes
	}
	c := &Cache[K, V]{hash: hash, stripes: make([]stripe[K, V], n)}
	for i := range c.stripes {
		s := &c.stripes[i]
		s.size, s.maxBytes = size, maxBytes/int64(n)
		s.lru, _ = simplelru.NewLRU(maxEntries/n, func(k K, v V) { s.bytes -= s.size(k, v) })
	}
	return c
}

func (c *Cache[K, V]) stripe(k K) *stripe[K, V] {
	if len(c.stripes) == 1 {
		return &c.stripes[0]
	}
	return &c.stripes[c.hash(k)%uint64(len(c.stripes))]
}

// Get returns the value of k and marks it recently used.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	s := c.stripe(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Get(k)
}

// Peek returns the value of k without marking it used.
func (c *Cache[K, V]) Peek(k K) (V, bool) {
	s := c.stripe(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Peek(k)
}

// Add stores v under k, evicting the least recently used entries of its stripe
// beyond the stripe's bounds. An entry larger than a stripe's byte bound is not
// stored; Add reports whether v was.
func (c *Cache[K, V]) Add(k K, v V) bool {
	s := c.stripe(k)
	size := s.size(k, v)
	s.mu.Lock()
	defer s.mu.Unlock()
	if size > s.maxBytes {
		return false
	}
	s.lru.Remove(k) // its bytes leave through the eviction callback
	s.lru.Add(k, v)
	s.bytes += size
	for s.bytes > s.maxBytes {
		s.lru.RemoveOldest()
	}
	return true
}

// Remove deletes k.
func (c *Cache[K, V]) Remove(k K) {
	s := c.stripe(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lru.Remove(k)
}

// Len returns the number of entries and the bytes they count.
func (c *Cache[K, V]) Len() (entries int, bytes int64) {
	for i := range c.stripes {
		s := &c.stripes[i]
		s.mu.Lock()
		entries += s.lru.Len()
		bytes += s.bytes
		s.mu.Unlock()
	}
	return entries, bytes
}
