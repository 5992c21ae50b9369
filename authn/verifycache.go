package authn

import (
	"crypto/x509"
	"sync/atomic"
	"time"
	"unsafe"

	lru "github.com/hashicorp/golang-lru/v2"
	"k8s.io/utils/clock"
)

// DefaultVerifyCacheSize bounds each authenticator's verification cache.
const DefaultVerifyCacheSize = 4096

// negativeTTL bounds how long a failed verification is remembered. A failure can
// only turn into a success when a certificate becomes valid (its NotBefore passes)
// or the CA changes (a new key), so the entry also ends at the earliest future
// NotBefore of the presented and CA certificates.
const negativeTTL = 5 * time.Second

// verifyKey identifies a verification: the parsed leaf certificate the TLS stack
// handed the request and the CA bundle it was checked against. net/http gives every
// request of a connection the same *tls.ConnectionState, so the leaf pointer is
// stable for the connection's life, and a new bundle is a new pointer, so a CA
// change misses the cache on the very next request.
type verifyKey struct {
	leaf *x509.Certificate
	ca   *CABundle
}

// verifyResult is what a verification found. It is immutable once cached.
type verifyResult struct {
	intermediates []*x509.Certificate // as presented; a different set is a miss
	err           error               // verification failure, already wrapped
	expires       time.Time           // valid while !now.After(expires)
	value         any                 // what the authenticator derived from the chains
}

// verifyCache caches x509 chain verifications. It is safe for concurrent use.
//
// A small direct-mapped table of atomic pointers sits in front of the LRU: the
// aggregator sends nearly every request over a few kept-alive connections, so
// the answer is almost always there, found without a lock. The LRU (which locks
// on every Get to keep its order) bounds the memory and backs the table.
type verifyCache struct {
	clock clock.PassiveClock
	front [frontSlots]atomic.Pointer[frontEntry]
	lru   *lru.Cache[verifyKey, *verifyResult]
	// derive computes, once per successful verification, what the authenticator
	// needs from the verified chains (the client-certificate user, say).
	derive func(chains [][]*x509.Certificate) any
	// wrap turns a verification error into the error the authenticator returns.
	wrap func(leaf *x509.Certificate, err error) error
}

func newVerifyCache(size int, clk clock.PassiveClock, derive func([][]*x509.Certificate) any, wrap func(*x509.Certificate, error) error) *verifyCache {
	if size <= 0 {
		size = DefaultVerifyCacheSize
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	c, err := lru.New[verifyKey, *verifyResult](size)
	if err != nil {
		panic("authn: " + err.Error()) // size > 0 cannot fail
	}
	return &verifyCache{clock: clk, lru: c, derive: derive, wrap: wrap}
}

// frontSlots is the size of the lock-free table in front of the LRU.
const frontSlots = 16

type frontEntry struct {
	key verifyKey
	res *verifyResult
}

// slot picks the table entry of a leaf: certificates are heap objects, so the
// address bits above the allocation alignment spread them.
func slot(leaf *x509.Certificate) int {
	return int(uintptr(unsafe.Pointer(leaf))>>6) % frontSlots
}

// verify checks certs[0] against ca with the clientAuth usage, using certs[1:] as
// intermediates, exactly as Kubernetes' x509 authenticator does on every request,
// but only once per leaf, presented chain and CA bundle while the result holds.
func (c *verifyCache) verify(certs []*x509.Certificate, ca *CABundle) *verifyResult {
	now := c.clock.Now()
	key := verifyKey{leaf: certs[0], ca: ca}
	front := &c.front[slot(certs[0])]
	if e := front.Load(); e != nil && e.key == key && c.valid(e.res, certs, now) {
		return e.res
	}
	r, ok := c.lru.Get(key)
	if !ok || !c.valid(r, certs, now) {
		r = c.compute(certs, ca, now)
		c.lru.Add(key, r)
	}
	front.Store(&frontEntry{key: key, res: r})
	return r
}

func (c *verifyCache) valid(r *verifyResult, certs []*x509.Certificate, now time.Time) bool {
	return !now.After(r.expires) && samePointers(r.intermediates, certs[1:])
}

func (c *verifyCache) compute(certs []*x509.Certificate, ca *CABundle, now time.Time) *verifyResult {
	opts := x509.VerifyOptions{
		Roots:       ca.pool,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if len(certs) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, ic := range certs[1:] {
			opts.Intermediates.AddCert(ic)
		}
	}
	r := &verifyResult{intermediates: append([]*x509.Certificate(nil), certs[1:]...)}
	chains, err := certs[0].Verify(opts)
	if err != nil {
		r.err = c.wrap(certs[0], err)
		r.expires = failureExpiry(now, certs, ca.certs)
		return r
	}
	r.expires = successExpiry(chains)
	if c.derive != nil {
		r.value = c.derive(chains)
	}
	return r
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

// failureExpiry is now+negativeTTL, or earlier when a presented or CA certificate
// becomes valid before that.
func failureExpiry(now time.Time, lists ...[]*x509.Certificate) time.Time {
	expires := now.Add(negativeTTL)
	for _, list := range lists {
		for _, cert := range list {
			if cert.NotBefore.After(now) && cert.NotBefore.Before(expires) {
				// x509 treats now == NotBefore as valid: expire just before it.
				expires = cert.NotBefore.Add(-time.Nanosecond)
			}
		}
	}
	return expires
}

func samePointers(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
