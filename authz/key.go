package authz

import (
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/aggauth/aggauth/internal/reqattr"
	"github.com/aggauth/aggauth/internal/userinfo"
)

// The cache key of a SubjectAccessReview is the injective encoding of every
// attribute the review is built from (see appendKeyMaterial) itself, not a
// hash of it: two different reviews can never share a key, so a collision (an
// authorization bypass) is impossible by construction rather than improbable.
// The key's length is counted in the cache's byte bound.

// maxPooledKeyBuf is the largest encoding buffer returned to the pool, so that
// one request with huge attributes does not pin memory.
const maxPooledKeyBuf = 16 << 10

// keyer encodes cache keys into pooled buffers, without allocating.
type keyer struct {
	bufs sync.Pool // *[]byte
}

func newKeyer() *keyer {
	k := &keyer{}
	k.bufs.New = func() any {
		b := make([]byte, 0, 512)
		return &b
	}
	return k
}

// borrow returns the cache key of the SubjectAccessReview for u and attrs. The
// key aliases a pooled buffer: it is valid until release(buf), and must be
// cloned to outlive it.
func (k *keyer) borrow(u user.Info, attrs authorizer.Attributes) (key string, buf *[]byte) {
	buf = k.bufs.Get().(*[]byte)
	b := appendKeyMaterial((*buf)[:0], u, attrs)
	*buf = b
	return unsafe.String(unsafe.SliceData(b), len(b)), buf
}

// release returns buf to the pool; keys borrowed from it are then invalid.
func (k *keyer) release(buf *[]byte) {
	if cap(*buf) <= maxPooledKeyBuf {
		k.bufs.Put(buf)
	}
}

// key returns the cache key of the SubjectAccessReview for u and attrs, in
// memory of its own.
func (k *keyer) key(u user.Info, attrs authorizer.Attributes) string {
	key, buf := k.borrow(u, attrs)
	owned := strings.Clone(key)
	k.release(buf)
	return owned
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
	if fu, ok := u.(*userinfo.Info); ok {
		// The same bytes as appendExtra's, from the sorted pairs: no map is
		// made for a forwarded user's extra.
		b = binary.AppendUvarint(b, uint64(len(fu.Pairs)))
		for _, p := range fu.Pairs {
			b = appendExtraEntry(b, p.Key, p.Values)
		}
	} else {
		b = appendExtra(b, u.GetExtra())
	}

	if ra, ok := attrs.(*reqattr.Attributes); ok {
		// The same bytes as below, read from the fields rather than through
		// the interface, on every request.
		info := ra.RequestInfo()
		b = append(b, boolByte(info.IsResourceRequest))
		for _, s := range [...]string{info.Verb, info.Namespace, info.APIGroup, info.APIVersion,
			info.Resource, info.Subresource, info.Name, info.Path} {
			b = appendString(b, s)
		}
		return appendRawSelectors(b, ra)
	}
	b = append(b, boolByte(attrs.IsResourceRequest()))
	for _, s := range [...]string{attrs.GetVerb(), attrs.GetNamespace(), attrs.GetAPIGroup(), attrs.GetAPIVersion(),
		attrs.GetResource(), attrs.GetSubresource(), attrs.GetName(), attrs.GetPath()} {
		b = appendString(b, s)
	}
	return appendSelectors(b, attrs)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendExtra writes the extra map with sorted keys; a nil value list is
// written as 0 and a list of n values as n+1.
func appendExtra(b []byte, extra map[string][]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(extra)))
	if len(extra) == 1 { // the common case: kube-apiserver's credential-id alone
		for k, vs := range extra {
			b = appendExtraEntry(b, k, vs)
		}
		return b
	}
	// Keys sorted, so that map order does not matter. The array is kept small:
	// this runs on every request, often on a fresh goroutine whose stack a large
	// frame would make grow.
	var stack [8]string
	keys := stack[:0]
	for k := range extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendExtraEntry(b, k, extra[k])
	}
	return b
}

// appendExtraEntry appends one extra key and its values; nil values and an
// empty list are told apart.
func appendExtraEntry(b []byte, key string, values []string) []byte {
	b = appendString(b, key)
	if values == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(values))+1)
	for _, v := range values {
		b = appendString(b, v)
	}
	return b
}

func appendSelectors(b []byte, attrs authorizer.Attributes) []byte {
	if raw, ok := attrs.(*reqattr.Attributes); ok { // its review is a function of its raw selectors
		return appendRawSelectors(b, raw)
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

// appendRawSelectors appends the unparsed selectors of attrs.
func appendRawSelectors(b []byte, attrs *reqattr.Attributes) []byte {
	field, label := attrs.RawSelectors()
	b = append(b, selectorsRaw)
	b = appendString(b, field)
	return appendString(b, label)
}

// controlledAttributesSize is what Kubernetes' webhook authorizer measures to
// refuse caching oversized, requester-controlled attributes.
func controlledAttributesSize(attrs authorizer.Attributes) int {
	return len(attrs.GetNamespace()) + len(attrs.GetVerb()) + len(attrs.GetAPIGroup()) + len(attrs.GetAPIVersion()) +
		len(attrs.GetResource()) + len(attrs.GetSubresource()) + len(attrs.GetName()) + len(attrs.GetPath())
}
