package reqattr

import (
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
)

// QueryGet must read ?timeout= exactly as URL.Query().Get("timeout") does,
// in place and, for a query of maxScannedParams parameters or more, through
// url.ParseQuery (whose limit on parameters then applies as in Kubernetes).
func TestQueryGetMatchesParseQuery(t *testing.T) {
	pieces := []string{"timeout", "time%6Fut", "timeout=", "=", "&", ";", "%", "%zz", "+", "1s", "30s", "x", "timeout=5s",
		"timeout=%35s", "a=b", "timeOut=1s", "timeout=1s;", "%74imeout=2s", "&&", "timeout=bad"}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		n := rng.IntN(6)
		if i%50 == 0 {
			n = maxScannedParams + rng.IntN(8) // the url.ParseQuery path
		}
		for ; n > 0; n-- {
			if i%50 == 0 {
				b.WriteByte('&')
			}
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		raw := b.String()
		want := (&url.URL{RawQuery: raw}).Query().Get("timeout")
		if got := QueryGet(raw, "timeout"); got != want {
			t.Fatalf("QueryGet(%q) = %q; want %q", raw, got, want)
		}
	}
}
