package fakekube

import (
	"encoding/pem"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// WriteKubeconfig writes a kubeconfig for the server to path: its URL, its CA
// and its bearer token, as a user would pass with --kubeconfig.
func (s *Server) WriteKubeconfig(path string) error {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["fakekube"] = &clientcmdapi.Cluster{Server: s.URL(), CertificateAuthorityData: ca}
	cfg.AuthInfos["extension-server"] = &clientcmdapi.AuthInfo{Token: s.token}
	cfg.Contexts["fakekube"] = &clientcmdapi.Context{Cluster: "fakekube", AuthInfo: "extension-server"}
	cfg.CurrentContext = "fakekube"
	return clientcmd.WriteToFile(*cfg, path)
}
