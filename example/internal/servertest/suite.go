package servertest

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/example/internal/demo"
	"github.com/aggauth/aggauth/internal/testutil"
)

// The identities the aggregator forwards: its own discovery probes, and a user.
var (
	aggregator = identity("system:kube-aggregator", []string{"system:masters"}, nil)
	alice      = identity("alice", []string{"widget-makers", "system:authenticated"},
		map[string][]string{"scopes": {"widgets", "metrics"}})
	aliceInfo = authenticationv1.UserInfo{
		Username: "alice",
		Groups:   []string{"widget-makers", "system:authenticated"},
		Extra:    map[string]authenticationv1.ExtraValue{"scopes": {"widgets", "metrics"}},
	}
)

// identity returns the headers kube-apiserver's proxy sends for a user.
func identity(name string, groups []string, extra map[string][]string) http.Header {
	h := http.Header{"X-Remote-User": {name}, "X-Remote-Group": groups}
	for k, v := range extra {
		h["X-Remote-Extra-"+k] = v
	}
	return h
}

// Test is the suite every example server passes: it starts the server with run
// and checks health, authentication, discovery, the widgets API, what
// kubectl and the cluster's controllers need of it (update, finalizers,
// deletecollection, watch, Table and metadata forms, 405), that lists
// apply their selectors, that the routed path is the authorized one, that no
// path is answered with a redirect, /metrics, what the serving package does
// around the handlers (panics, timeouts, warnings, audit IDs), and the
// graceful shutdown, through the real aggauth chain.
func Test(t *testing.T, run RunFunc) {
	env := Start(t, run, "--shutdown-delay-duration="+shutdownDelay.String())
	t.Run("health", env.testHealth)
	t.Run("authentication", env.testAuthentication)
	t.Run("discovery", env.testDiscovery)
	t.Run("widgets", env.testWidgets)
	t.Run("kubernetes API", env.testKubernetesAPI)
	t.Run("selectors", env.testSelectors)
	t.Run("paths", env.testPaths)
	t.Run("redirects", env.testRedirects)
	t.Run("metrics", env.testMetrics)
	t.Run("serving", env.testServing)
	t.Run("shutdown", env.testShutdown) // last: the server stops
}

// testHealth: the kubelet probes without a certificate.
func (e *Env) testHealth(t *testing.T) {
	for _, path := range []string{"/healthz", "/livez", "/readyz"} {
		t.Run(path, func(t *testing.T) {
			resp, body := e.Do(t, e.NoCert, http.MethodGet, path, nil, "")
			assert.Equal(t, http.StatusOK, resp.StatusCode, "got %d %s; want 200", resp.StatusCode, body)
			assert.Equal(t, "ok", string(body))
		})
	}
}

// testAuthentication: only the front proxy may assert a user; anyone else is
// 401 with kube-apiserver's Status, identity headers or not.
func (e *Env) testAuthentication(t *testing.T) {
	tests := []struct {
		name   string
		client *http.Client
		header http.Header
	}{
		{"no certificate", e.NoCert, nil},
		{"no certificate, identity headers", e.NoCert, aggregator},
		{"front-proxy CN from another CA", e.ForgedProxy, aggregator},
		{"front proxy without a user", e.Proxy, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{demo.VersionPath, demo.VersionPath + "/namespaces/default/widgets", "/metrics"} {
				resp, body := e.Do(t, tt.client, http.MethodGet, path, tt.header, "")
				assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "GET %s: got %d %s; want 401", path, resp.StatusCode, body)
				st := testutil.Status(t, resp.StatusCode, resp.Header, body)
				assert.Equal(t, metav1.StatusReasonUnauthorized, st.Reason, "GET %s", path)
			}
		})
	}
}

// testMetrics: /metrics is behind the chain and shows the chain's collectors
// and the serving.Server's.
func (e *Env) testMetrics(t *testing.T) {
	resp, body := e.Do(t, e.Proxy, http.MethodGet, "/metrics", alice, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "got %d %s; want 200", resp.StatusCode, body)
	for _, name := range []string{"aggauth_authz_cache_misses_total", "aggauth_authz_sar_duration_seconds", "go_goroutines",
		"apiserver_current_inflight_requests", "apiserver_request_total", "apiserver_request_duration_seconds"} {
		assert.Contains(t, string(body), name)
	}
	assert.True(t, e.reviewed(authorizationv1.SubjectAccessReviewSpec{
		User: "alice", Groups: aliceInfo.Groups, Extra: map[string]authorizationv1.ExtraValue{"scopes": {"widgets", "metrics"}},
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
	}), "a review of alice's GET /metrics; got %+v", e.Cluster.Reviews())
}

// reviewed reports whether the fake cluster received a review with spec.
func (e *Env) reviewed(spec authorizationv1.SubjectAccessReviewSpec) bool {
	want, _ := json.Marshal(spec)
	for _, r := range e.Cluster.Reviews() {
		if got, _ := json.Marshal(r); string(got) == string(want) {
			return true
		}
	}
	return false
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(body, &v), "body %s", body)
	return v
}
