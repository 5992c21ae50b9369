package cluster

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/aggauth/aggauth/internal/testpki"
)

// FrontProxyClientCN is the common name of kube-apiserver's front-proxy client
// certificate, and the only name in --requestheader-allowed-names.
const FrontProxyClientCN = "front-proxy-client"

// certValidity is how long every certificate of the control plane is valid:
// the demo may be left serving for days.
const certValidity = 7 * 24 * time.Hour

// newCA generates a CA named cn with a key of type kt.
func newCA(cn string, kt testpki.KeyType) *testpki.Cert {
	return testpki.SelfSigned(testpki.Spec{CommonName: cn, Key: kt, IsCA: true, NotAfter: time.Now().Add(certValidity)})
}

// issue signs the certificate s describes with ca, valid for certValidity.
func issue(ca *testpki.Cert, s testpki.Spec) *testpki.Cert {
	s.NotAfter = time.Now().Add(certValidity)
	return ca.Issue(s)
}

// servingSpec describes a serving certificate (extended key usage serverAuth)
// for the DNS names and 127.0.0.1.
func servingSpec(cn string, dnsNames ...string) testpki.Spec {
	return testpki.Spec{CommonName: cn, DNSNames: dnsNames, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
}

// frontProxy is the front-proxy CA and the client certificate kube-apiserver
// presents to extension servers with it.
type frontProxy struct {
	ca     *testpki.Cert
	client *testpki.Cert
}

// pkiDir is where the control plane's certificates and keys are.
func (c *Cluster) pkiDir() string { return filepath.Join(c.dir, "pki") }

func (c *Cluster) pkiPath(name string) string { return filepath.Join(c.pkiDir(), name) }

// writePKI generates the cluster CA, kube-apiserver's serving certificate, the
// service-account key pair and the front-proxy CA and client certificate, and
// writes them into pkiDir.
func (c *Cluster) writePKI() error {
	ca := newCA("aggauth-e2e-cluster-ca", testpki.ECDSA)
	c.ca = ca
	if _, _, err := ca.WriteFiles(c.pkiDir(), "ca"); err != nil {
		return err
	}
	serving := issue(ca, servingSpec("kube-apiserver", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"))
	if _, _, err := serving.WriteFiles(c.pkiDir(), "apiserver"); err != nil {
		return err
	}
	saKey := testpki.NewKey(testpki.ECDSA)
	if err := os.WriteFile(c.pkiPath("sa.key"), testpki.PrivateKeyPEM(saKey), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(c.pkiPath("sa.pub"), testpki.PublicKeyPEM(saKey), 0o600); err != nil {
		return err
	}
	return c.newFrontProxy()
}

// newFrontProxy generates a new front-proxy CA and client certificate, writes
// them over the files kube-apiserver reads at start-up, and makes them current.
func (c *Cluster) newFrontProxy() error {
	ca := newCA("aggauth-e2e-front-proxy-ca", c.opts.FrontProxyKey)
	client := issue(ca, testpki.Spec{CommonName: FrontProxyClientCN, Key: c.opts.FrontProxyKey})
	if _, _, err := ca.WriteFiles(c.pkiDir(), "front-proxy-ca"); err != nil {
		return err
	}
	if _, _, err := client.WriteFiles(c.pkiDir(), "front-proxy-client"); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frontProxy = frontProxy{ca: ca, client: client}
	return nil
}

// FrontProxyCA is the current front-proxy CA (--requestheader-client-ca-file).
func (c *Cluster) FrontProxyCA() *testpki.Cert {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frontProxy.ca
}

// FrontProxyClient is the current front-proxy client certificate
// (--proxy-client-cert-file): CN front-proxy-client, signed by FrontProxyCA.
// Keep it before a rotation to try the old certificate afterwards.
func (c *Cluster) FrontProxyClient() *testpki.Cert {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frontProxy.client
}
