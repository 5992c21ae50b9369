package e2e

import (
	"bufio"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// watchTimeout bounds the wait for a line of kubectl get -w.
const watchTimeout = 30 * time.Second

// TestScenario19KubectlWatch: kubectl get -w prints the widgets, then the
// widget another client creates, with the declared columns; as for the
// control.
func TestScenario19KubectlWatch(t *testing.T) {
	e := controllersEnv(t)
	ctx := testContext(t)
	outcomes := forEachAPI(ctx, t, e, "scenario19", func(t *testing.T, api widgetAPI, ns string) string {
		api.create(ctx, t, e, api.widget(ns, "first", "blue", 1))
		wctx, cancel := context.WithTimeout(ctx, 2*watchTimeout)
		defer cancel()
		cmd := e.c.KubectlCommand(wctx, e.c.AdminKubeconfig(), "get", api.resource(), "-n", ns, "-w")
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		defer func() {
			cancel()
			_ = cmd.Wait() // killed
		}()
		lines := make(chan string)
		go func() {
			defer close(lines)
			for s := bufio.NewScanner(stdout); s.Scan(); {
				lines <- s.Text()
			}
		}()
		var printed []string
		await := func(pattern string) {
			t.Helper()
			re := regexp.MustCompile(pattern)
			timeout := time.After(watchTimeout)
			for {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatalf("kubectl get -w ended before printing %s; printed %q; stderr %s", pattern, printed, stderr.String())
					}
					printed = append(printed, line)
					if re.MatchString(line) {
						return
					}
				case <-timeout:
					t.Fatalf("kubectl get -w did not print %s within %s; printed %q; stderr %s", pattern, watchTimeout, printed, stderr.String())
				}
			}
		}
		await(`^first\s+blue\s+1\s+\S+$`)
		api.create(ctx, t, e, api.widget(ns, "second", "green", 2)) // another client
		await(`^second\s+green\s+2\s+\S+$`)
		return regexp.MustCompile(`(?m)\s+\d+s$`).ReplaceAllString(strings.Join(printed, "\n"), "") // without the ages
	})
	sameOutcome(t, outcomes)
}
