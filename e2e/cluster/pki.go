package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// KeyType is the kind of private key a certificate is issued with.
type KeyType int

const (
	// ECDSAP256 is an ECDSA key on the P-256 curve: quick to generate. The default.
	ECDSAP256 KeyType = iota
	// RSA2048 is a 2048-bit RSA key, as kubeadm issues by default.
	RSA2048
)

// certValidity is how long every generated certificate is valid. The control
// plane is thrown away long before.
const certValidity = 7 * 24 * time.Hour

// CA is a certificate authority generated in memory. Its methods are safe for
// concurrent use.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
}

// Pair is an issued certificate with its key, PEM encoded and parsed.
type Pair struct {
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
	// TLS holds the certificate and its key for crypto/tls.
	TLS tls.Certificate
}

// CertSpec describes a certificate to issue. The zero value is a client
// certificate with an empty subject and an ECDSA key.
type CertSpec struct {
	// CommonName is the subject CN: the user name of a client certificate.
	CommonName string
	// Organizations are the subject O values: the groups of a client certificate.
	Organizations []string
	// DNSNames and IPs are the subject alternative names; any of them makes the
	// certificate a serving certificate (EKU serverAuth), none a client one
	// (EKU clientAuth).
	DNSNames []string
	IPs      []net.IP
	// Key is the key type. Default ECDSAP256.
	Key KeyType
}

// NewCA generates a self-signed CA named cn.
func NewCA(cn string, kt KeyType) (*CA, error) {
	key, err := newKey(kt)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("cluster: self-sign %s: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, CertPEM: pemCert(der)}, nil
}

// Issue signs a new certificate described by spec.
func (ca *CA) Issue(spec CertSpec) (*Pair, error) {
	key, err := newKey(spec.Key)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: spec.CommonName, Organization: spec.Organizations},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:     spec.DNSNames,
		IPAddresses:  spec.IPs,
	}
	if _, isRSA := key.(*rsa.PrivateKey); isRSA {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	if len(spec.DNSNames)+len(spec.IPs) > 0 {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("cluster: issue %q: %w", spec.CommonName, err)
	}
	return newPair(der, key)
}

// Pool returns a certificate pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// WriteFiles writes the CA's certificate and key as <base>.crt and <base>.key
// in dir, and returns their paths.
func (ca *CA) WriteFiles(dir, base string) (certFile, keyFile string, err error) {
	keyPEM, err := pemKey(ca.Key)
	if err != nil {
		return "", "", err
	}
	return writePair(dir, base, ca.CertPEM, keyPEM)
}

// WriteFiles writes the pair as <base>.crt and <base>.key in dir and returns
// their paths.
func (p *Pair) WriteFiles(dir, base string) (certFile, keyFile string, err error) {
	return writePair(dir, base, p.CertPEM, p.KeyPEM)
}

func newPair(der []byte, key crypto.Signer) (*Pair, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := pemKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pemCert(der)
	return &Pair{
		Cert:    cert,
		CertPEM: certPEM,
		KeyPEM:  keyPEM,
		TLS:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
	}, nil
}

func writePair(dir, base string, certPEM, keyPEM []byte) (string, string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	certFile := filepath.Join(dir, base+".crt")
	keyFile := filepath.Join(dir, base+".key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// newKeyPEM generates a key and returns its private and public halves as PEM,
// for kube-apiserver's service-account signing and verification keys.
func newKeyPEM(kt KeyType) (private, public []byte, err error) {
	key, err := newKey(kt)
	if err != nil {
		return nil, nil, err
	}
	private, err = pemKey(key)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, nil, err
	}
	return private, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

func newKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("cluster: unknown key type %d", kt)
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pemKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("cluster: no randomness: " + err.Error())
	}
	return n
}
