package fakekube

import (
	"encoding/pem"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// caPEM is the server's certificate, which clients trust.
func (s *Server) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// WriteKubeconfig writes a kubeconfig for the server to path: its URL, its CA
// and its bearer token, as a user would pass with --kubeconfig.
func (s *Server) WriteKubeconfig(path string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["fakekube"] = &clientcmdapi.Cluster{Server: s.URL(), CertificateAuthorityData: s.caPEM()}
	cfg.AuthInfos["extension-server"] = &clientcmdapi.AuthInfo{Token: s.token}
	cfg.Contexts["fakekube"] = &clientcmdapi.Context{Cluster: "fakekube", AuthInfo: "extension-server"}
	cfg.CurrentContext = "fakekube"
	return clientcmd.WriteToFile(*cfg, path)
}

// RestConfig returns a client configuration for the server: its URL, its CA
// and its bearer token, with client-go's default limits (5 QPS, burst 10, no
// timeout): set QPS, Burst and Timeout as the caller needs.
func (s *Server) RestConfig() *rest.Config {
	return &rest.Config{Host: s.URL(), BearerToken: s.token, TLSClientConfig: rest.TLSClientConfig{CAData: s.caPEM()}}
}
