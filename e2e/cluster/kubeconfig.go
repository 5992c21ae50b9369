package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aggauth/aggauth/internal/testpki"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Client rate limits: well above client-go's 5 QPS so tests are never throttled.
const (
	clientQPS   = 100
	clientBurst = 200
)

// User is an identity with credentials for kube-apiserver: a client
// certificate from the cluster CA (CN the name, O the groups), or for a
// service account a token.
type User struct {
	Name   string
	Groups []string
	// Cert is the client certificate; nil for a token user.
	Cert *testpki.Cert
	// Kubeconfig is the path of a kubeconfig for this user alone.
	Kubeconfig string
	// Config and Client act as this user.
	Config *rest.Config
	Client kubernetes.Interface
}

// User issues a client certificate for name in groups and writes a kubeconfig
// for it. kube-apiserver adds system:authenticated to the groups itself.
func (c *Cluster) User(name string, groups ...string) (*User, error) {
	return c.newUser(name, groups)
}

func (c *Cluster) newUser(name string, groups []string) (*User, error) {
	cert := issue(c.ca, testpki.Spec{CommonName: name, Organizations: groups})
	auth := &clientcmdapi.AuthInfo{ClientCertificateData: cert.PEM(), ClientKeyData: cert.KeyPEM()}
	u, err := c.userFor(name, auth)
	if err != nil {
		return nil, err
	}
	u.Groups, u.Cert = groups, cert
	return u, nil
}

// userFor writes a kubeconfig with auth and builds the clients for it.
func (c *Cluster) userFor(name string, auth *clientcmdapi.AuthInfo) (*User, error) {
	path, err := c.writeKubeconfig(name, auth)
	if err != nil {
		return nil, err
	}
	cfg := &rest.Config{
		Host: c.Host(),
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   c.ca.PEM(),
			CertData: auth.ClientCertificateData,
			KeyData:  auth.ClientKeyData,
		},
		BearerToken: auth.Token,
		QPS:         clientQPS,
		Burst:       clientBurst,
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &User{Name: name, Kubeconfig: path, Config: cfg, Client: client}, nil
}

// writeKubeconfig writes a kubeconfig for this cluster with one user, in a
// file named after the user that no other user of this cluster has.
func (c *Cluster) writeKubeconfig(name string, auth *clientcmdapi.AuthInfo) (string, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["aggauth-e2e"] = &clientcmdapi.Cluster{Server: c.Host(), CertificateAuthorityData: c.ca.PEM()}
	cfg.AuthInfos[name] = auth
	cfg.Contexts["aggauth-e2e"] = &clientcmdapi.Context{Cluster: "aggauth-e2e", AuthInfo: name}
	cfg.CurrentContext = "aggauth-e2e"

	dir := filepath.Join(c.dir, "kubeconfig")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	base := fileName(name)
	c.mu.Lock()
	defer c.mu.Unlock() // held until written, so two users never pick one file
	path := filepath.Join(dir, base+".kubeconfig")
	for i := 2; fileExists(path); i++ {
		path = filepath.Join(dir, fmt.Sprintf("%s-%d.kubeconfig", base, i))
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("cluster: write kubeconfig for %q: %w", name, err)
	}
	return path, nil
}

// fileName maps a user name to a safe file name.
func fileName(name string) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, name)
	if s == "" || s[0] == '.' {
		s = "_" + s
	}
	return s
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
