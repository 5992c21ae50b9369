package middleware

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// checkPathBySegments is checkPath as it was first written, segment by
// segment with the strings package: the byte-by-byte version must answer
// every path the same.
func checkPathBySegments(r *http.Request) error {
	if strings.Contains(r.URL.RawPath, "%2F") || strings.Contains(r.URL.RawPath, "%2f") {
		return fmt.Errorf("the path %s has an encoded / in a segment", quotePath(r.URL.RawPath))
	}
	p := r.URL.Path
	if p == "" || p == "/" {
		return nil
	}
	for seg := range strings.SplitSeq(strings.TrimSuffix(p[1:], "/"), "/") {
		switch seg {
		case "", ".", "..":
			return fmt.Errorf("the path %s has an empty, \".\" or \"..\" segment", quotePath(r.URL.EscapedPath()))
		}
		if strings.IndexFunc(seg, func(c rune) bool { return c < 0x20 || c == 0x7f }) >= 0 {
			return fmt.Errorf("the path %s has a control character", quotePath(r.URL.EscapedPath()))
		}
	}
	return nil
}

func TestCheckPathMatchesBySegments(t *testing.T) {
	pieces := []string{"", "/", "//", ".", "..", "a", "apis", "ns", "\x00", "\x1f", "\x7f", "\x80", "é", "\xff", "%2F", " ", "~"}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		if rng.IntN(4) > 0 {
			b.WriteByte('/')
		}
		for n := rng.IntN(8); n > 0; n-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		u := &url.URL{Path: b.String()}
		if rng.IntN(3) == 0 {
			u.RawPath = strings.ReplaceAll(u.Path, "/", "%2F")
		}
		r := &http.Request{URL: u}
		got, want := checkPath(r), checkPathBySegments(r)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("checkPath(%q) = %v; want %v", u.Path, got, want)
		}
	}
}
