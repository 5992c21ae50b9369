package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/e2e/cluster"
	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// propagationTimeout bounds how long a change of the authentication
// ConfigMap takes to reach the extension: its watch reconnects to a restarted
// kube-apiserver with client-go's backoff (up to 30 s), then delivers the
// change at once.
const propagationTimeout = 2 * time.Minute

// TestScenario6FrontProxyRotation: kube-apiserver restarts with a new
// front-proxy CA and client certificate. The extension, not restarted, follows
// the authentication ConfigMap: it accepts the new certificate while both CAs
// are published, and refuses the old one (401) once the old CA is removed;
// requests through kube-apiserver work again.
func TestScenario6FrontProxyRotation(t *testing.T) {
	e := newEnv(t)
	ctx := testContext(t)
	c, srv := e.c, e.srv
	pid := srv.Process.Pid()
	grace := newUser(t, c, "grace")
	grantWidgets(ctx, t, c, "default", "scenario6-grace", grace.Name, "list", "create")
	url := srv.URL() + demoapi.WidgetsPath("default")
	get := func(ctx context.Context, client *http.Client) (int, error) {
		r, err := send(ctx, client, http.MethodGet, url, nil, grace.Name, "system:authenticated")
		if err != nil {
			return 0, err
		}
		return r.code, nil
	}

	oldProxy := c.FrontProxyClient()
	oldClient := srv.HTTPClient(oldProxy.TLSCertificate()) // kept alive across the rotation
	t.Cleanup(oldClient.CloseIdleConnections)
	code, err := get(ctx, oldClient)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "before the rotation")

	start := time.Now()
	require.NoError(t, c.RestartAPIServer(ctx, cluster.RestartOptions{RotateFrontProxy: true, KeepOldFrontProxyCA: true}))
	t.Logf("kube-apiserver restarted with a new front-proxy CA in %s", time.Since(start).Round(time.Millisecond))
	require.NotEqual(t, oldProxy.PEM(), c.FrontProxyClient().PEM())
	newClient := proxyClient(t, e) // the new front-proxy certificate

	t.Run("both CAs published: both certificates accepted", func(t *testing.T) {
		eventually(ctx, t, propagationTimeout, "the extension accepts the new front-proxy certificate", func(ctx context.Context) error {
			return wantCode(get(ctx, newClient))(http.StatusOK)
		})
		code, err := get(ctx, oldClient)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, code, "the old CA is still published")
	})

	t.Run("old CA removed: old certificate refused", func(t *testing.T) {
		require.NoError(t, c.PruneRequestHeaderCA(ctx))
		eventually(ctx, t, propagationTimeout, "the extension refuses the old front-proxy certificate", func(ctx context.Context) error {
			return wantCode(get(ctx, oldClient))(http.StatusUnauthorized)
		})
		r := mustSend(ctx, t, oldClient, http.MethodGet, url, nil, grace.Name, "system:authenticated")
		require.Equal(t, http.StatusUnauthorized, r.code)
		assert.Equal(t, metav1.StatusReasonUnauthorized, r.status(t).Reason)
		code, err := get(ctx, newClient)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, code, "the new certificate")
	})

	t.Run("through kube-apiserver", func(t *testing.T) {
		require.NoError(t, srv.WaitAvailable(ctx))
		kubectlSucceeds(ctx, t, c, grace.Kubeconfig, "No resources found in default namespace.", "get", "widgets", "-n", "default")
		created, err := dynamicFor(t, grace).Resource(demoapi.Widgets).Namespace("default").
			Create(ctx, demoapi.Widget("default", "rotated", "gold"), metav1.CreateOptions{})
		require.NoError(t, err)
		assertCreatedBy(t, grace, created)
	})

	assert.True(t, srv.Running(), "the extension kept running")
	assert.Equal(t, pid, srv.Process.Pid())
}

// wantCode turns a status code and error into a check for want.
func wantCode(code int, err error) func(want int) error {
	return func(want int) error {
		if err != nil {
			return err
		}
		if code != want {
			return fmt.Errorf("got %d; want %d", code, want)
		}
		return nil
	}
}
