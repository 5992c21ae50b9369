package authn

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"sync/atomic"
	"time"
	"unsafe"
	"weak"

	"k8s.io/utils/clock"

	"github.com/aggauth/aggauth/internal/lru"
)

// DefaultVerifyCacheSize bounds each authenticator's cache of successful
// verifications. Each entry also counts its size towards a byte bound of
// DefaultVerifyCacheSize × verifyEntryBytes (4 MiB).
const DefaultVerifyCacheSize = 4096

// MaxPresentedCertificates is the longest certificate chain a client may
// present: a leaf and up to 15 intermediates (GnuTLS' default verification
// depth). A longer one is refused before any verification. Kubernetes sets no
// bound; real chains hold one to three certificates.
const MaxPresentedCertificates = 16

// Bounds of the verification cache.
const (
	verifyEntryBytes    = 1 << 10 // the byte bound is entries × this
	verifyEntryOverhead = 160     // key, result and list element, approximately
)

// clientAuth is the key usage every verification asks for.
var clientAuth = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}

// verifyKey locates a verification: a keyed hash of the presented chain's
// signatures and the CA bundle it was checked against. The same certificates on
// a new connection find the same entry; a new bundle is a new generation, so a
// CA change misses on the very next request. Two chains may share a key: an
// entry answers only a chain equal to the one it verified, byte for byte.
type verifyKey struct {
	hash uint64
	ca   uint64
}

// verifyResult is a successful verification. It holds the verified chain's
// bytes (to be compared with what is presented) and what the authenticator
// derived from it, never a parsed certificate. It is immutable once made.
type verifyResult struct {
	chain   []byte    // each certificate's DER, length-prefixed, leaf first
	expires time.Time // valid while !now.After(expires)
	value   any       // what the authenticator derived from the verified chains
	size    int64     // bytes value holds
}

// verifyCache caches successful x509 chain verifications. Failures are not
// cached: nothing a client presents is kept unless a trusted CA signed it. It
// is safe for concurrent use.
//
// Two levels answer a request:
//
//   - a small table of atomic pointers, keyed by the request's
//     *tls.ConnectionState (net/http hands every request of a connection the
//     same one), found without hashing or locking. It refers to the connection
//     state weakly, so a closed connection is freed as if the table did not
//     exist;
//   - an LRU keyed by content (see verifyKey), bounded in entries and bytes.
type verifyCache struct {
	clock clock.PassiveClock
	seed  maphash.Seed
	front [frontSlots]atomic.Pointer[frontEntry]
	lru   *lru.Cache[verifyKey, *verifyResult]
	// derive computes, once per successful verification, what the authenticator
	// needs from the verified chains (the client-certificate user, say), and the
	// bytes it holds.
	derive func(chains [][]*x509.Certificate) (any, int64)
	// wrap turns a verification error into the error the authenticator returns.
	wrap func(leaf *x509.Certificate, err error) error
}

func newVerifyCache(size int, clk clock.PassiveClock, derive func([][]*x509.Certificate) (any, int64), wrap func(*x509.Certificate, error) error) *verifyCache {
	if size <= 0 {
		size = DefaultVerifyCacheSize
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	entrySize := func(_ verifyKey, r *verifyResult) int64 {
		return verifyEntryOverhead + int64(len(r.chain)) + r.size
	}
	return &verifyCache{
		clock:  clk,
		seed:   maphash.MakeSeed(),
		lru:    lru.New(size, int64(size)*verifyEntryBytes, entrySize, func(k verifyKey) uint64 { return k.hash }),
		derive: derive,
		wrap:   wrap,
	}
}

// frontSlots is the size of the lock-free table in front of the LRU.
const frontSlots = 16

type frontEntry struct {
	conn weak.Pointer[tls.ConnectionState]
	leaf uintptr // the leaf's address when stored: a check, not a reference
	n    int     // the number of certificates presented
	ca   *CABundle
	res  *verifyResult
}

// slot picks the table entry of a connection state by its address: the top
// four bits (frontSlots is 16) of a multiplicative hash.
func slot(cs *tls.ConnectionState) int {
	return int((uint64(uintptr(unsafe.Pointer(cs))) * 0x9E3779B97F4A7C15) >> 60)
}

// verify checks the presented chain (leaf first) against ca with the clientAuth
// usage, the rest of the chain as intermediates, exactly as Kubernetes' x509
// authenticator does on every request, but only once per connection, or per
// chain content and CA bundle, while the result holds.
func (c *verifyCache) verify(cs *tls.ConnectionState, ca *CABundle) (*verifyResult, error) {
	certs := cs.PeerCertificates
	now := c.clock.Now()
	front := &c.front[slot(cs)]
	if e := front.Load(); e != nil && e.ca == ca && e.n == len(certs) &&
		e.leaf == uintptr(unsafe.Pointer(certs[0])) && e.conn.Value() == cs && !now.After(e.res.expires) {
		return e.res, nil
	}
	if len(certs) > MaxPresentedCertificates {
		return nil, c.wrap(certs[0], fmt.Errorf("%d certificates presented; at most %d are accepted", len(certs), MaxPresentedCertificates))
	}
	if !ca.mayVerify(certs) {
		// A chain no CA of the bundle issued (a refused client, or a direct
		// caller's certificate tried as a front proxy): x509 answers why,
		// without the cache lookup, which could not find it.
		if _, err := c.compute(certs, ca, now); err != nil {
			return nil, err
		}
	}
	key := verifyKey{hash: c.hash(certs), ca: ca.generation}
	r, ok := c.lru.Get(key)
	if !ok || now.After(r.expires) || !sameChain(r.chain, certs) {
		var err error
		if r, err = c.compute(certs, ca, now); err != nil {
			return nil, err
		}
		c.lru.Add(key, r)
	}
	front.Store(&frontEntry{conn: weak.Make(cs), leaf: uintptr(unsafe.Pointer(certs[0])), n: len(certs), ca: ca, res: r})
	return r, nil
}

// hash is a keyed hash of the chain's signatures, which differ between any two
// certificates a CA signed.
//
// Each signature is hashed on its own (maphash.Bytes, without a maphash.Hash's
// buffer: this runs for every certificate presented on a new connection, and
// for every refused one) and the hashes are combined in order. Keys that
// collide only cost a comparison: an entry answers a chain equal to the one
// it verified, byte for byte.
func (c *verifyCache) hash(certs []*x509.Certificate) uint64 {
	h := uint64(len(certs))
	for _, cert := range certs {
		h = h*0x9E3779B97F4A7C15 ^ maphash.Bytes(c.seed, cert.Signature)
	}
	return h
}

// encodeChain is what sameChain compares with: each certificate's DER,
// length-prefixed.
func encodeChain(certs []*x509.Certificate) []byte {
	n := 0
	for _, cert := range certs {
		n += binary.MaxVarintLen64 + len(cert.Raw)
	}
	b := make([]byte, 0, n)
	for _, cert := range certs {
		b = binary.AppendUvarint(b, uint64(len(cert.Raw)))
		b = append(b, cert.Raw...)
	}
	return b
}

// sameChain reports whether enc is encodeChain(certs).
func sameChain(enc []byte, certs []*x509.Certificate) bool {
	for _, cert := range certs {
		n, w := binary.Uvarint(enc)
		if w <= 0 || n != uint64(len(cert.Raw)) || len(enc)-w < len(cert.Raw) || !bytes.Equal(enc[w:w+len(cert.Raw)], cert.Raw) {
			return false
		}
		enc = enc[w+len(cert.Raw):]
	}
	return len(enc) == 0
}

func (c *verifyCache) compute(certs []*x509.Certificate, ca *CABundle, now time.Time) (*verifyResult, error) {
	opts := x509.VerifyOptions{Roots: ca.pool, CurrentTime: now, KeyUsages: clientAuth}
	if len(certs) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, ic := range certs[1:] {
			opts.Intermediates.AddCert(ic)
		}
	}
	chains, err := certs[0].Verify(opts)
	if err != nil {
		return nil, c.wrap(certs[0], err)
	}
	r := &verifyResult{chain: encodeChain(certs), expires: successExpiry(chains)}
	if c.derive != nil {
		r.value, r.size = c.derive(chains)
	}
	return r, nil
}

// successExpiry is when the verification stops holding: the latest, over the
// verified chains, of each chain's earliest NotAfter.
func successExpiry(chains [][]*x509.Certificate) time.Time {
	var best time.Time
	for _, chain := range chains {
		earliest := chain[0].NotAfter
		for _, cert := range chain[1:] {
			if cert.NotAfter.Before(earliest) {
				earliest = cert.NotAfter
			}
		}
		if earliest.After(best) {
			best = earliest
		}
	}
	return best
}
