package authn

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	"k8s.io/apiserver/pkg/authentication/user"
)

func FuzzExtraKey(f *testing.F) {
	for _, s := range []string{"", "a", "A%2Fb", "a%2fb", "%zz", "%25", "%", "%4", "Keep%41", "caf\u00e9", "\xff%41", "MixedCase/Key%x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := unescapeExtraKey(strings.ToLower(s))
		if got := extraKey(s); got != want {
			t.Fatalf("extraKey(%q) = %q; want %q", s, got, want)
		}
	})
}

// parseFuzzHeaders turns "name: value" lines into a header map, keeping the names
// as written (a server canonicalizes them; a hand-built request may not).
func parseFuzzHeaders(s string) http.Header {
	h := http.Header{}
	for _, line := range strings.Split(s, "\n") {
		k, v, _ := strings.Cut(line, ":")
		h[k] = append(h[k], v)
	}
	return h
}

// FuzzDecodeHeaders compares the one-pass header decoding with Kubernetes'
// requestheader authenticator on arbitrary headers and configurations.
func FuzzDecodeHeaders(f *testing.F) {
	f.Add("X-Remote-User:bob\nX-Remote-Group:g1\nX-Remote-Group:g2,g3\nX-Remote-Extra-A%2fb:v", "X-Remote-User", "X-Remote-Uid", "X-Remote-Group", "X-Remote-Extra-")
	f.Add("x-remote-user:bob\nX-Remote-User:\nX-Remote-Extra-:e\nX-Remote-Extra-%zz:", "x-remote-user", "", "X-Remote-Group", "x-remote-")
	f.Add("X-User:a\nX-User:b\nX-Extra-K:1\nX-Extra-K:2", "X-User", "X-User", "X-User", "X-Extra-,X-")
	f.Add("X-Remote-User:bob", "X-Remote-User, ", "", "X-Remote-Group", "X-Remote-Extra-") // refused by both
	f.Fuzz(func(t *testing.T, headers, name, uid, groupName, prefixes string) {
		split := func(s string) []string {
			var out []string
			for _, p := range strings.Split(s, ",") {
				if p != "" { // whitespace-only names stay: both must refuse them
					out = append(out, p)
				}
			}
			return out
		}
		names, uids, groups, pfx := split(name), split(uid), split(groupName), split(prefixes)
		theirs, err := headerrequest.New(names, uids, groups, pfx)
		cfg := &RequestHeaderConfig{CA: &CABundle{}, UsernameHeaders: names, UIDHeaders: uids, GroupHeaders: groups, ExtraHeaderPrefixes: pfx}
		if ourErr := cfg.Validate(); (err != nil) != (ourErr != nil) {
			t.Fatalf("configuration refused: kubernetes %v, ours %v", err, ourErr)
		}
		if err != nil {
			return // both refuse it: there is nothing to decode with
		}
		ours := compileHeaders(cfg)
		h1, h2 := parseFuzzHeaders(headers), parseFuzzHeaders(headers)
		tResp, tOK, _ := theirs.AuthenticateRequest(&http.Request{Header: h1})
		oResp, oOK, _ := ours.decode(h2, 0, false)
		if tOK != oOK {
			t.Fatalf("ok: kubernetes %v, ours %v", tOK, oOK)
		}
		if !tOK {
			return
		}
		tu, ou := tResp.User, oResp.User
		if tu.GetName() != ou.GetName() || tu.GetUID() != ou.GetUID() || !slices.Equal(tu.GetGroups(), ou.GetGroups()) {
			t.Fatalf("user: kubernetes %+v, ours %+v", tu, ou)
		}
		if !sameExtra(tu, ou) {
			t.Fatalf("extra: kubernetes %v, ours %v", tu.GetExtra(), ou.GetExtra())
		}
		if len(h1) != len(h2) {
			t.Fatalf("headers left: kubernetes %v, ours %v", h1, h2)
		}
		for k := range h1 {
			if _, ok := h2[k]; !ok {
				t.Fatalf("headers left: kubernetes %v, ours %v", h1, h2)
			}
		}
		// Decoding with clearAll gives the same user, and leaves the headers
		// that decoding and then clearHeaders leave.
		h3 := parseFuzzHeaders(headers)
		cResp, cOK, cleared := ours.decode(h3, 0, true)
		if !cOK {
			t.Fatal("clearAll: not decoded")
		}
		if !cleared {
			clearHeaders(h3, ours)
		}
		clearHeaders(h2, ours)
		cu := cResp.User
		if cu.GetName() != ou.GetName() || cu.GetUID() != ou.GetUID() || !slices.Equal(cu.GetGroups(), ou.GetGroups()) || !sameExtra(cu, ou) {
			t.Fatalf("clearAll: user %+v; without it %+v", cu, ou)
		}
		if !maps.EqualFunc(h2, h3, slices.Equal) {
			t.Fatalf("clearAll: headers left %v; decode then clearHeaders leaves %v", h3, h2)
		}
	})
}

// sameExtra compares extras with values as multisets (see the differential test).
func sameExtra(a, b user.Info) bool {
	ea, eb := a.GetExtra(), b.GetExtra()
	if len(ea) != len(eb) {
		return false
	}
	for k, va := range ea {
		vb, ok := eb[k]
		if !ok || len(va) != len(vb) {
			return false
		}
		sa, sb := slices.Clone(va), slices.Clone(vb)
		slices.Sort(sa)
		slices.Sort(sb)
		if !slices.Equal(sa, sb) {
			return false
		}
	}
	return true
}
