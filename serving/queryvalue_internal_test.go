package serving

import (
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
)

// queryValue must read ?timeout= exactly as URL.Query().Get("timeout") does.
func TestQueryValueMatchesParseQuery(t *testing.T) {
	pieces := []string{"timeout", "time%6Fut", "timeout=", "=", "&", ";", "%", "%zz", "+", "1s", "30s", "x", "timeout=5s",
		"timeout=%35s", "a=b", "timeOut=1s", "timeout=1s;", "%74imeout=2s", "&&", "timeout=bad"}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for n := rng.IntN(6); n > 0; n-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		raw := b.String()
		want := (&url.URL{RawQuery: raw}).Query().Get("timeout")
		if got := queryValue(raw, "timeout"); got != want {
			t.Fatalf("queryValue(%q) = %q; want %q", raw, got, want)
		}
	}
}
