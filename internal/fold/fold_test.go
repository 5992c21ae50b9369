package fold

import (
	"strings"
	"testing"
)

// TestHasPrefixIsEqualFold: the first-byte shortcut answers as
// strings.EqualFold on the prefix-length head, for ASCII and multi-byte
// names (the Kelvin sign folds to k, the long s to s).
func TestHasPrefixIsEqualFold(t *testing.T) {
	pieces := []string{"", "x", "X", "-", "remote", "REMOTE", "\u212a", "k", "K", "\u017f", "s", "é", "\xff", "impersonate-", "Impersonate-", "İ"}
	prefixes := []string{"", "X-Remote-Extra-", "x-remote-", "Impersonate-", "K", "s-", "é"}
	for _, p := range prefixes {
		for _, a := range pieces {
			for _, b := range pieces {
				for _, c := range pieces {
					s := a + b + c
					want := len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
					if got := HasPrefix(s, p); got != want {
						t.Fatalf("HasPrefix(%q, %q) = %v; want %v", s, p, got, want)
					}
				}
			}
		}
	}
}
