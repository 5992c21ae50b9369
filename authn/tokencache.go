package authn

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"
	"time"
	"unsafe"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/aggauth/aggauth/internal/lru"
)

// tokenKey locates a TokenReview answer: an HMAC-SHA256, with a random key
// drawn when the Token is built, of the length-prefixed token and audiences
// (tokenKeyer.key). The token itself is never kept: not in the cache, not in a
// flight, not in a log.
type tokenKey [sha256.Size]byte

// tokenKeyer computes tokenKeys with pooled HMAC states, so that a cache hit
// neither allocates nor re-derives the HMAC's padded keys.
type tokenKeyer struct{ pool sync.Pool }

// keyState is one pooled HMAC with room for its sum and a length prefix.
type keyState struct {
	mac hash.Hash
	sum [sha256.Size]byte
	n   [binary.MaxVarintLen64]byte
}

func newTokenKeyer() *tokenKeyer {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		panic("authn: no randomness for the token cache key: " + err.Error())
	}
	k := &tokenKeyer{}
	k.pool.New = func() any { return &keyState{mac: hmac.New(sha256.New, secret)} }
	return k
}

// key is the HMAC of the token and the audiences the review is checked
// against, each length-prefixed, as Kubernetes' keyFunc; unlike it, "no
// audience check" (check false) and "an empty list of audiences" differ. The
// lengths are uvarints (prefix-free, so the encoding stays injective): a
// token of up to 53 bytes and no audience then fit SHA-256's one block,
// where 8-byte lengths took two.
func (k *tokenKeyer) key(token string, auds []string, check bool) tokenKey {
	s := k.pool.Get().(*keyState)
	s.mac.Reset()
	s.writeString(token)
	if check {
		s.writeLen(len(auds) + 1)
		for _, a := range auds {
			s.writeString(a)
		}
	} else {
		s.writeLen(0)
	}
	var key tokenKey
	copy(key[:], s.mac.Sum(s.sum[:0]))
	k.pool.Put(s)
	return key
}

func (s *keyState) writeLen(n int) {
	s.mac.Write(binary.AppendUvarint(s.n[:0], uint64(n)))
}

func (s *keyState) writeString(v string) {
	s.writeLen(len(v))
	if len(v) > 0 {
		// The hash only reads the bytes; a copy of a 1 KiB token per request
		// is what the unsafe view saves.
		s.mac.Write(unsafe.Slice(unsafe.StringData(v), len(v)))
	}
}

// tokenEntry is a review's answer, immutable once made: a user (err nil), or
// the error a request with the token gets.
type tokenEntry struct {
	name, uid string
	groups    []string // as the review said
	// authGroups are groups with system:authenticated added as Kubernetes'
	// AuthenticatedGroupAdder would, computed once (Union hands them out).
	authGroups []string
	extra      map[string][]string
	auds       authenticator.Audiences
	err        error
	// cacheable is false for an answer Kubernetes does not cache: a review
	// whose status carries an error.
	cacheable bool
	expires   time.Time // set when cached
	// plain and withAuthenticated are the responses of a user (err nil):
	// without and with system:authenticated added (see response).
	plain, withAuthenticated *authenticator.Response
}

// response returns the response of every request e answers, as Kubernetes'
// cached token authenticator returns its cached one: the response, its user,
// the slices and the map are shared by those requests and must not be
// changed.
func (e *tokenEntry) response(authenticated bool) *authenticator.Response {
	if authenticated {
		return e.withAuthenticated
	}
	return e.plain
}

// newResponse builds e's response, once, when e is made.
func (e *tokenEntry) newResponse(authenticated bool) *authenticator.Response {
	resp, info := newResponse()
	info.Name, info.UID, info.Extra = e.name, e.uid, e.extra
	info.Groups = e.groups
	if authenticated {
		info.Groups = e.authGroups
	}
	resp.Audiences = e.auds
	return resp
}

// withAuthenticated is Kubernetes' AuthenticatedGroupAdder on a user's groups:
// system:authenticated appended, unless name is system:anonymous or groups
// already hold system:authenticated or system:unauthenticated. It appends to
// groups: pass them clipped (slices.Clip) to have them copied.
func withAuthenticated(name string, groups []string) []string {
	if name == user.Anonymous {
		return groups
	}
	for _, g := range groups {
		if g == user.AllAuthenticated || g == user.AllUnauthenticated {
			return groups
		}
	}
	return append(groups, user.AllAuthenticated)
}

// Accounting of the token caches: a fixed overhead per entry (the entry, the
// LRU element, the map slot, the key) plus what the answer holds.
const (
	tokenEntryOverhead = 256
	tokenStringCost    = 16 // a string header
)

func tokenEntrySize(_ tokenKey, e *tokenEntry) int64 {
	n := tokenEntryOverhead + len(e.name) + len(e.uid)
	for _, g := range e.groups {
		n += tokenStringCost + len(g)
	}
	if len(e.authGroups) != len(e.groups) {
		n += (len(e.authGroups) + 1) * tokenStringCost
	}
	for k, vs := range e.extra {
		n += 2*tokenStringCost + len(k)
		for _, v := range vs {
			n += tokenStringCost + len(v)
		}
	}
	for _, a := range e.auds {
		n += tokenStringCost + len(a)
	}
	return int64(n)
}

// tokenCache holds review answers in two LRUs, each bounded in entries and
// bytes: authenticated tokens, and tokens kube-apiserver did not
// authenticate. Failures have their own, smaller, cache so that a client
// sending random tokens evicts only other failures, never the entries of
// authenticated callers.
type tokenCache struct {
	ok, failed *lru.Cache[tokenKey, *tokenEntry]
}

func newTokenCache(o TokenOptions) tokenCache {
	hash := func(k tokenKey) uint64 { return binary.LittleEndian.Uint64(k[:8]) } // keyed already
	return tokenCache{
		ok:     lru.New(o.MaxEntries, o.MaxBytes, tokenEntrySize, hash),
		failed: lru.New(o.MaxFailureEntries, o.MaxFailureBytes, tokenEntrySize, hash),
	}
}

// get returns the answer cached for k, if it is still fresh at now.
func (c tokenCache) get(k tokenKey, now time.Time) (*tokenEntry, bool) {
	if e, ok := c.ok.Get(k); ok && now.Before(e.expires) {
		return e, true
	}
	if e, ok := c.failed.Get(k); ok && now.Before(e.expires) {
		return e, true
	}
	return nil, false
}

// add caches e under k until e.expires, in the cache of its kind, and drops
// any older answer for k from the other.
func (c tokenCache) add(k tokenKey, e *tokenEntry) {
	if e.err == nil {
		c.failed.Remove(k)
		c.ok.Add(k, e)
		return
	}
	c.ok.Remove(k)
	c.failed.Add(k, e)
}
