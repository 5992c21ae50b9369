package authn

import (
	"strings"
	"testing"
)

// TestTokenKeyInjective: different tokens, audience lists, or "no audience
// check" against "no audiences" never share a cache key, whatever the lengths
// (one-byte and multi-byte length prefixes); the same input always gives the
// same key.
func TestTokenKeyInjective(t *testing.T) {
	long := strings.Repeat("t", 200) // a length prefix of two bytes
	type input struct {
		token string
		auds  []string
		check bool
	}
	inputs := []input{
		{"a", nil, false},
		{"a", nil, true},
		{"a", []string{""}, true},
		{"a", []string{"", ""}, true},
		{"ab", nil, false},
		{"a", []string{"b"}, true},
		{"ab", []string{}, true},
		{"a", []string{"b", "c"}, true},
		{"a", []string{"bc"}, true},
		{"a", []string{"b\x01c"}, true},
		{"a\x00", nil, false},
		{"a\x01", nil, true},
		{long, nil, false},
		{long[:199], []string{"t"}, true},
		{long + "x", nil, false},
		{"\x01a", nil, false},
	}
	k := newTokenKeyer()
	seen := map[tokenKey]int{}
	for i, in := range inputs {
		key := k.key(in.token, in.auds, in.check)
		if j, dup := seen[key]; dup {
			t.Fatalf("inputs %d %+v and %d %+v share a key", i, in, j, inputs[j])
		}
		seen[key] = i
		if again := k.key(in.token, in.auds, in.check); again != key {
			t.Fatalf("input %d: the key changed between two calls", i)
		}
	}
	if newTokenKeyer().key("a", nil, false) == k.key("a", nil, false) {
		t.Fatal("two keyers share a key: the HMAC key must be drawn per keyer")
	}
}
