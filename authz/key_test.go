package authz

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aggauth/aggauth/internal/reqattr"
	"github.com/aggauth/aggauth/internal/userinfo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

func mustLabels(t testing.TB, s string) labels.Requirements {
	sel, err := labels.Parse(s)
	require.NoError(t, err)
	reqs, _ := sel.Requirements()
	return reqs
}

func mustFields(t testing.TB, s string) fields.Requirements {
	sel, err := fields.ParseSelector(s)
	require.NoError(t, err)
	return sel.Requirements()
}

// baseRecord is a resource request with every field set.
func baseRecord(t testing.TB) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{
		User: &user.DefaultInfo{Name: "alice", UID: "uid-1", Groups: []string{"g1", "g2"},
			Extra: map[string][]string{"k1": {"v1", "v2"}, "k2": {"v3"}}},
		Verb: "list", Namespace: "ns", APIGroup: "apps", APIVersion: "v1", Resource: "deployments",
		Subresource: "status", Name: "web", ResourceRequest: true, Path: "/apis/apps/v1/namespaces/ns/deployments",
		FieldSelectorRequirements: mustFields(t, "spec.x=1"),
		LabelSelectorRequirements: mustLabels(t, "app in (a,b)"),
	}
}

// TestKeyDiffersInEveryField changes one field at a time, on both kinds of
// attributes (parsed selectors and raw selectors): no two variants may share a
// key, and equal attributes must.
func TestKeyDiffersInEveryField(t *testing.T) {
	k := newKeyer()
	mutations := map[string]func(r *authorizer.AttributesRecord, u *user.DefaultInfo){
		"base":           func(*authorizer.AttributesRecord, *user.DefaultInfo) {},
		"user":           func(_ *authorizer.AttributesRecord, u *user.DefaultInfo) { u.Name = "bob" },
		"user into uid":  func(_ *authorizer.AttributesRecord, u *user.DefaultInfo) { u.Name, u.UID = "aliceu", "id-1" },
		"uid":            func(_ *authorizer.AttributesRecord, u *user.DefaultInfo) { u.UID = "uid-2" },
		"empty uid":      func(_ *authorizer.AttributesRecord, u *user.DefaultInfo) { u.UID = "" },
		"a group":        func(_ *authorizer.AttributesRecord, u *user.DefaultInfo) { u.Groups = []string{"g1", "g3"} },
		"group order":    func(_ *authorizer.AttributesRecord, u *user.DefaultInfo) { u.Groups = []string{"g2", "g1"} },
		"one more group": func(_ *authorizer.AttributesRecord, u *user.DefaultInfo) { u.Groups = []string{"g1", "g2", ""} },
		"groups merged":  func(_ *authorizer.AttributesRecord, u *user.DefaultInfo) { u.Groups = []string{"g1g2"} },
		"no groups":      func(_ *authorizer.AttributesRecord, u *user.DefaultInfo) { u.Groups = nil },
		"an extra key": func(_ *authorizer.AttributesRecord, u *user.DefaultInfo) {
			u.Extra = map[string][]string{"k1": {"v1", "v2"}, "k3": {"v3"}}
		},
		"an extra value": func(_ *authorizer.AttributesRecord, u *user.DefaultInfo) {
			u.Extra = map[string][]string{"k1": {"v1", "v9"}, "k2": {"v3"}}
		},
		"extra value order": func(_ *authorizer.AttributesRecord, u *user.DefaultInfo) {
			u.Extra = map[string][]string{"k1": {"v2", "v1"}, "k2": {"v3"}}
		},
		"extra value moved": func(_ *authorizer.AttributesRecord, u *user.DefaultInfo) {
			u.Extra = map[string][]string{"k1": {"v1"}, "k2": {"v2", "v3"}}
		},
		"extra nil values": func(_ *authorizer.AttributesRecord, u *user.DefaultInfo) {
			u.Extra = map[string][]string{"k1": {"v1", "v2"}, "k2": nil}
		},
		"extra empty values": func(_ *authorizer.AttributesRecord, u *user.DefaultInfo) {
			u.Extra = map[string][]string{"k1": {"v1", "v2"}, "k2": {}}
		},
		"no extra":      func(_ *authorizer.AttributesRecord, u *user.DefaultInfo) { u.Extra = nil },
		"verb":          func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) { r.Verb = "watch" },
		"namespace":     func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) { r.Namespace = "other" },
		"cluster scope": func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) { r.Namespace = "" },
		"group":         func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) { r.APIGroup = "extensions" },
		"version":       func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) { r.APIVersion = "v2" },
		"resource":      func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) { r.Resource = "replicasets" },
		"subresource":   func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) { r.Subresource = "scale" },
		"resource/subresource": func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) {
			r.Resource, r.Subresource = "deploymentsstatus", ""
		},
		"name":         func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) { r.Name = "api" },
		"path":         func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) { r.Path = "/apis/apps/v1/deployments" },
		"non-resource": func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) { r.ResourceRequest = false },
		"field selector value": func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) {
			r.FieldSelectorRequirements = mustFields(t, "spec.x=2")
		},
		"field selector op": func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) {
			r.FieldSelectorRequirements = mustFields(t, "spec.x!=1")
		},
		"no field selector": func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) { r.FieldSelectorRequirements = nil },
		"label selector value": func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) {
			r.LabelSelectorRequirements = mustLabels(t, "app in (a,c)")
		},
		"label selector op": func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) {
			r.LabelSelectorRequirements = mustLabels(t, "app notin (a,b)")
		},
		"label selector exists": func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) {
			r.LabelSelectorRequirements = mustLabels(t, "app")
		},
		"no label selector": func(r *authorizer.AttributesRecord, _ *user.DefaultInfo) { r.LabelSelectorRequirements = nil },
	}
	seen := map[string]string{}
	for name, mutate := range mutations {
		r := baseRecord(t)
		u := *r.User.(*user.DefaultInfo)
		mutate(&r, &u)
		r.User = &u
		got := k.key(&u, r)
		require.Equal(t, got, k.key(&u, r), "%s: the key must be stable", name)
		if other, ok := seen[got]; ok {
			t.Fatalf("%q and %q share a key", name, other)
		}
		seen[got] = name
	}

	// Raw selectors, as resolved from a request by Attributes.
	rawSeen := map[string]string{}
	for _, q := range []string{"", "labelSelector=a", "labelSelector=b", "fieldSelector=a", "fieldSelector=a&labelSelector=a",
		"labelSelector=a%3Db", "labelSelector=a%3D%3Db", "fieldSelector=x%3Dy,z%3Dw", "fieldSelector=x%3Dy&labelSelector=z%3Dw"} {
		req := &http.Request{Method: "GET", URL: &url.URL{Path: "/api/v1/pods", RawQuery: q}}
		attrs, err := reqattr.NewAttributes(req, &user.DefaultInfo{Name: "alice"})
		require.NoError(t, err)
		got := k.key(attrs.User, attrs)
		if other, ok := rawSeen[got]; ok {
			t.Fatalf("queries %q and %q share a key", q, other)
		}
		rawSeen[got] = q
		assert.NotContains(t, seen, got, "raw and parsed selectors must not collide")
	}
}

func TestKeyManyExtraKeys(t *testing.T) {
	k := newKeyer()
	extra := map[string][]string{}
	for i := 0; i < 40; i++ { // more than the sort buffer on the stack
		extra[fmt.Sprintf("key-%02d", i)] = []string{fmt.Sprint(i)}
	}
	r := baseRecord(t)
	u1 := &user.DefaultInfo{Name: "a", Extra: extra}
	first := k.key(u1, r)
	for i := 0; i < 20; i++ { // map order varies; the key must not
		require.Equal(t, first, k.key(&user.DefaultInfo{Name: "a", Extra: extra}, r))
	}
}

// fuzzAttributes decodes a fuzz input into attributes: fields separated by
// "|", groups by ",", extra as "k=v1,v2;k2=", then a field and a label
// selector. canonical describes the review those attributes produce, with the
// selectors as the requirements they parse into, so that two inputs with the
// same canonical form must share a key and two with different forms must not.
func fuzzAttributes(s string) (attrs authorizer.AttributesRecord, canonical string) {
	f := strings.Split(s, "|")
	for len(f) < 14 {
		f = append(f, "")
	}
	u := &user.DefaultInfo{Name: f[0], UID: f[1]}
	if f[2] != "" {
		u.Groups = strings.Split(f[2], ",")
	}
	if f[3] != "" {
		u.Extra = map[string][]string{}
		for _, kv := range strings.Split(f[3], ";") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				u.Extra[k] = nil
			} else if v == "" {
				u.Extra[k] = []string{}
			} else {
				u.Extra[k] = strings.Split(v, ",")
			}
		}
	}
	attrs = authorizer.AttributesRecord{User: u, Verb: f[4], Namespace: f[5], APIGroup: f[6], APIVersion: f[7],
		Resource: f[8], Subresource: f[9], Name: f[10], Path: f[11], ResourceRequest: len(f)%2 == 0}
	if sel, err := fields.ParseSelector(f[12]); err == nil {
		attrs.FieldSelectorRequirements = sel.Requirements()
	}
	if sel, err := labels.Parse(f[13]); err == nil {
		attrs.LabelSelectorRequirements, _ = sel.Requirements()
	}
	var selectors []string
	for _, r := range attrs.FieldSelectorRequirements {
		selectors = append(selectors, fmt.Sprintf("f%q", []string{string(r.Operator), r.Field, r.Value}))
	}
	for _, r := range attrs.LabelSelectorRequirements {
		selectors = append(selectors, fmt.Sprintf("l%q%q", []string{string(r.Operator()), r.Key()}, r.ValuesUnsorted()))
	}
	keys := make([]string, 0, len(u.Extra))
	for k := range u.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	extra := make([]string, 0, len(keys))
	for _, k := range keys {
		extra = append(extra, fmt.Sprintf("%q:%t:%q", k, u.Extra[k] == nil, u.Extra[k]))
	}
	canonical = fmt.Sprintf("%q %q %q %v %q %t %v", u.Name, u.UID, u.Groups, extra, f[4:12], attrs.ResourceRequest, selectors)
	return attrs, canonical
}

func FuzzKeyInjective(f *testing.F) {
	f.Add("ab|c", "a|bc")
	f.Add("a|u|g1,g2|k=v", "a|u|g1|g2,k=v")
	f.Add("a|u|g|k=v1,v2;k2=v3", "a|u|g|k=v1;v2,k2=v3")
	f.Add("a||||get|ns|g|v|r|s|n|/p", "a||||get|ns|g|v|r|s|n|/p|")
	f.Add("a|||k=", "a|||k")
	f.Add("a|b", "a|b")
	f.Add("a||||list|ns|g|v|r|||/p|metadata.name=x|app=web", "a||||list|ns|g|v|r|||/p|metadata.name==x|app==web")
	f.Add("a||||list||||||||a=b,c!=d|x in (a,b),!y", "a||||list||||||||a=b|c!=d,x in (a,b),!y")
	f.Add("a||||list|||||||||x in (a,b)", "a||||list|||||||||x in (b,a)")
	k := newKeyer()
	f.Fuzz(func(t *testing.T, x, y string) {
		ax, cx := fuzzAttributes(x)
		ay, cy := fuzzAttributes(y)
		kx, ky := k.key(ax.User, ax), k.key(ay.User, ay)
		if cx == cy && kx != ky {
			t.Fatalf("equal reviews, different keys: %s", cx)
		}
		if cx != cy && kx == ky {
			t.Fatalf("different reviews share a key:\n%s\n%s", cx, cy)
		}
	})
}

func BenchmarkKey(b *testing.B) {
	k := newKeyer()
	r := baseRecord(b)
	attrs := authorizer.AttributesRecord{User: r.User, Verb: "get", Namespace: "ns", APIVersion: "v1", Resource: "pods", Name: "p", ResourceRequest: true}
	b.ReportAllocs()
	for b.Loop() {
		_, buf := k.borrow(attrs.User, &attrs)
		k.release(buf)
	}
}

// TestKeyOfForwardedUser: a front-proxy user (userinfo.Info, whose extra is
// read from its sorted pairs) has the key of the user.DefaultInfo with the same
// fields, whatever its extra: no extra, empty and nil value lists, one key or
// several added in any order.
func TestKeyOfForwardedUser(t *testing.T) {
	k := newKeyer()
	r := baseRecord(t)
	extras := [][]userinfo.Pair{
		nil,
		{{Key: "authentication.kubernetes.io/credential-id", Values: []string{"JTI=1"}}},
		{{Key: "b", Values: []string{"2", "3"}}, {Key: "a", Values: nil}, {Key: "c", Values: []string{}}},
		{{Key: "z", Values: []string{""}}, {Key: "a", Values: []string{"1"}}, {Key: "z", Values: []string{"x"}}},
	}
	seen := map[string]bool{}
	for i, pairs := range extras {
		fu := &userinfo.Info{Name: "alice", UID: "u", Groups: []string{"g"}}
		want := &user.DefaultInfo{Name: "alice", UID: "u", Groups: []string{"g"}}
		for _, p := range pairs {
			fu.AddExtra(p.Key, slices.Clip(p.Values))
			if want.Extra == nil {
				want.Extra = map[string][]string{}
			}
			if old, ok := want.Extra[p.Key]; ok {
				want.Extra[p.Key] = append(old, p.Values...)
			} else {
				want.Extra[p.Key] = p.Values
			}
		}
		got := k.key(fu, &r)
		require.Equal(t, k.key(want, &r), got, "extra %d", i)
		require.Equal(t, want.Extra, fu.GetExtra(), "extra %d", i)
		require.False(t, seen[got], "extra %d: the key of another extra", i)
		seen[got] = true
	}
}

// TestForwardedUserReviewMatchesKey: a handler that writes to the map its
// forwarded user's GetExtra returned (breaking the read-only contract) changes
// neither the cache key nor the review of a later authorization of that user:
// both read the pairs, so a decision is never cached under a key that tells
// another extra than the one it was decided for.
func TestForwardedUserReviewMatchesKey(t *testing.T) {
	k := newKeyer()
	r := baseRecord(t)
	fu := &userinfo.Info{Name: "alice", Groups: []string{"g"}}
	fu.AddExtra("scopes", []string{"read"})
	r.User = fu
	before := k.key(fu, &r)
	fu.GetExtra()["scopes"] = []string{"admin"}
	fu.GetExtra()["approved-by"] = []string{"alice"}
	require.Equal(t, before, k.key(fu, &r))
	sar := newSubjectAccessReview(fu, &r)
	require.Equal(t, map[string]authorizationv1.ExtraValue{"scopes": {"read"}}, sar.Spec.Extra)
	require.Equal(t, k.key(&user.DefaultInfo{Name: "alice", Groups: []string{"g"}, Extra: map[string][]string{"scopes": {"read"}}}, &r), before)
}
