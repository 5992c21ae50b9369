package e2e

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// TestScenario12GinBehindTheAggregator: the gin example, registered on a
// control plane of its own. kube-apiserver's aggregator turns any redirect
// from an extension into a 502 (--aggregator-reject-forwarding-redirect);
// gin redirects a trailing slash by default. With redirects off, a path with
// a trailing slash gets the server's own answer (a 404 Status), and the
// routes work. A handler that panics inside gin gets serving's 500
// InternalError Status (the example has no gin.Recovery, which would answer
// an empty 500 first).
func TestScenario12GinBehindTheAggregator(t *testing.T) {
	e := newEnvOf(t, "gin")
	ctx := testContext(t)
	c := e.c
	require.NoError(t, e.srv.WaitAvailable(ctx))
	admin := c.AdminKubeconfig()

	out, _ := kubectl(ctx, t, c, admin, "get", "--raw", demoapi.WidgetsPath("default"))
	assert.Contains(t, out, `"kind":"WidgetList"`)

	for _, path := range []string{demoapi.WidgetsPath("default") + "/", demoapi.VersionPath + "/Widgets"} {
		errOut := kubectlFails(ctx, t, c, admin, "get", "--raw", path)
		assert.Contains(t, errOut, "NotFound", "%s: the server's own answer", path)
		assert.NotContains(t, strings.ToLower(errOut), "bad gateway", path)
		assert.NotContains(t, errOut, "502", path)
	}

	errOut := kubectlFails(ctx, t, c, admin, "get", "widget", demoapi.PanicWidget, "-n", "default")
	assert.Equal(t, "Error from server (InternalError): This request caused apiserver to panic. Look in the logs for details.", errOut)
	out, _ = kubectl(ctx, t, c, admin, "get", "widgets", "-n", "default", "-o", "name")
	assert.Empty(t, out, "served after the panic")
}
