package lru

import (
	"fmt"
	"hash/maphash"
	"testing"

	"github.com/stretchr/testify/assert"
)

func strSize(k, v string) int64 { return int64(len(k) + len(v)) }

func TestBoundedInEntries(t *testing.T) {
	c := New[string, string](3, 1<<20, strSize, nil)
	for i := range 5 {
		c.Add(fmt.Sprint(i), "v")
	}
	n, b := c.Len()
	assert.Equal(t, 3, n)
	assert.Equal(t, int64(6), b)
	_, ok := c.Get("0")
	assert.False(t, ok, "the oldest entries are evicted")
	v, ok := c.Get("4")
	assert.True(t, ok)
	assert.Equal(t, "v", v)
}

func TestBoundedInBytes(t *testing.T) {
	c := New[string, string](100, 10, strSize, nil)
	assert.True(t, c.Add("a", "1234"))         // 5 bytes
	assert.True(t, c.Add("b", "1234"))         // 10 bytes
	assert.True(t, c.Add("c", "12"))           // 13 > 10: a goes
	assert.False(t, c.Add("big", "123456789")) // larger than the bound: refused
	n, b := c.Len()
	assert.Equal(t, 2, n)
	assert.Equal(t, int64(8), b)
	_, ok := c.Peek("a")
	assert.False(t, ok)
}

func TestReplaceAndRemoveAccountBytes(t *testing.T) {
	c := New[string, string](10, 100, strSize, nil)
	c.Add("a", "1234567890")
	c.Add("a", "1")
	_, b := c.Len()
	assert.Equal(t, int64(2), b)
	c.Remove("a")
	n, b := c.Len()
	assert.Equal(t, 0, n)
	assert.Equal(t, int64(0), b)
}

func TestStriped(t *testing.T) {
	seed := maphash.MakeSeed()
	c := New[string, string](stripedFrom, 1<<20, strSize, func(k string) uint64 { return maphash.String(seed, k) })
	assert.Len(t, c.stripes, stripes)
	for i := range 2 * stripedFrom {
		c.Add(fmt.Sprint(i), "v")
	}
	n, _ := c.Len()
	assert.LessOrEqual(t, n, stripedFrom)
	assert.Greater(t, n, stripedFrom/2)
}
