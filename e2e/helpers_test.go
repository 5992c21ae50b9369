package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/aggauth/aggauth/e2e/cluster"
	"github.com/aggauth/aggauth/e2e/internal/demoapi"
	"github.com/aggauth/aggauth/internal/testutil"
)

// pollInterval is how often a condition is checked again.
const pollInterval = 200 * time.Millisecond

// eventually checks cond until it returns nil or timeout passes; then the
// test fails with what was awaited and the last error.
func eventually(ctx context.Context, t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		last = cond(ctx)
		if last == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s: last: %v", what, timeout, last)
		case <-time.After(pollInterval):
		}
	}
}

// testContext is the context of one scenario.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	t.Cleanup(cancel)
	return ctx
}

// reply is an answer of the extension to a request sent straight to it.
type reply struct {
	code   int
	header http.Header
	body   []byte
}

// status decodes the body as a metav1.Status (kind Status, apiVersion v1,
// the HTTP status as its code); the test fails if it is not one.
func (r *reply) status(t *testing.T) *metav1.Status {
	t.Helper()
	s := testutil.Status(t, r.code, r.header, r.body)
	return &s
}

func (r *reply) String() string { return fmt.Sprintf("%d %s", r.code, bytes.TrimSpace(r.body)) }

// send sends a request straight to the extension with client (which presents
// a certificate or not) and the identity headers given as user and groups
// (none when user is ""), and reads the whole answer.
func send(ctx context.Context, client *http.Client, method, url string, body any, user string, groups ...string) (*reply, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("X-Remote-User", user)
	}
	for _, g := range groups {
		req.Header.Add("X-Remote-Group", g)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &reply{code: resp.StatusCode, header: resp.Header, body: data}, nil
}

// mustSend is send that fails the test on a transport error.
func mustSend(ctx context.Context, t *testing.T, client *http.Client, method, url string, body any, user string, groups ...string) *reply {
	t.Helper()
	r, err := send(ctx, client, method, url, body, user, groups...)
	require.NoError(t, err, "%s %s", method, url)
	return r
}

// proxyClient is the extension's front-proxy client, closed when the test ends.
func proxyClient(t *testing.T, e *env) *http.Client {
	c := e.srv.ProxyClient()
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// grantWidgets lets user do verbs on widgets in namespace (cluster-wide for
// ""), and waits until kube-apiserver's RBAC allows them.
func grantWidgets(ctx context.Context, t *testing.T, c *cluster.Cluster, namespace, name, user string, verbs ...string) {
	t.Helper()
	require.NoError(t, demoapi.GrantWidgets(ctx, c, namespace, name, user, verbs...))
}

// createNamespace creates a namespace as the administrator.
func createNamespace(ctx context.Context, t *testing.T, c *cluster.Cluster, name string) {
	t.Helper()
	_, err := c.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err, "create namespace %s", name)
	}
}

// newUser issues a client certificate for name in groups, with a kubeconfig.
func newUser(t *testing.T, c *cluster.Cluster, name string, groups ...string) *cluster.User {
	t.Helper()
	u, err := c.User(name, groups...)
	require.NoError(t, err)
	return u
}

// dynamicFor is a dynamic client acting as u.
func dynamicFor(t *testing.T, u *cluster.User) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(u.Config)
	require.NoError(t, err)
	return d
}

// writeFile writes a manifest into the test's temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// kubectl runs kubectl as the user of kubeconfig and returns its stdout and
// stderr; the test fails if kubectl exits with an error.
func kubectl(ctx context.Context, t *testing.T, c *cluster.Cluster, kubeconfig string, args ...string) (string, string) {
	t.Helper()
	out, errOut, err := c.Kubectl(ctx, kubeconfig, args...)
	require.NoError(t, err, "kubectl %s: %s%s", strings.Join(args, " "), out, errOut)
	return out, errOut
}

// kubectlSucceeds runs kubectl until it succeeds and prints want (its
// stdout and stderr, trimmed), within propagationTimeout: after the
// extension was unreachable or refused the aggregator, kube-apiserver marks
// the group's discovery stale and fetches it again with a backoff of its
// own, after the APIService is Available again; kubectl finds the resource
// from then.
func kubectlSucceeds(ctx context.Context, t *testing.T, c *cluster.Cluster, kubeconfig, want string, args ...string) {
	t.Helper()
	eventually(ctx, t, propagationTimeout, "kubectl "+strings.Join(args, " "), func(ctx context.Context) error {
		out, errOut, err := c.Kubectl(ctx, kubeconfig, args...)
		if got := strings.TrimSpace(out + errOut); err != nil || got != want {
			return fmt.Errorf("%v: %s", err, got)
		}
		return nil
	})
}

// kubectlFails runs kubectl expecting it to fail, and returns its stderr.
func kubectlFails(ctx context.Context, t *testing.T, c *cluster.Cluster, kubeconfig string, args ...string) string {
	t.Helper()
	out, errOut, err := c.Kubectl(ctx, kubeconfig, args...)
	require.Error(t, err, "kubectl %s succeeded: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(errOut)
}

// statusOf returns the Status of an error kube-apiserver answered.
func statusOf(t *testing.T, err error) metav1.Status {
	t.Helper()
	var se apierrors.APIStatus
	require.ErrorAs(t, err, &se)
	return se.Status()
}

// codeOrZero returns the status code, or 0 for a nil reply (a transport error).
func (r *reply) codeOrZero() int {
	if r == nil {
		return 0
	}
	return r.code
}
