package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/aggauth/aggauth/e2e/cluster"
	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// TestScenario14ServingThroughTheAggregator: what the serving package does
// around the example's handlers, seen through kube-apiserver with kubectl.
//
//   - A handler that panics (a get of the widget demo-panic) reaches kubectl
//     as the 500 InternalError Status kube-apiserver would write, "Error from
//     server (InternalError)", not as the aggregator's plain-text 503 for a
//     broken backend; the server, the same process, keeps serving. Its
//     report of the panic carries the audit ID of kube-apiserver's audit
//     event for the request, which records the 500.
//   - A warning the handler adds with warning.AddWarning (a widget created
//     without spec.color is defaulted to gray) is printed by kubectl:
//     "Warning: spec.color is empty; defaulting to gray".
//   - The audit ID kube-apiserver records in its audit log for a widgets
//     request is the one the handler saw (serving.AuditIDFrom, logged by the
//     example's create handler), and the Audit-ID response header the client
//     gets.
func TestScenario14ServingThroughTheAggregator(t *testing.T) {
	e := sharedEnv(t)
	ctx := testContext(t)
	c := e.c
	require.NoError(t, e.srv.WaitAvailable(ctx))
	const ns = "scenario14"
	createNamespace(ctx, t, c, ns)
	olga := newUser(t, c, "olga")
	grantWidgets(ctx, t, c, ns, "scenario14-olga", olga.Name, "get", "list", "create")
	pid := e.srv.Process.Pid()

	t.Run("a handler panic is a 500 InternalError Status, and the server keeps serving", func(t *testing.T) {
		errOut := kubectlFails(ctx, t, c, olga.Kubeconfig, "get", "widget", demoapi.PanicWidget, "-n", ns)
		t.Logf("kubectl get widget %s: %s", demoapi.PanicWidget, errOut)
		assert.Equal(t, "Error from server (InternalError): This request caused apiserver to panic. Look in the logs for details.", errOut)
		assert.NotContains(t, errOut, "ServiceUnavailable", "not the aggregator's answer for a broken backend")

		out, errOut := kubectl(ctx, t, c, olga.Kubeconfig, "get", "widgets", "-n", ns)
		assert.Equal(t, "No resources found in scenario14 namespace.", strings.TrimSpace(out+errOut), "served after the panic")
		assert.True(t, e.srv.Running(), "the server kept running")
		assert.Equal(t, pid, e.srv.Process.Pid(), "the same process")

		// serving logs the panic with the request's audit ID: the one of
		// kube-apiserver's audit event for the get, which records the 500.
		logged := panicAuditIDs(readLog(t, e), ns)
		require.Len(t, logged, 1, "one panic report for %s", ns)
		eventually(ctx, t, 30*time.Second, "the panicked get's audit event", func(context.Context) error {
			for _, ev := range widgetEvents(t, e, olga.Name, "get", ns, demoapi.PanicWidget) {
				if ev.AuditID == logged[0] && ev.ResponseStatus != nil && ev.ResponseStatus.Code == http.StatusInternalServerError {
					return nil
				}
			}
			return fmt.Errorf("no audit event of a get of %s with auditID %s and code 500", demoapi.PanicWidget, logged[0])
		})
		t.Logf("the panic report and kube-apiserver's audit event (code 500) share the audit ID %s", logged[0])
	})

	t.Run("a warning from the handler is printed by kubectl", func(t *testing.T) {
		manifest := writeFile(t, "plain.yaml", fmt.Sprintf("apiVersion: %s/%s\nkind: %s\nmetadata:\n  name: plain\n  namespace: %s\nspec:\n  size: 2\n",
			demoapi.Group, demoapi.Version, demoapi.Kind, ns))
		out, errOut := kubectl(ctx, t, c, olga.Kubeconfig, "create", "-f", manifest)
		t.Logf("kubectl create -f plain.yaml: stdout %q, stderr %q", out, errOut)
		assert.Equal(t, "widget.demo.aggauth.io/plain created\n", out)
		assert.Equal(t, "Warning: "+demoapi.ColorDefaultedWarning+"\n", errOut)
		out, _ = kubectl(ctx, t, c, olga.Kubeconfig, "get", "widget", "plain", "-n", ns, "-o", "jsonpath={.spec.color}")
		assert.Equal(t, "gray", out)
	})

	t.Run("the audit ID kube-apiserver records is the one the handler saw", func(t *testing.T) {
		// The create above: its audit event, and the line the handler logged.
		var created cluster.AuditEvent
		eventually(ctx, t, 30*time.Second, "the create's audit event", func(context.Context) error {
			events := widgetEvents(t, e, olga.Name, "create", ns, "")
			if len(events) != 1 {
				return fmt.Errorf("got %d create events by %s; want 1", len(events), olga.Name)
			}
			created = events[0]
			return nil
		})
		require.NotEmpty(t, created.AuditID)
		logged := createdAuditIDs(t, e, ns, "plain")
		t.Logf("kube-apiserver's audit event: auditID %s %s %s; the handler logged auditID %v", created.AuditID, created.Verb, created.RequestURI, logged)
		assert.Equal(t, []string{created.AuditID}, logged, "the handler saw kube-apiserver's audit ID")

		// A get: the Audit-ID the client gets back is the audit event's.
		path := demoapi.WidgetsPath(ns) + "/plain"
		code, ids := getAuditIDs(ctx, t, olga.Config, c.Host()+path)
		require.Equal(t, http.StatusOK, code)
		require.NotEmpty(t, ids)
		t.Logf("GET %s: Audit-Id response header %q", path, ids)
		for _, id := range ids {
			assert.Equal(t, ids[0], id, "every Audit-Id value is the same ID")
		}
		eventually(ctx, t, 30*time.Second, "the get's audit event", func(context.Context) error {
			for _, ev := range widgetEvents(t, e, olga.Name, "get", ns, "plain") {
				if ev.AuditID == ids[0] {
					return nil
				}
			}
			return fmt.Errorf("no audit event of the get with auditID %s", ids[0])
		})
	})
}

// widgetEvents returns kube-apiserver's audit events of widgets requests by
// user with verb in namespace (and for the widget name, unless empty).
func widgetEvents(t *testing.T, e *env, user, verb, namespace, name string) []cluster.AuditEvent {
	t.Helper()
	events, err := e.c.AuditEvents()
	require.NoError(t, err)
	var out []cluster.AuditEvent
	for _, ev := range events {
		ref := ev.ObjectRef
		if ref == nil || ref.Resource != demoapi.Resource || ref.APIGroup != demoapi.Group || ev.User.Username != user ||
			ev.Verb != verb || ref.Namespace != namespace || name != "" && ref.Name != name {
			continue
		}
		out = append(out, ev)
	}
	return out
}

// createdAuditIDs returns the audit IDs the example server's create handler
// logged for the widget namespace/name.
func createdAuditIDs(t *testing.T, e *env, namespace, name string) []string {
	t.Helper()
	re := regexp.MustCompile(`created widget namespace=` + regexp.QuoteMeta(namespace) + ` name=` + regexp.QuoteMeta(name) + ` .*auditID=(\S+)`)
	var ids []string
	for _, m := range re.FindAllStringSubmatch(readLog(t, e), -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// panicAuditIDs returns the audit IDs of the panic reports in log of
// requests in namespace.
func panicAuditIDs(log, namespace string) []string {
	re := regexp.MustCompile(`handler panicked .*/namespaces/` + regexp.QuoteMeta(namespace) +
		`/.*?auditID=\S*?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})`)
	var ids []string
	for _, m := range re.FindAllStringSubmatch(log, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// readLog returns the example server's log.
func readLog(t *testing.T, e *env) string {
	t.Helper()
	data, err := os.ReadFile(e.srv.Process.LogFile)
	require.NoError(t, err)
	return string(data)
}

// getAuditIDs sends GET url with the credentials of cfg and returns the status
// code and the Audit-Id response header's values.
func getAuditIDs(ctx context.Context, t *testing.T, cfg *rest.Config, url string) (int, []string) {
	t.Helper()
	client, err := rest.HTTPClientFor(cfg)
	require.NoError(t, err)
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Values("Audit-Id")
}
