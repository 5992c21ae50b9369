package e2e

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// recoveryTimeout bounds how long the extension takes to answer for real once
// kube-apiserver is back.
const recoveryTimeout = 2 * time.Minute

// TestScenario7Outage: while kube-apiserver is down, a decision the extension
// has not cached cannot be made: 503 with Retry-After and a Status, for users
// with and without RBAC, and for creates; nothing is allowed by mistake, not
// even an allow that has expired from the cache. Once kube-apiserver is back,
// the extension, not restarted, answers the same requests for real.
func TestScenario7Outage(t *testing.T) {
	e := newEnv(t)
	ctx := testContext(t)
	c, srv := e.c, e.srv
	pid := srv.Process.Pid()
	client := proxyClient(t, e)
	const ns = "default"
	url := srv.URL() + demoapi.WidgetsPath(ns)
	// henry may list and create but has not asked yet; ivan may do nothing;
	// judy asked, and was allowed, before the outage.
	grantWidgets(ctx, t, c, ns, "scenario7-henry", "henry", "list", "create")
	grantWidgets(ctx, t, c, ns, "scenario7-judy", "judy", "list")
	r := mustSend(ctx, t, client, http.MethodGet, url, nil, "judy", "system:authenticated")
	require.Equal(t, http.StatusOK, r.code, "%s", r)
	before, err := srv.Metrics(ctx)
	require.NoError(t, err)

	start := time.Now()
	require.NoError(t, c.StopAPIServer(ctx))
	require.False(t, c.APIServerRunning())
	t.Logf("kube-apiserver stopped in %s", time.Since(start).Round(time.Millisecond))

	t.Run("uncached decisions: 503", func(t *testing.T) {
		requests := []struct {
			name, method, user string
			body               any
		}{
			{"list, with RBAC", http.MethodGet, "henry", nil},
			{"create, with RBAC", http.MethodPost, "henry", demoapi.Widget(ns, "outage", "black").Object},
			{"list, without RBAC", http.MethodGet, "ivan", nil},
		}
		for _, req := range requests {
			t.Run(req.name, func(t *testing.T) {
				r := mustSend(ctx, t, client, req.method, url, req.body, req.user, "system:authenticated")
				requireUnavailable(t, r)
			})
		}
	})

	t.Run("an expired allow is not used", func(t *testing.T) {
		// judy's allow is cached for 10 s; afterwards she gets 503 too.
		eventually(ctx, t, time.Minute, "judy's cached allow expires", func(ctx context.Context) error {
			return wantCode(func() (int, error) {
				r, err := send(ctx, client, http.MethodGet, url, nil, "judy", "system:authenticated")
				if err != nil {
					return 0, err
				}
				return r.code, nil
			}())(http.StatusServiceUnavailable)
		})
		during, err := srv.Metrics(ctx)
		require.NoError(t, err)
		assert.Greater(t, during[demoapi.MetricErrors], before[demoapi.MetricErrors], "failed reviews are counted")
		assert.Zero(t, during[demoapi.MetricStale], "no stale allow")
	})

	start = time.Now()
	require.NoError(t, c.StartAPIServer(ctx))
	t.Logf("kube-apiserver ready again in %s", time.Since(start).Round(time.Millisecond))

	t.Run("recovered by itself", func(t *testing.T) {
		answers := []struct {
			user string
			want int
		}{{"henry", http.StatusOK}, {"ivan", http.StatusForbidden}, {"judy", http.StatusOK}}
		for _, a := range answers {
			eventually(ctx, t, recoveryTimeout, a.user+"'s real answer", func(ctx context.Context) error {
				r, err := send(ctx, client, http.MethodGet, url, nil, a.user, "system:authenticated")
				if err == nil && r.code != http.StatusServiceUnavailable && r.code != a.want {
					t.Fatalf("%s: got %s; want %d (or 503 until the extension reaches kube-apiserver)", a.user, r, a.want)
				}
				return wantCode(r.codeOrZero(), err)(a.want)
			})
		}
		// The create refused during the outage did not happen.
		list, err := c.Dynamic().Resource(demoapi.Widgets).Namespace(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		assert.Empty(t, list.Items)
		require.NoError(t, srv.WaitAvailable(ctx))
		henry := newUser(t, c, "henry")
		kubectlSucceeds(ctx, t, c, henry.Kubeconfig, "No resources found in default namespace.", "get", "widgets", "-n", ns)
	})

	assert.True(t, srv.Running(), "the extension kept running")
	assert.Equal(t, pid, srv.Process.Pid())
}

// requireUnavailable checks a 503 with a Retry-After header and a
// ServiceUnavailable Status that carries the same delay.
func requireUnavailable(t *testing.T, r *reply) {
	t.Helper()
	require.Equal(t, http.StatusServiceUnavailable, r.code, "%s", r)
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", r.header.Get("Retry-After"))
	assert.Positive(t, retry)
	s := r.status(t)
	assert.Equal(t, metav1.StatusReasonServiceUnavailable, s.Reason)
	require.NotNil(t, s.Details)
	assert.Equal(t, int32(retry), s.Details.RetryAfterSeconds)
}
