// Package fold matches header names as Kubernetes does, ignoring case, with
// the cheap test first: it runs for every header of every request.
package fold

import (
	"strings"
	"unicode/utf8"
)

// HasPrefix reports whether s starts with prefix, ignoring case
// (strings.EqualFold). Most header names differ from the prefix in their
// first byte: when both first bytes are ASCII, they fold equal only if they
// are the same letter in either case, or the same byte (a multi-byte rune,
// such as the Kelvin sign that folds to k, takes EqualFold's path).
func HasPrefix(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	if len(prefix) > 0 && s[0] < utf8.RuneSelf && prefix[0] < utf8.RuneSelf && lowerASCII(s[0]) != lowerASCII(prefix[0]) {
		return false
	}
	return strings.EqualFold(s[:len(prefix)], prefix)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}
