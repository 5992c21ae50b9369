package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aggauth/aggauth/e2e/cluster"
	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// TestMain stops every process and removes every file the tests started or
// wrote, also when a test fails or the run is interrupted.
func TestMain(m *testing.M) { cluster.Main(m) }

// The scenarios of the example server, run against a real control plane:
//
//   - 1 to 5, 8, 10, 11, 13 and 14 share one control plane (sharedEnv);
//     each uses users, namespaces and RBAC of its own, so that they do not
//     depend on each other or on their order.
//   - 16 to 22 share another (controllersEnv), with kube-controller-manager
//     (namespace, garbage-collector and quota controllers) and a
//     CustomResourceDefinition as the control: each runs against the
//     example's widgets and against the control, and expects the same
//     outcome, in namespaces of its own;
//   - the others run on a control plane of their own (newEnv, newEnvOf):
//     6 (front-proxy CA rotation) and 7 (outage) restart or stop
//     kube-apiserver, 9 changes the authentication ConfigMap, 12 runs the
//     gin example, 15 runs the example with serving flags of its own and
//     restarts it.

// scenarioTimeout bounds one scenario.
const scenarioTimeout = 5 * time.Minute

// env is a control plane with the example server (nethttp) registered as the
// extension apiserver of demo.aggauth.io/v1.
type env struct {
	c   *cluster.Cluster
	srv *demoapi.Server
}

// auditPolicy records in kube-apiserver's audit log the SubjectAccessReviews
// with their bodies (cluster.AuditSubjectAccessReviews: who the extension
// asked about) and the metadata of the widgets requests kube-apiserver
// proxies to the extension (their audit IDs), and nothing else.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: RequestResponse
  resources:
  - group: authorization.k8s.io
    resources: ["subjectaccessreviews"]
- level: Metadata
  resources:
  - group: ` + demoapi.Group + `
    resources: ["` + demoapi.Resource + `"]
- level: None
`

// clusterOptions records the SubjectAccessReviews and the widgets requests in
// kube-apiserver's audit log (auditPolicy), so that tests can tell who the
// extension asked about, and the audit ID of each request.
func clusterOptions() cluster.Options {
	return cluster.Options{AuditPolicy: auditPolicy}
}

var examples sync.Map // router name -> *exampleBuild

type exampleBuild struct {
	once sync.Once
	path string
	err  error
}

// exampleBinary builds the nethttp example server from the current source,
// once per test run.
func exampleBinary(t *testing.T) string { return exampleBinaryOf(t, "nethttp") }

// exampleBinaryOf builds the example server of router (nethttp, chi or gin)
// from the current source, once per test run.
func exampleBinaryOf(t *testing.T, router string) string {
	t.Helper()
	v, _ := examples.LoadOrStore(router, new(exampleBuild))
	b := v.(*exampleBuild)
	b.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		start := time.Now()
		b.path, b.err = demoapi.Build(ctx, router)
		if b.err == nil {
			t.Logf("built %s in %s", b.path, time.Since(start).Round(time.Millisecond))
		}
	})
	if b.err != nil {
		t.Fatalf("build the %s example server: %v", router, b.err)
	}
	return b.path
}

var shared struct {
	once sync.Once
	env  *env
	err  error
}

// sharedEnv returns the control plane the scenarios that leave kube-apiserver
// running share, starting it on first use; TestMain stops it. When the test
// fails, the tails of the processes' logs are logged.
func sharedEnv(t *testing.T) *env {
	t.Helper()
	bin := exampleBinary(t)
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
		defer cancel()
		opts := clusterOptions()
		opts.Progress = testWriter{t} // only written to during Start
		c, err := cluster.Start(ctx, opts)
		if err != nil {
			shared.err = err
			return
		}
		srv, err := demoapi.Start(ctx, c, bin)
		if err != nil {
			shared.err = err
			_ = c.Stop()
			return
		}
		shared.env = &env{c: c, srv: srv}
	})
	if shared.err != nil {
		t.Fatalf("start the shared control plane and the example server: %v", shared.err)
	}
	e := shared.env
	t.Cleanup(func() {
		if t.Failed() { // TestMain prints the other processes' logs at exit
			t.Logf("last lines of the example server's log (%s):\n%s", e.srv.Process.LogFile, e.srv.Process.Tail(40))
		}
	})
	return e
}

// newEnv starts a control plane of the test's own with the example server
// registered; it is stopped when the test ends.
func newEnv(t *testing.T) *env { return newEnvOf(t, "nethttp") }

// newEnvOf is newEnv with the example server of router, run with flags
// besides the extension's own.
func newEnvOf(t *testing.T, router string, flags ...string) *env {
	t.Helper()
	bin := exampleBinaryOf(t, router)
	c := cluster.StartT(t, clusterOptions())
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	defer cancel()
	srv, err := demoapi.Start(ctx, c, bin, flags...)
	if err != nil {
		t.Fatalf("start the example server: %v", err)
	}
	return &env{c: c, srv: srv}
}

// testWriter writes to a test's log, a line per Write.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && p[len(p)-1] == '\n' {
		p = p[:len(p)-1]
	}
	return p
}
