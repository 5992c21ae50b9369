package cluster

import (
	"net"
	"os"
	"path/filepath"
)

// FrontProxyClientCN is the common name of kube-apiserver's front-proxy client
// certificate, and the only name in --requestheader-allowed-names.
const FrontProxyClientCN = "front-proxy-client"

// frontProxy is the front-proxy CA and the client certificate kube-apiserver
// presents to extension servers with it.
type frontProxy struct {
	ca     *CA
	client *Pair
}

// pkiDir is where the control plane's certificates and keys are.
func (c *Cluster) pkiDir() string { return filepath.Join(c.dir, "pki") }

func (c *Cluster) pkiPath(name string) string { return filepath.Join(c.pkiDir(), name) }

// writePKI generates the cluster CA, kube-apiserver's serving certificate, the
// service-account key pair and the front-proxy CA and client certificate, and
// writes them into pkiDir.
func (c *Cluster) writePKI() error {
	ca, err := NewCA("aggauth-e2e-cluster-ca", ECDSAP256)
	if err != nil {
		return err
	}
	c.ca = ca
	if _, _, err := ca.WriteFiles(c.pkiDir(), "ca"); err != nil {
		return err
	}
	serving, err := ca.Issue(CertSpec{
		CommonName: "kube-apiserver",
		DNSNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPs:        []net.IP{net.IPv4(127, 0, 0, 1)},
	})
	if err != nil {
		return err
	}
	if _, _, err := serving.WriteFiles(c.pkiDir(), "apiserver"); err != nil {
		return err
	}
	saKey, saPub, err := newKeyPEM(ECDSAP256)
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.pkiPath("sa.key"), saKey, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(c.pkiPath("sa.pub"), saPub, 0o600); err != nil {
		return err
	}
	return c.newFrontProxy()
}

// newFrontProxy generates a new front-proxy CA and client certificate, writes
// them over the files kube-apiserver reads at start-up, and makes them current.
func (c *Cluster) newFrontProxy() error {
	ca, err := NewCA("aggauth-e2e-front-proxy-ca", c.opts.FrontProxyKey)
	if err != nil {
		return err
	}
	client, err := ca.Issue(CertSpec{CommonName: FrontProxyClientCN, Key: c.opts.FrontProxyKey})
	if err != nil {
		return err
	}
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
func (c *Cluster) FrontProxyCA() *CA {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frontProxy.ca
}

// FrontProxyClient is the current front-proxy client certificate
// (--proxy-client-cert-file): CN front-proxy-client, signed by FrontProxyCA.
// Keep it before a rotation to try the old certificate afterwards.
func (c *Cluster) FrontProxyClient() *Pair {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frontProxy.client
}
