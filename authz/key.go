package authz

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"
	"sync"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// cacheKey identifies a SubjectAccessReview: a SHA-256, keyed with a secret of
// the process, over an injective encoding of every attribute the review is built
// from. A shared key is an authorization bypass, so the encoding is
// length-prefixed throughout (see appendKeyMaterial) and the hash is
// collision-resistant; the secret keeps keys unpredictable from outside.
type cacheKey [sha256.Size]byte

// maxPooledKeyBuf is the largest encoding buffer returned to the pool, so that
// one request with huge attributes does not pin memory.
const maxPooledKeyBuf = 16 << 10

// keyer computes cache keys without allocating.
type keyer struct {
	secret [32]byte
	bufs   sync.Pool // *[]byte, each starting with secret
}

func newKeyer() *keyer {
	k := &keyer{}
	if _, err := rand.Read(k.secret[:]); err != nil {
		panic("authz: reading a random cache key secret: " + err.Error())
	}
	k.bufs.New = func() any {
		b := make([]byte, 0, 512)
		return &b
	}
	return k
}

// key returns the cache key of the SubjectAccessReview for u and attrs.
func (k *keyer) key(u user.Info, attrs authorizer.Attributes) cacheKey {
	bp := k.bufs.Get().(*[]byte)
	b := append((*bp)[:0], k.secret[:]...)
	b = appendKeyMaterial(b, u, attrs)
	key := cacheKey(sha256.Sum256(b))
	if cap(b) <= maxPooledKeyBuf {
		*bp = b
		k.bufs.Put(bp)
	}
	return key
}

// Selector encodings: raw selectors (from Attributes) and parsed requirements
// (from any other authorizer.Attributes) are told apart, so they never collide.
const (
	selectorsRaw    = 'r'
	selectorsParsed = 'p'
)

// appendKeyMaterial appends an injective encoding of u and attrs to b: every
// string is length-prefixed, every list is count-prefixed, a nil list of extra
// values is told apart from an empty one (they serialize differently), and extra
// keys are sorted, so equal inputs give equal bytes and different inputs
// different bytes. Fields are written in a fixed order, whatever the request
// kind, so a field can never be mistaken for another.
func appendKeyMaterial(b []byte, u user.Info, attrs authorizer.Attributes) []byte {
	b = appendString(b, u.GetName())
	b = appendString(b, u.GetUID())
	groups := u.GetGroups()
	b = binary.AppendUvarint(b, uint64(len(groups)))
	for _, g := range groups {
		b = appendString(b, g)
	}
	b = appendExtra(b, u.GetExtra())

	if attrs.IsResourceRequest() {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	for _, s := range [...]string{attrs.GetVerb(), attrs.GetNamespace(), attrs.GetAPIGroup(), attrs.GetAPIVersion(),
		attrs.GetResource(), attrs.GetSubresource(), attrs.GetName(), attrs.GetPath()} {
		b = appendString(b, s)
	}
	return appendSelectors(b, attrs)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendExtra writes the extra map with sorted keys; a nil value list is
// written as 0 and a list of n values as n+1.
func appendExtra(b []byte, extra map[string][]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(extra)))
	if len(extra) == 0 {
		return b
	}
	type pair struct {
		key    string
		values []string
	}
	var stack [16]pair
	pairs := stack[:0]
	for k, vs := range extra {
		pairs = append(pairs, pair{k, vs})
	}
	if len(pairs) > 1 {
		slices.SortFunc(pairs, func(x, y pair) int { return strings.Compare(x.key, y.key) })
	}
	for _, p := range pairs {
		b = appendString(b, p.key)
		if p.values == nil {
			b = append(b, 0)
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(p.values))+1)
		for _, v := range p.values {
			b = appendString(b, v)
		}
	}
	return b
}

// rawSelectorAttributes is implemented by Attributes, whose review is a
// function of its raw selectors.
type rawSelectorAttributes interface {
	rawSelectors() (field, label string)
}

func appendSelectors(b []byte, attrs authorizer.Attributes) []byte {
	if raw, ok := attrs.(rawSelectorAttributes); ok {
		field, label := raw.rawSelectors()
		b = append(b, selectorsRaw)
		b = appendString(b, field)
		return appendString(b, label)
	}
	b = append(b, selectorsParsed)
	fieldReqs, _ := attrs.GetFieldSelector()
	b = binary.AppendUvarint(b, uint64(len(fieldReqs)))
	for _, r := range fieldReqs {
		b = appendString(b, string(r.Operator))
		b = appendString(b, r.Field)
		b = appendString(b, r.Value)
	}
	labelReqs, _ := attrs.GetLabelSelector()
	b = binary.AppendUvarint(b, uint64(len(labelReqs)))
	for i := range labelReqs {
		r := &labelReqs[i]
		b = appendString(b, string(r.Operator()))
		b = appendString(b, r.Key())
		vs := r.ValuesUnsorted()
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	return b
}

// controlledAttributesSize is what Kubernetes' webhook authorizer measures to
// refuse caching oversized, requester-controlled attributes.
func controlledAttributesSize(attrs authorizer.Attributes) int {
	return len(attrs.GetNamespace()) + len(attrs.GetVerb()) + len(attrs.GetAPIGroup()) + len(attrs.GetAPIVersion()) +
		len(attrs.GetResource()) + len(attrs.GetSubresource()) + len(attrs.GetName()) + len(attrs.GetPath())
}
