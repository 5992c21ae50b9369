package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/aggauth/aggauth/e2e/cluster"
	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// TestScenario10Impersonation: kubectl --as, sent straight to the extension
// (through the aggregator kube-apiserver resolves impersonation itself). kate
// may list widgets and impersonate leo, who may not: as herself she lists, as
// leo she is refused exactly where leo is, and impersonating someone, or a
// group, she was not granted is refused with Kubernetes' message.
func TestScenario10Impersonation(t *testing.T) {
	e := sharedEnv(t)
	ctx := testContext(t)
	c, srv := e.c, e.srv
	kate := newUser(t, c, "kate")
	leo := newUser(t, c, "leo")
	grantWidgets(ctx, t, c, "default", "scenario10-kate", kate.Name, "list")
	require.NoError(t, c.Grant(ctx, "", "scenario10-impersonate-leo", kate.Name, rbacv1.PolicyRule{
		APIGroups: []string{""}, Resources: []string{"users"}, Verbs: []string{"impersonate"}, ResourceNames: []string{leo.Name},
	}))
	kubeconfig := directKubeconfig(t, srv, kate)
	path := demoapi.WidgetsPath("default")

	out, _ := kubectl(ctx, t, c, kubeconfig, "get", "--raw", path)
	assert.Contains(t, out, `"kind":"WidgetList"`, "kate lists as herself")

	eventually(ctx, t, propagationTimeout, "RBAC lets kate impersonate leo", func(ctx context.Context) error {
		_, errOut, err := c.Kubectl(ctx, kubeconfig, "get", "--raw", path, "--as", leo.Name)
		if err == nil || !strings.Contains(errOut, `User "leo" cannot list resource "widgets"`) {
			return fmt.Errorf("kubectl --as leo: err %v, stderr %s", err, errOut)
		}
		return nil
	})

	errOut := kubectlFails(ctx, t, c, kubeconfig, "get", "--raw", path, "--as", "mallory")
	assert.Contains(t, errOut, `User "kate" cannot impersonate resource "users" in API group "" at the cluster scope`)
	errOut = kubectlFails(ctx, t, c, kubeconfig, "get", "--raw", path, "--as", leo.Name, "--as-group", "system:masters")
	assert.Contains(t, errOut, `User "kate" cannot impersonate resource "groups"`)
}

// directKubeconfig writes a kubeconfig that reaches the extension straight,
// as u with u's client certificate (the cluster's client CA signed it).
func directKubeconfig(t *testing.T, srv *demoapi.Server, u *cluster.User) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["extension"] = &clientcmdapi.Cluster{Server: srv.URL(), CertificateAuthorityData: srv.CA.PEM()}
	cfg.AuthInfos[u.Name] = &clientcmdapi.AuthInfo{ClientCertificateData: u.Cert.PEM(), ClientKeyData: u.Cert.KeyPEM()}
	cfg.Contexts["extension"] = &clientcmdapi.Context{Cluster: "extension", AuthInfo: u.Name}
	cfg.CurrentContext = "extension"
	path := filepath.Join(t.TempDir(), u.Name+"-direct.kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}
