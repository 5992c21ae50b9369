package e2e

import (
	"encoding/json"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/e2e/cluster"
	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// TestScenario1APIServiceAvailable: the example server, configured only from
// the cluster and registered through an ExternalName Service to localhost,
// becomes the Available backend of v1.demo.aggauth.io, and kube-apiserver
// serves its discovery.
func TestScenario1APIServiceAvailable(t *testing.T) {
	e := sharedEnv(t)
	ctx := testContext(t)
	c, srv := e.c, e.srv

	t.Run("configured from the cluster only", func(t *testing.T) {
		assert.Equal(t, []string{
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(srv.Port),
			"--tls-cert-file=" + srv.CertFile,
			"--tls-private-key-file=" + srv.KeyFile,
			"--kubeconfig=" + srv.Identity.Kubeconfig,
		}, srv.Args(), "no CA file, no requestheader flag: the front proxy comes from the ConfigMap")
		kc, err := os.ReadFile(srv.Identity.Kubeconfig)
		require.NoError(t, err)
		assert.Contains(t, string(kc), "token:", "the kubeconfig of a service account, with a token")
		log, err := os.ReadFile(srv.Process.LogFile)
		require.NoError(t, err)
		assert.Contains(t, string(log), cluster.AuthConfigMapName, "the server read the authentication ConfigMap")
	})

	t.Run("ExternalName Service to localhost", func(t *testing.T) {
		svc, err := c.Client().CoreV1().Services(demoapi.Namespace).Get(ctx, demoapi.ServiceName, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, corev1.ServiceTypeExternalName, svc.Spec.Type)
		assert.Equal(t, "localhost", svc.Spec.ExternalName)
	})

	t.Run("Available", func(t *testing.T) {
		obj, err := c.Dynamic().Resource(cluster.APIServiceResource).Get(ctx, demoapi.APIServiceName, metav1.GetOptions{})
		require.NoError(t, err)
		status, reason, message := cluster.APIServiceAvailable(obj)
		assert.Equal(t, "True", status, "reason %s: %s", reason, message)
		assert.Equal(t, "Passed", reason)

		out, _ := kubectl(ctx, t, c, c.AdminKubeconfig(), "get", "apiservice", demoapi.APIServiceName)
		assert.Regexp(t, `(?m)^`+demoapi.APIServiceName+`\s+`+demoapi.Namespace+`/`+demoapi.ServiceName+`\s+True\s`, out)
	})

	t.Run("discovery through kube-apiserver", func(t *testing.T) {
		body, err := c.Client().Discovery().RESTClient().Get().AbsPath(demoapi.VersionPath).DoRaw(ctx)
		require.NoError(t, err)
		var list metav1.APIResourceList
		require.NoError(t, json.Unmarshal(body, &list))
		assert.Equal(t, demoapi.Group+"/"+demoapi.Version, list.GroupVersion)
		require.Len(t, list.APIResources, 2)
		assert.Equal(t, demoapi.Resource, list.APIResources[0].Name)
		assert.True(t, list.APIResources[0].Namespaced)
		assert.Equal(t, demoapi.Resource+"/status", list.APIResources[1].Name)

		out, _ := kubectl(ctx, t, c, c.AdminKubeconfig(), "api-resources", "--api-group="+demoapi.Group)
		assert.Regexp(t, `(?m)^widgets\s+wg\s+`+demoapi.Group+`/`+demoapi.Version+`\s+true\s+Widget$`, out)
	})
}
