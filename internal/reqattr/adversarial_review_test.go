package reqattr

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"testing"
)

// The global decoded-value table answers every raw value as url.QueryUnescape
// does, also when many goroutines fill and evict its 64 slots at once with
// values that differ only in escaping (%41 vs A, + vs %20, case of hex).
func TestAdversarialUnescapeTableNeverAnswersAnotherValue(t *testing.T) {
	pieces := []string{"%41", "A", "a", "+", "%20", " ", "%2b", "%2B", "%", "%zz", "=", ",", "!", "%e2%82%ac", "%E2%82%AC", "x"}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for range 50000 {
				raw := ""
				for n := 1 + rng.IntN(4); n > 0; n-- {
					raw += pieces[rng.IntN(len(pieces))]
				}
				got, gerr := queryUnescape(raw)
				want, werr := url.QueryUnescape(raw)
				if got != want || (gerr == nil) != (werr == nil) {
					errs <- fmt.Sprintf("queryUnescape(%q) = %q, %v; want %q, %v", raw, got, gerr, want, werr)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
