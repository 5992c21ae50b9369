package e2e

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestScenario20KubectlColumns: kubectl get prints the declared printer
// columns (NAME, COLOR, SIZE, AGE), in a list, for one widget and wide; as
// for the control.
func TestScenario20KubectlColumns(t *testing.T) {
	e := controllersEnv(t)
	ctx := testContext(t)
	outcomes := forEachAPI(ctx, t, e, "scenario20", func(t *testing.T, api widgetAPI, ns string) string {
		file := writeFile(t, "blue.yaml", api.yaml(ns, "blue", "blue", 3))
		out, _ := kubectl(ctx, t, e.c, e.c.AdminKubeconfig(), "create", "-f", file)
		assert.Equal(t, api.kind()+"/blue created\n", out)
		api.create(ctx, t, e, api.widget(ns, "red", "red", 12))

		list, _ := kubectl(ctx, t, e.c, e.c.AdminKubeconfig(), "get", api.resource(), "-n", ns)
		assert.Regexp(t, `^NAME\s+COLOR\s+SIZE\s+AGE\nblue\s+blue\s+3\s+\d+s\nred\s+red\s+12\s+\d+s\n$`, list)
		one, _ := kubectl(ctx, t, e.c, e.c.AdminKubeconfig(), "get", api.resource(), "blue", "-n", ns, "-o", "wide")
		assert.Regexp(t, `^NAME\s+COLOR\s+SIZE\s+AGE\nblue\s+blue\s+3\s+\d+s\n$`, one)
		ages := regexp.MustCompile(`\d+s\n`)
		return ages.ReplaceAllString(list+one, "<age>\n") + filepath.Base(file)
	})
	sameOutcome(t, outcomes)
}
