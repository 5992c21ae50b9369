package serving

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWatermark(t *testing.T) {
	var w watermark
	assert.Equal(t, int64(0), w.highest(100))
	w.observe(3, 100)
	w.observe(7, 100)
	w.observe(5, 100)
	assert.Equal(t, int64(7), w.highest(100), "the highest of the second")
	w.observe(2, 101)
	assert.Equal(t, int64(7), w.highest(101), "and of the one before")
	assert.Equal(t, int64(2), w.highest(102), "not of two seconds ago")
	assert.Equal(t, int64(0), w.highest(103))
	w.observe(9, 100) // late: a request of an older second
	assert.Equal(t, int64(2), w.highest(102))
	w.observe(1<<30, 104)
	assert.Equal(t, int64(markMax), w.highest(104), "capped")
}

func TestLimiterNeverExceedsItsLimit(t *testing.T) {
	l := &limiter{limit: 10}
	var most atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 1000 {
				if _, ok := l.acquire(); !ok {
					continue
				}
				for n := l.n.Load(); n > most.Load(); {
					if most.CompareAndSwap(most.Load(), n) {
						break
					}
				}
				l.release()
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, most.Load(), int64(10))
	assert.Positive(t, most.Load())
	assert.Equal(t, int64(0), l.n.Load())
	unlimited := &limiter{}
	for i := range 5 {
		n, ok := unlimited.acquire()
		assert.True(t, ok)
		assert.Equal(t, int64(i+1), n)
	}
}
