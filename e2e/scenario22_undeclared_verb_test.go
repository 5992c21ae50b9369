package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestScenario22UndeclaredVerb: a verb the API does not declare (delete on
// the status subresource, which declares get for the example and get,
// update and patch for the control) is refused with kube-apiserver's 405
// MethodNotSupported, as kubectl prints it; the subresource's get works;
// as for the control.
func TestScenario22UndeclaredVerb(t *testing.T) {
	e := controllersEnv(t)
	ctx := testContext(t)
	admin := e.c.AdminKubeconfig()
	outcomes := forEachAPI(ctx, t, e, "scenario22", func(t *testing.T, api widgetAPI, ns string) string {
		api.create(ctx, t, e, api.widget(ns, "blue", "blue", 3))
		status := "/apis/" + api.gvr.GroupVersion().String() + "/namespaces/" + ns + "/widgets/blue/status"
		out, _ := kubectl(ctx, t, e.c, admin, "get", api.resource(), "blue", "-n", ns, "--subresource=status")
		assert.Regexp(t, `^NAME\s+COLOR\s+SIZE\s+AGE\nblue\s+blue\s+3\s+\d+s\n$`, out)
		errOut := kubectlFails(ctx, t, e.c, admin, "delete", "--raw", status)
		assert.Equal(t, `Error from server (MethodNotAllowed): delete is not supported on resources of kind "`+api.resource()+`"`, errOut)
		return errOut
	})
	sameOutcome(t, outcomes)
}
