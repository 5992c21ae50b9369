package authn

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/aggauth/aggauth/internal/fold"
	"github.com/aggauth/aggauth/internal/idheaders"
	"github.com/aggauth/aggauth/internal/userinfo"
)

// newResponse allocates an authenticator.Response and the user.DefaultInfo it
// points to in one allocation.
func newResponse() (*authenticator.Response, *user.DefaultInfo) {
	r := &struct {
		resp authenticator.Response
		info user.DefaultInfo
	}{}
	r.resp.User = &r.info
	return &r.resp, &r.info
}

// inlineGroups and inlineExtra are how many groups and extra keys a decoded
// identity holds without an allocation of their own: the aggregator forwards
// a few groups (the user's and system:authenticated) and a few extra keys (a
// credential ID; a service account's pod and node).
const (
	inlineGroups = 6
	inlineExtra  = 4
)

// newHeaderResponse allocates an authenticator.Response, the userinfo.Info it
// points to and room for inlineGroups groups and inlineExtra extra keys in one
// allocation.
func newHeaderResponse() (*authenticator.Response, *userinfo.Info, []string) {
	r := &struct {
		resp   authenticator.Response
		info   userinfo.Info
		groups [inlineGroups]string
		extra  [inlineExtra]userinfo.Pair
	}{}
	r.resp.User = &r.info
	r.info.Pairs = r.extra[:0]
	return &r.resp, &r.info, r.groups[:0:inlineGroups]
}

// decode reads the identity from h with Kubernetes' requestheader rules
// (k8s.io/apiserver/pkg/authentication/request/headerrequest): the first non-empty
// username and uid, every non-empty group value, and every header under an extra
// prefix. An empty username is "no opinion" and leaves h untouched; otherwise the
// headers used are deleted from h, as Kubernetes does. spareGroups reserves room in
// the groups slice for groups a caller adds later (system:authenticated).
//
// With clearAll, decode also deletes what clearHeaders would, and reports so
// in cleared: with one extra prefix (the usual configuration), reading the
// extra and deleting every identity header then take one pass over h instead
// of two, and no deletion of a header that is not there.
func (c *compiledHeaders) decode(h http.Header, spareGroups int, clearAll bool) (resp *authenticator.Response, ok, cleared bool) {
	name := firstValue(h, c.userKeys)
	if name == "" {
		return nil, false, false
	}
	resp, info, inline := newHeaderResponse()
	info.Name = name
	info.UID = firstValue(h, c.uidKeys)
	info.Groups = allValues(h, c.groupKeys, spareGroups, inline)
	if c.decodeExtra(h, info, clearAll) {
		return resp, true, true
	}
	for _, keys := range [...][]string{c.userKeys, c.uidKeys, c.groupKeys} {
		for _, k := range keys {
			delete(h, k)
		}
	}
	return resp, true, false
}

// firstValue is Kubernetes' headerValue: for each name in order, the first value
// of the header (http.Header.Get semantics); the first non-empty one wins.
func firstValue(h http.Header, keys []string) string {
	for _, k := range keys {
		if vv := h[k]; len(vv) > 0 && vv[0] != "" {
			return vv[0]
		}
	}
	return ""
}

// allValues is Kubernetes' allHeaderValues: every non-empty value of every header,
// in order, never split on commas. The result is never nil; it is appended to
// buf (empty) when the values and spare fit in its capacity.
func allValues(h http.Header, keys []string, spare int, buf []string) []string {
	n := 0
	for _, k := range keys {
		n += len(h[k])
	}
	out := buf[:0:min(cap(buf), n+spare)] // the capacity of a make: a later append beyond it copies
	if n+spare > cap(buf) {
		out = make([]string, 0, n+spare)
	}
	for _, k := range keys {
		for _, v := range h[k] {
			if v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// decodeExtra is Kubernetes' newExtra followed by the prefix part of
// ClearAuthenticationHeaders: for each prefix in order, every header whose raw name
// starts with it (ignoring case) adds all its values, empty ones included, under
// the rest of the name lower-cased and then path-unescaped, to info's extra.
// Matching headers are deleted. Each request gets an extra of its own, as with
// Kubernetes' requestheader authenticator: a handler that changes its user's
// extra changes no other request's.
//
// With one prefix (the usual configuration) and clearAll, the same pass over h
// also deletes every header clearHeaders would, and decodeExtra returns true
// (the user, uid and group headers were read before).
func (c *compiledHeaders) decodeExtra(h http.Header, info *userinfo.Info, clearAll bool) (cleared bool) {
	if len(c.prefixes) != 1 {
		for _, prefix := range c.prefixes {
			for k, vv := range h {
				if fold.HasPrefix(k, prefix) {
					info.AddExtra(c.extraKey(k[len(prefix):]), vv[:len(vv):len(vv)])
				}
			}
		}
		// With several prefixes a header may match more than one; delete only
		// after all of them were read, as Kubernetes does.
		deletePrefixed(h, c.prefixes)
		return false
	}
	prefix := c.prefixes[0]
	for k, vv := range h {
		if fold.HasPrefix(k, prefix) {
			// The header is deleted, so its value slice can be taken over;
			// the capacity is clipped so that a later append copies.
			info.AddExtra(c.extraKey(k[len(prefix):]), vv[:len(vv):len(vv)])
		} else if !clearAll || !c.clears(k) {
			continue
		}
		delete(h, k) // deleting during range is allowed
	}
	return clearAll
}

// clears reports whether clearHeaders deletes the header named k: one of
// clearKeys, or a name under one of clearPrefixes (ignoring case).
func (c *compiledHeaders) clears(k string) bool {
	if slices.Contains(c.clearKeys, k) {
		return true
	}
	for _, p := range c.clearPrefixes {
		if fold.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func deletePrefixed(h http.Header, prefixes []string) { idheaders.DeletePrefixed(h, prefixes) }

// maxInterned bounds the decoded extra keys a configuration remembers.
const maxInterned = 16

type internedKey struct{ raw, key string }

// extraKey is extraKey(raw), remembered for the first maxInterned keys seen: the
// aggregator sends the same few (authentication.kubernetes.io/credential-id) on
// every request, and decoding them was a third of this package's time per
// request. Only requests from a verified proxy get here.
func (c *compiledHeaders) extraKey(raw string) string {
	old := c.interned.Load()
	if old != nil {
		for _, e := range *old {
			if e.raw == raw {
				return e.key
			}
		}
	}
	key := extraKey(raw)
	if old == nil || len(*old) < maxInterned {
		var next []internedKey
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, internedKey{raw: strings.Clone(raw), key: key})
		c.interned.CompareAndSwap(old, &next) // a lost race only forgoes remembering
	}
	return key
}

// extraKey returns url.PathUnescape(strings.ToLower(s)), or the lower-cased s when
// unescaping fails, exactly as Kubernetes' unescapeExtraKey(strings.ToLower(s)),
// with one allocation at most instead of two. Header names that arrive over the
// wire are ASCII; anything else takes Kubernetes' own path.
func extraKey(s string) string {
	upper, pct := false, 0
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b >= 0x80:
			return unescapeExtraKey(strings.ToLower(s))
		case 'A' <= b && b <= 'Z':
			upper = true
		case b == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return strings.ToLower(s) // malformed: Kubernetes keeps the raw key
			}
			pct++
			i += 2
		}
	}
	if pct == 0 {
		if upper {
			return strings.ToLower(s)
		}
		return s
	}
	var b strings.Builder
	b.Grow(len(s) - 2*pct)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		case 'A' <= c && c <= 'Z':
			b.WriteByte(c + ('a' - 'A'))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unescapeExtraKey is Kubernetes' own: always record extra keys, even malformed.
func unescapeExtraKey(encoded string) string {
	key, err := url.PathUnescape(encoded)
	if err != nil {
		return encoded
	}
	return key
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// standardHeaderKeys are the front-proxy headers that are removed from every
// request, whatever the configuration: the names kube-apiserver's aggregator
// sends.
var standardHeaderKeys = idheaders.StandardKeys

// standardClearKeys are the names clearHeaders deletes without a
// configuration, besides those under the standard prefix.
var standardClearKeys = slices.Concat([]string{"Authorization"}, standardHeaderKeys)

// clearHeaders deletes Authorization, the standard X-Remote-* headers and, when c
// is not nil, the configured ones, in one pass over h for the prefixes.
func clearHeaders(h http.Header, c *compiledHeaders) {
	keys, prefixes := standardClearKeys, standardPrefix
	if c != nil {
		keys, prefixes = c.clearKeys, c.clearPrefixes
	}
	for _, k := range keys {
		delete(h, k)
	}
	deletePrefixed(h, prefixes)
}

// otherKeys returns the configured header names that are not standard ones,
// each once.
func otherKeys(keys ...[]string) []string {
	var out []string
	for _, ks := range keys {
		for _, k := range ks {
			if !slices.Contains(standardHeaderKeys, k) && !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

var standardPrefix = []string{DefaultExtraHeaderPrefix}
