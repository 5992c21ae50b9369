package routing_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// The routed shapes: a collection and an object. Paths are written escaped,
// as they appear on the request line.
var bases = [][]string{
	{"apis", "demo.aggauth.io", "v1", "namespaces", "default", "widgets"},
	{"apis", "demo.aggauth.io", "v1", "namespaces", "default", "widgets", "w1"},
}

// segmentMutations rewrite one escaped segment into hostile variants: escapes
// of letters (either hex case), encoded and literal slashes, dot segments, an
// empty segment, control characters, %25, case changes, Unicode (look-alikes,
// case-folding equivalents, invalid UTF-8) and the routers' own wildcard
// syntax.
var segmentMutations = []func(string) string{
	func(s string) string { return escapeFirst(s, "%%%02x") },
	func(s string) string { return escapeFirst(s, "%%%02X") },
	func(s string) string { return escapeAll(s, "%%%02x") },
	func(s string) string { return escapeAll(s, "%%%02X") },
	func(s string) string { return insert(s, "%2F") },
	func(s string) string { return insert(s, "%2f") },
	func(s string) string { return s + "/" + s },
	func(string) string { return "." },
	func(string) string { return ".." },
	func(string) string { return "%2E" },
	func(string) string { return "%2e%2E" },
	func(s string) string { return s + "/.." },
	func(s string) string { return "./" + s },
	func(s string) string { return "../" + s },
	func(string) string { return "" },
	func(s string) string { return s + "/" },
	func(s string) string { return s + "%00" },
	func(s string) string { return "%00" + s },
	func(s string) string { return s + "%01" },
	func(s string) string { return s + "%1f" },
	func(s string) string { return s + "%7F" },
	func(s string) string { return s + "%09" },
	func(s string) string { return s + "%0A" },
	func(s string) string { return s + "%0d%0a" },
	func(s string) string { return "%25" + s },
	func(s string) string { return escapeFirst(s, "%%25%02x") }, // %2564efault: a literal %64efault
	func(s string) string { return s + "%252F" + s },
	func(s string) string { return s + "%25" },
	func(s string) string { return strings.ToUpper(s) },
	func(s string) string { return strings.ToUpper(head(s)) + s[len(head(s)):] },
	func(s string) string { return strings.ReplaceAll(s, "s", "ſ") },      // U+017F folds to s
	func(s string) string { return strings.ReplaceAll(s, "s", "%C5%BF") }, // the same, escaped
	func(s string) string { return strings.Replace(s, "d", "ｄ", 1) },      // fullwidth d
	func(s string) string { return s + "é" },                              // raw UTF-8 on the request line
	func(s string) string { return s + "%C3%A9" },                         // escaped
	func(s string) string { return s + "%FF" },                            // invalid UTF-8
	func(s string) string { return s + "%C3" },                            // truncated UTF-8
	func(s string) string { return s + "%E2%80%8B" },                      // zero-width space
	func(s string) string { return s + ";x=y" },                           // path parameters
	func(s string) string { return s + "%3B" },                            // ;
	func(s string) string { return s + "%3F" },                            // ?
	func(s string) string { return s + "%23" },                            // #
	func(s string) string { return s + "%20" },                            // space
	func(s string) string { return s + "+" },                              // not a space in a path
	func(string) string { return "{namespace}" },                          // ServeMux and chi syntax
	func(string) string { return ":namespace" },                           // gin syntax
	func(string) string { return "*" },                                    // catch-alls
	func(string) string { return strings.Repeat("a", 300) },               // a long segment
	func(s string) string { return strings.ReplaceAll(s, ".", "%2E") },    // dots inside the group
}

// pathMutations rewrite a whole escaped path.
var pathMutations = []func(string) string{
	func(p string) string { return p },
	func(p string) string { return p + "/" },
	func(p string) string { return p + "//" },
	func(p string) string { return p + "/." },
	func(p string) string { return p + "/%2e" },
	func(p string) string { return "/" + p },
	func(p string) string { return strings.Replace(p, "/v1/", "/v1/./", 1) },
	func(p string) string { return strings.Replace(p, "/v1/", "/v2/../v1/", 1) },
	func(p string) string { return strings.Replace(p, "/apis/", "/apis/x/../", 1) },
}

// corpus returns the hostile paths, deduplicated and in a stable order:
// every single mutation of every segment of both shapes, each with every path
// mutation, then random combinations of two or three mutations from a fixed
// seed (so that a failure reproduces).
func corpus() []string {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, base := range bases {
		for i := range base {
			for _, m := range segmentMutations {
				segs := slices.Clone(base)
				segs[i] = m(segs[i])
				for _, pm := range pathMutations {
					add(pm(join(segs)))
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		segs := slices.Clone(bases[rng.IntN(len(bases))])
		for range 2 + rng.IntN(2) {
			i := rng.IntN(len(segs))
			segs[i] = segmentMutations[rng.IntN(len(segmentMutations))](segs[i])
		}
		add(pathMutations[rng.IntN(len(pathMutations))](join(segs)))
	}
	return out
}

func join(segs []string) string { return "/" + strings.Join(segs, "/") }

// head is the first byte of s, or "".
func head(s string) string { return s[:min(1, len(s))] }

// insert puts x after the first byte of s.
func insert(s, x string) string { return head(s) + x + s[len(head(s)):] }

// escapeFirst escapes the first letter of s with format, such as "%%%02x".
func escapeFirst(s, format string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' })
	if i < 0 {
		return s
	}
	return s[:i] + fmt.Sprintf(format, s[i]) + s[i+1:]
}

// escapeAll escapes every byte of s with format.
func escapeAll(s, format string) string {
	var b strings.Builder
	for i := range len(s) {
		fmt.Fprintf(&b, format, s[i])
	}
	return b.String()
}
