package e2e

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/aggauth/aggauth/e2e/cluster"
	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// TestScenario9RevokedTrust: the authentication ConfigMap is the extension's
// trust in the front proxy. Removing its requestheader-client-ca-file key
// revokes that trust on the next request (401, /readyz fails and the log says
// why) — where
// k8s.io/apiserver v0.37.2 would keep trusting the last CA until a restart.
// Deleting the ConfigMap revokes it too, and kube-apiserver's trust controller
// recreates it at once: the extension follows without a restart.
func TestScenario9RevokedTrust(t *testing.T) {
	e := newEnv(t)
	ctx := testContext(t)
	c, srv := e.c, e.srv
	pid := srv.Process.Pid()
	ivy := newUser(t, c, "ivy")
	grantWidgets(ctx, t, c, "default", "scenario9-ivy", ivy.Name, "list")
	url := srv.URL() + demoapi.WidgetsPath("default")
	client := proxyClient(t, e) // one kept-alive connection across the changes
	get := func(ctx context.Context) (int, error) {
		r, err := send(ctx, client, http.MethodGet, url, nil, ivy.Name, "system:authenticated")
		if err != nil {
			return 0, err
		}
		return r.code, nil
	}
	code, err := get(ctx)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "before")

	t.Run("CA key removed: front-proxy trust revoked", func(t *testing.T) {
		require.NoError(t, removeRequestHeaderCA(ctx, c))
		eventually(ctx, t, propagationTimeout, "the extension refuses the front proxy", func(ctx context.Context) error {
			return wantCode(get(ctx))(http.StatusUnauthorized)
		})
		body, code := readyz(ctx, t, e)
		assert.Equal(t, http.StatusServiceUnavailable, code)
		assert.Contains(t, body, "authentication-config: reason withheld", "/readyz names the check, not why: anyone may ask")
		// The source logs what it revoked, always; the chain's "not ready"
		// line, which names the reason too, is rate-limited (ten, then one a
		// second), and the readiness polls at start spend that budget too.
		assert.Contains(t, srv.Process.Tail(400), "front-proxy CA removed from the ConfigMap: front-proxy trust revoked", "the log says why")
	})

	t.Run("ConfigMap deleted, then recreated by kube-apiserver: trust back", func(t *testing.T) {
		require.NoError(t, c.Client().CoreV1().ConfigMaps(cluster.AuthConfigMapNamespace).
			Delete(ctx, cluster.AuthConfigMapName, metav1.DeleteOptions{}))
		eventually(ctx, t, propagationTimeout, "the extension accepts the front proxy again", func(ctx context.Context) error {
			return wantCode(get(ctx))(http.StatusOK)
		})
		_, code := readyz(ctx, t, e)
		assert.Equal(t, http.StatusOK, code)
		log := srv.Process.Tail(400)
		assert.Contains(t, log, "authentication ConfigMap deleted", "the deletion was seen and revoked trust")
	})

	t.Run("through kube-apiserver", func(t *testing.T) {
		require.NoError(t, srv.WaitAvailable(ctx))
		kubectlSucceeds(ctx, t, c, ivy.Kubeconfig, "No resources found in default namespace.", "get", "widgets", "-n", "default")
	})
	assert.Equal(t, pid, srv.Process.Pid(), "the extension was not restarted")
}

// removeRequestHeaderCA deletes requestheader-client-ca-file from the
// authentication ConfigMap. kube-apiserver puts it back at its next sync (every
// minute) or when the ConfigMap is deleted.
func removeRequestHeaderCA(ctx context.Context, c *cluster.Cluster) error {
	cms := c.Client().CoreV1().ConfigMaps(cluster.AuthConfigMapNamespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := cms.Get(ctx, cluster.AuthConfigMapName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		delete(cm.Data, "requestheader-client-ca-file")
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
}

// readyz returns the extension's /readyz answer (it needs no credentials).
func readyz(ctx context.Context, t *testing.T, e *env) (string, int) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL()+"/readyz", nil)
	require.NoError(t, err)
	c := e.srv.HTTPClient() // no client certificate, as the kubelet probes
	t.Cleanup(c.CloseIdleConnections)
	resp, err := c.Do(req)
	require.NoError(t, err, "GET /readyz")
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body), resp.StatusCode
}
