package authn

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"

	certutil "k8s.io/client-go/util/cert"
)

// caGeneration numbers every CABundle this process creates, so that a bundle is
// identified by a number that is never reused.
var caGeneration atomic.Uint64

// CABundle is an immutable, parsed bundle of CA certificates. Create it with
// NewCABundle; the zero value is not usable.
type CABundle struct {
	pem   []byte
	certs []*x509.Certificate
	pool  *x509.CertPool
	// generation is unique to this bundle within the process (a bundle parsed
	// again from the same bytes gets a new one): the verification cache's key.
	generation uint64
	// subjects are the raw subjects of certs: a chain none of whose
	// certificates names one as its issuer or subject cannot verify (x509
	// finds a certificate's parents in the pool by its raw issuer).
	subjects map[string]struct{}
}

// NewCABundle parses a PEM bundle of one or more certificates. An empty bundle, a
// bundle without certificates or with an unparsable block is an error.
func NewCABundle(pemBytes []byte) (*CABundle, error) {
	if len(bytes.TrimSpace(pemBytes)) == 0 {
		return nil, errors.New("authn: empty CA bundle")
	}
	certs, err := certutil.ParseCertsPEM(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("authn: invalid CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	subjects := make(map[string]struct{}, len(certs))
	for _, c := range certs {
		pool.AddCert(c)
		subjects[string(c.RawSubject)] = struct{}{}
	}
	return &CABundle{
		pem:        bytes.Clone(pemBytes),
		certs:      certs,
		pool:       pool,
		generation: caGeneration.Add(1),
		subjects:   subjects,
	}, nil
}

// mayVerify reports whether a chain could verify against b: whether one of its
// certificates is issued by, or is, one of b's. When it is false x509 refuses
// the chain without a candidate parent in the pool, so no successful
// verification of it can be cached under b.
func (b *CABundle) mayVerify(certs []*x509.Certificate) bool {
	for _, c := range certs {
		if _, ok := b.subjects[string(c.RawIssuer)]; ok {
			return true
		}
		if _, ok := b.subjects[string(c.RawSubject)]; ok {
			return true
		}
	}
	return false
}

// PEM returns the bundle as it was given. Callers must not modify it.
func (b *CABundle) PEM() []byte { return b.pem }

// Certificates returns the parsed certificates. Callers must not modify them.
func (b *CABundle) Certificates() []*x509.Certificate { return b.certs }

// Equal reports whether b and o hold the same PEM bytes.
func (b *CABundle) Equal(o *CABundle) bool {
	if b == nil || o == nil {
		return b == o
	}
	return bytes.Equal(b.pem, o.pem)
}

// CAProvider returns the CA bundle currently in force, or nil when none is loaded
// (then the authenticator using it has no opinion). Implementations must be safe
// for concurrent use and must return an unchanged *CABundle until the bundle
// changes: the pointer is part of the verification cache key.
type CAProvider interface {
	CABundle() *CABundle
}

// DynamicCA is a CAProvider whose bundle can be swapped at runtime. The zero
// value holds no bundle. It is safe for concurrent use.
type DynamicCA struct {
	current atomic.Pointer[CABundle]
}

// NewDynamicCA returns a DynamicCA holding b (which may be nil).
func NewDynamicCA(b *CABundle) *DynamicCA {
	d := &DynamicCA{}
	d.current.Store(b)
	return d
}

// CABundle returns the bundle in force, or nil.
func (d *DynamicCA) CABundle() *CABundle { return d.current.Load() }

// Set replaces the bundle in force. The very next verification uses it. Setting a
// bundle with the same PEM bytes as the current one keeps the current one (and its
// cached verifications). It reports whether the bundle changed.
func (d *DynamicCA) Set(b *CABundle) bool {
	for {
		old := d.current.Load()
		if old.Equal(b) {
			return false
		}
		if d.current.CompareAndSwap(old, b) {
			return true
		}
	}
}

// SetPEM parses pemBytes and sets the result. On a parse error the current bundle
// stays in force.
func (d *DynamicCA) SetPEM(pemBytes []byte) (changed bool, err error) {
	b, err := NewCABundle(pemBytes)
	if err != nil {
		return false, err
	}
	return d.Set(b), nil
}

// StaticCA is a CAProvider that always returns the same bundle.
type StaticCA struct{ Bundle *CABundle }

// CABundle returns s.Bundle.
func (s StaticCA) CABundle() *CABundle { return s.Bundle }

// RequestHeaderCA adapts a RequestHeaderProvider to the CAProvider of its
// front-proxy CA, to advertise it in a TLS handshake.
func RequestHeaderCA(p RequestHeaderProvider) CAProvider { return requestHeaderCA{p} }

type requestHeaderCA struct{ p RequestHeaderProvider }

func (r requestHeaderCA) CABundle() *CABundle {
	if c := r.p.RequestHeaderConfig(); c != nil {
		return c.CA
	}
	return nil
}

// CACertificates returns a function that gives the certificates of the bundle
// p provides, as serving.TLSOptions.ClientCAs takes them: the same slice as
// long as the bundle does not change.
func CACertificates(p CAProvider) func() []*x509.Certificate {
	return func() []*x509.Certificate {
		if b := p.CABundle(); b != nil {
			return b.Certificates()
		}
		return nil
	}
}
