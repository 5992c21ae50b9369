// Package testpki makes certificate authorities and certificates for the
// tests and benchmarks of the library, the example and the end-to-end tests:
// ECDSA or RSA keys, any subject, usages, subject alternative names and
// validity window, in memory, as PEM or in files. It panics on failure: only
// a broken random source can make it fail.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// KeyType selects the key algorithm.
type KeyType int

// Key algorithms.
const (
	ECDSA KeyType = iota // P-256
	RSA                  // 2048 bits
)

// UIDOID is the Subject attribute Kubernetes reads a user UID from.
var UIDOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57683, 2}

// Spec describes a certificate to issue. Zero values give a client certificate
// valid from an hour ago for a day, with the clientAuth usage.
type Spec struct {
	CommonName    string
	Organizations []string
	UIDs          []any // values of the Kubernetes UID attribute, any ASN.1 type
	Key           KeyType
	NotBefore     time.Time
	NotAfter      time.Time
	// ExtKeyUsages; nil means clientAuth; use NoExtKeyUsage for none at all.
	ExtKeyUsages []x509.ExtKeyUsage
	DNSNames     []string
	IPs          []net.IP
	IsCA         bool
}

// NoExtKeyUsage asks for a certificate without the extended key usage extension.
var NoExtKeyUsage = []x509.ExtKeyUsage{}

// Cert is an issued certificate with its key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

var serial atomic.Int64

// NewCA returns a self-signed CA.
func NewCA(cn string, key KeyType) *Cert {
	return issue(Spec{CommonName: cn, Key: key, IsCA: true}, nil)
}

// SelfSigned returns a self-signed certificate described by s: a root CA when
// s.IsCA is set (NewCA with the whole Spec).
func SelfSigned(s Spec) *Cert { return issue(s, nil) }

// Issue signs a certificate described by s with the CA c.
func (c *Cert) Issue(s Spec) *Cert { return issue(s, c) }

// Serving signs a serving certificate (extended key usage serverAuth) with the
// CA c, for the hosts: IP addresses and DNS names.
func (c *Cert) Serving(cn string, hosts ...string) *Cert {
	s := Spec{CommonName: cn, ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			s.IPs = append(s.IPs, ip)
		} else {
			s.DNSNames = append(s.DNSNames, h)
		}
	}
	return c.Issue(s)
}

func issue(s Spec, parent *Cert) *Cert {
	key := NewKey(s.Key)
	now := time.Now()
	if s.NotBefore.IsZero() {
		s.NotBefore = now.Add(-time.Hour)
	}
	if s.NotAfter.IsZero() {
		s.NotAfter = now.Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: s.CommonName, Organization: s.Organizations},
		NotBefore:    s.NotBefore,
		NotAfter:     s.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     s.DNSNames,
		IPAddresses:  s.IPs,
	}
	for _, uid := range s.UIDs {
		tmpl.Subject.ExtraNames = append(tmpl.Subject.ExtraNames, pkix.AttributeTypeAndValue{Type: UIDOID, Value: uid})
	}
	switch {
	case s.IsCA:
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = s.ExtKeyUsages
	case s.ExtKeyUsages == nil:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		tmpl.ExtKeyUsage = s.ExtKeyUsages
	}
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.Key, parent.Cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		panic("testpki: " + err.Error())
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic("testpki: " + err.Error())
	}
	return &Cert{Cert: cert, Key: key}
}

// NewKey returns a new private key of type t.
func NewKey(t KeyType) crypto.Signer {
	var (
		k   crypto.Signer
		err error
	)
	if t == RSA {
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		panic("testpki: " + err.Error())
	}
	return k
}

// PEM returns the certificate in PEM form.
func (c *Cert) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

// KeyPEM returns the private key in PKCS#8 PEM form.
func (c *Cert) KeyPEM() []byte { return PrivateKeyPEM(c.Key) }

// PrivateKeyPEM returns key in PKCS#8 PEM form ("PRIVATE KEY").
func PrivateKeyPEM(key crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic("testpki: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// PublicKeyPEM returns the public half of key in PKIX PEM form ("PUBLIC
// KEY"), as kube-apiserver's --service-account-key-file reads it.
func PublicKeyPEM(key crypto.Signer) []byte {
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		panic("testpki: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Pool returns a certificate pool holding only c.
func (c *Cert) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.Cert)
	return p
}

// WriteFiles writes the certificate and its key (PKCS#8), readable by the
// owner only, as dir/base.crt and dir/base.key, creating dir if need be, and
// returns their paths.
func (c *Cert) WriteFiles(dir, base string) (certFile, keyFile string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key")
	if err := os.WriteFile(certFile, c.PEM(), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, c.KeyPEM(), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// TLSCertificate returns the certificate, followed by chain, for a tls.Config.
func (c *Cert) TLSCertificate(chain ...*Cert) tls.Certificate {
	tc := tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
	for _, ic := range chain {
		tc.Certificate = append(tc.Certificate, ic.Cert.Raw)
	}
	return tc
}

// Bundle concatenates the PEM forms of certs.
func Bundle(certs ...*Cert) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, c.PEM()...)
	}
	return out
}
