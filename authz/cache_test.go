package authz

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	authorizationv1 "k8s.io/api/authorization/v1"
)

// testKeyLen is the length of every testKey.
const testKeyLen = 12

func testKey(i int) string { return fmt.Sprintf("key-%08d", i) }

var cacheNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func freshEntry(reason string) entry {
	return entry{status: authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: reason},
		fresh: cacheNow.Add(time.Minute), stale: cacheNow.Add(time.Minute)}
}

func TestCacheBounds(t *testing.T) {
	tests := []struct {
		name        string
		maxEntries  int
		maxBytes    int64
		adds        int
		reason      string
		wantEntries int
	}{
		{name: "entries", maxEntries: 10, maxBytes: 1 << 20, adds: 100, wantEntries: 10},
		{name: "bytes", maxEntries: 1000, maxBytes: 10 * (entryOverhead + testKeyLen + 100), adds: 100, reason: strings.Repeat("r", 100), wantEntries: 10},
		{name: "striped entries", maxEntries: 16 * 256, maxBytes: 1 << 30, adds: 20000, wantEntries: 16 * 256},
		{name: "entry larger than the byte bound", maxEntries: 10, maxBytes: entryOverhead, adds: 3, reason: "x", wantEntries: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newDecisionCache(tt.maxEntries, tt.maxBytes)
			for i := 0; i < tt.adds; i++ {
				c.add(testKey(i), freshEntry(tt.reason))
			}
			entries, bytes := c.len()
			// Striping splits the bounds; entries are spread by key, so a stripe
			// may fill before the others.
			assert.LessOrEqual(t, entries, tt.wantEntries)
			assert.GreaterOrEqual(t, entries, tt.wantEntries*9/10)
			assert.LessOrEqual(t, bytes, tt.maxBytes)
			assert.Equal(t, int64(entries)*(entryOverhead+testKeyLen+int64(len(tt.reason))), bytes)
		})
	}
}

func TestCacheLRUOrder(t *testing.T) {
	c := newDecisionCache(2, 1<<20)
	c.add(testKey(1), freshEntry(""))
	c.add(testKey(2), freshEntry(""))
	_, ok := c.get(testKey(1), cacheNow) // 1 is now the most recently used
	assert.True(t, ok)
	c.add(testKey(3), freshEntry(""))
	_, ok = c.get(testKey(2), cacheNow)
	assert.False(t, ok, "the least recently used entry is evicted")
	_, ok = c.get(testKey(1), cacheNow)
	assert.True(t, ok)
}

func TestCacheReplaceKeepsAccounting(t *testing.T) {
	c := newDecisionCache(10, 1<<20)
	c.add(testKey(1), freshEntry("long reason"))
	c.add(testKey(1), freshEntry("r"))
	entries, bytes := c.len()
	assert.Equal(t, 1, entries)
	assert.Equal(t, int64(entryOverhead+testKeyLen+1), bytes)
}

func TestCacheExpiryAndStale(t *testing.T) {
	c := newDecisionCache(10, 1<<20)
	e := freshEntry("")
	e.stale = cacheNow.Add(time.Hour)
	c.add(testKey(1), e)
	c.add(testKey(2), freshEntry(""))

	later := cacheNow.Add(2 * time.Minute)
	_, ok := c.get(testKey(1), later)
	assert.False(t, ok, "expired entries do not answer")
	_, ok = c.getStale(testKey(1), later)
	assert.True(t, ok, "but may answer a failed review until stale")
	_, ok = c.get(testKey(2), later)
	assert.False(t, ok)
	entries, _ := c.len()
	assert.Equal(t, 1, entries, "an entry past its stale time is dropped on lookup")
	_, ok = c.getStale(testKey(1), cacheNow.Add(time.Hour))
	assert.False(t, ok)
}
