// Command demo is aggauth's demo on a local control plane: it starts etcd and
// kube-apiserver (with its aggregation layer) on loopback, builds the example
// server (example/nethttp) from the current source and runs it as an extension
// apiserver configured only from the cluster, registers its API
// (demo.aggauth.io/v1 widgets), and walks through a short tour, each step a
// real kubectl command shown with its output. It then keeps everything serving,
// printing the kubeconfigs and the kubectl to use, until Ctrl-C.
//
// With DEMO_EXIT=1 it exits after the tour: 0 if every step behaved as shown,
// 1 otherwise.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/e2e/cluster"
	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// setupTimeout bounds the start-up and the tour.
const setupTimeout = 10 * time.Minute

func main() {
	os.Exit(run(os.Stdout))
}

func run(out io.Writer) int {
	stopSignals := cluster.HandleSignals()
	defer cluster.Cleanup()
	defer stopSignals()

	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	d, err := setup(ctx, out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	defer d.c.Stop()

	if err := d.tour(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "\ndemo: FAILED:", err)
		fmt.Fprint(os.Stderr, d.c.LogTails(40))
		return 1
	}
	if os.Getenv("DEMO_EXIT") == "1" {
		fmt.Fprintln(out, "\nDEMO_EXIT=1: every step behaved as shown; stopping.")
		return 0
	}
	d.printUsage()
	waitForInterrupt(stopSignals)
	fmt.Fprintln(out, "\nStopping the example server and the control plane, and removing their files.")
	return 0
}

// setup starts the control plane and the example server, registers the API
// and creates the tour's users.
func setup(ctx context.Context, out io.Writer) (*demo, error) {
	fmt.Fprintln(out, "Starting a local control plane: etcd and kube-apiserver with its aggregation layer.")
	c, err := cluster.Start(ctx, cluster.Options{Progress: out})
	if err != nil {
		return nil, err
	}
	d := &demo{out: out, c: c}
	if err := d.start(ctx); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return d, nil
}

func (d *demo) start(ctx context.Context) error {
	fmt.Fprintf(d.out, "Building the example server from %s/nethttp.\n", demoapi.ExampleDir())
	bin, err := demoapi.Build(ctx, "nethttp")
	if err != nil {
		return err
	}
	fmt.Fprintln(d.out, "Starting it as an extension apiserver configured only from the cluster, and registering demo.aggauth.io/v1.")
	policy := filepath.Join(d.c.Dir(), "example-audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(demoapi.AuditPolicy), 0o600); err != nil {
		return err
	}
	d.auditLog = filepath.Join(d.c.LogDir(), "example-audit.log")
	if d.srv, err = demoapi.Start(ctx, d.c, bin, "--audit-policy-file="+policy, "--audit-log-path="+d.auditLog); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "The example server listens on %s (log: %s).\n", d.srv.URL(), d.srv.Process.LogFile)
	if d.alice, err = d.c.User("alice", "widget-makers"); err != nil {
		return err
	}
	if d.bob, err = d.c.User("bob"); err != nil {
		return err
	}
	// A ServiceAccount that may read /metrics, as a Prometheus scraping the
	// example server straight with its token.
	if _, err := d.c.Client().CoreV1().ServiceAccounts("default").Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus"}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if err := d.c.Grant(ctx, "", "demo-metrics-reader", "system:serviceaccount:default:prometheus",
		rbacv1.PolicyRule{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}); err != nil {
		return err
	}
	// Cluster-wide: kube-apiserver lets alice's create into a missing
	// namespace through, for the example server's admission to answer.
	return demoapi.GrantWidgets(ctx, d.c, "", "demo-widgets-editor", d.alice.Name, "get", "list", "create", "delete")
}

func (d *demo) printUsage() {
	fmt.Fprintf(d.out, `
The control plane is serving at %s, with the example server registered.
In another terminal:

   alias kubectl=%s
   export KUBECONFIG=%s   # admin (system:masters)
   kubectl get apiservice %s
   kubectl --kubeconfig=%s get widgets -A   # alice: RBAC for widgets
   kubectl --kubeconfig=%s get widgets -A   # bob: no RBAC

The example server: %s (log %s).
Files (certificates, kubeconfigs, logs) are in %s and are removed on exit.
Press Ctrl-C to stop.
`, d.c.Host(), d.c.KubectlPath(), d.c.AdminKubeconfig(), demoapi.APIServiceName,
		d.alice.Kubeconfig, d.bob.Kubeconfig, d.srv.URL(), d.srv.Process.LogFile, d.c.Dir())
}

// waitForInterrupt blocks until SIGINT or SIGTERM, taking them over from
// cluster.HandleSignals so that the deferred orderly shutdown runs.
func waitForInterrupt(stopSignals func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	stopSignals()
	<-sig
	signal.Stop(sig)
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "   " + strings.ReplaceAll(s, "\n", "\n   ") + "\n"
}
