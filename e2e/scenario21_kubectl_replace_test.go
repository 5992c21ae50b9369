package e2e

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestScenario21KubectlReplace: kubectl replace replaces a widget (a PUT,
// from the resourceVersion kubectl reads first when the file has none), and
// a replace from a resourceVersion that is no longer the widget's is
// refused with kube-apiserver's Conflict; as for the control.
func TestScenario21KubectlReplace(t *testing.T) {
	e := controllersEnv(t)
	ctx := testContext(t)
	admin := e.c.AdminKubeconfig()
	outcomes := forEachAPI(ctx, t, e, "scenario21", func(t *testing.T, api widgetAPI, ns string) string {
		kubectl(ctx, t, e.c, admin, "create", "-f", writeFile(t, "blue.yaml", api.yaml(ns, "blue", "blue", 3)))
		stale, _ := kubectl(ctx, t, e.c, admin, "get", api.resource(), "blue", "-n", ns, "-o", "json")

		out, _ := kubectl(ctx, t, e.c, admin, "replace", "-f", writeFile(t, "red.yaml", api.yaml(ns, "blue", "red", 4)))
		assert.Equal(t, api.kind()+"/blue replaced\n", out)
		spec, _ := kubectl(ctx, t, e.c, admin, "get", api.resource(), "blue", "-n", ns, "-o", "jsonpath={.spec}")
		assert.JSONEq(t, `{"color":"red","size":4}`, spec)

		file := writeFile(t, "stale.json", stale)
		errOut := kubectlFails(ctx, t, e.c, admin, "replace", "-f", file)
		assert.Equal(t, `Error from server (Conflict): error when replacing "`+file+`": Operation cannot be fulfilled on `+
			api.resource()+` "blue": the object has been modified; please apply your changes to the latest version and try again`, errOut)
		return strings.ReplaceAll(out+errOut, file, "<file>")
	})
	sameOutcome(t, outcomes)
}
