package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestScenario13BearerTokens: a ServiceAccount scrapes the extension's
// /metrics straight, with the token kubectl create token gives it, as
// Prometheus does. The extension authenticates the token with a TokenReview
// and authorizes the path with a SubjectAccessReview: a ServiceAccount bound
// to a ClusterRole for nonResourceURLs /metrics gets 200, one without it 403,
// a token kube-apiserver does not know 401.
func TestScenario13BearerTokens(t *testing.T) {
	e := sharedEnv(t)
	ctx := testContext(t)
	c := e.c
	const ns = "scenario13"
	createNamespace(ctx, t, c, ns)
	for _, name := range []string{"scraper", "stranger"} {
		_, err := c.Client().CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, c.Grant(ctx, "", "scenario13-metrics", "system:serviceaccount:"+ns+":scraper",
		rbacv1.PolicyRule{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}))
	admin := c.AdminKubeconfig()
	token := func(sa string) string {
		out, _ := kubectl(ctx, t, c, admin, "create", "token", sa, "-n", ns)
		return strings.TrimSpace(out)
	}
	client := e.srv.HTTPClient() // no client certificate: the token is the credential
	t.Cleanup(client.CloseIdleConnections)
	scrape := func(ctx context.Context, token string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL()+"/metrics", nil)
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}

	scraper := token("scraper")
	eventually(ctx, t, propagationTimeout, "the scraper's token is accepted and /metrics allowed", func(ctx context.Context) error {
		code, body, err := scrape(ctx, scraper)
		if err != nil {
			return err
		}
		if code != http.StatusOK || !strings.Contains(body, "aggauth_authn_token_requests_total") {
			return fmt.Errorf("got %d %.200s", code, body)
		}
		return nil
	})

	code, body, err := scrape(ctx, token("stranger"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, code, body)
	assert.Contains(t, body, `User \"system:serviceaccount:scenario13:stranger\" cannot get path \"/metrics\"`)

	code, body, err = scrape(ctx, "not-a-token")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, code, body)
	assert.NotContains(t, body, "not-a-token")
}
