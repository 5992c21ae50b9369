// Command demo starts the local control plane (etcd and kube-apiserver with
// its aggregation layer, on loopback) and keeps it serving until Ctrl-C,
// printing how to use it. With DEMO_EXIT=1 it exits 0 as soon as the control
// plane is up and answers kubectl, and 1 otherwise.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aggauth/aggauth/e2e/cluster"
)

func main() {
	os.Exit(run(os.Stdout))
}

func run(out io.Writer) int {
	stopSignals := cluster.HandleSignals()
	defer cluster.Cleanup()
	defer stopSignals()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	fmt.Fprintln(out, "Starting a local control plane: etcd and kube-apiserver with its aggregation layer.")
	c, err := cluster.Start(ctx, cluster.Options{Progress: out})
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	defer c.Stop()

	if err := tour(ctx, out, c); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		fmt.Fprint(os.Stderr, c.LogTails(40))
		return 1
	}
	if os.Getenv("DEMO_EXIT") == "1" {
		fmt.Fprintln(out, "DEMO_EXIT=1: every step behaved as shown; stopping.")
		return 0
	}
	printUsage(out, c)
	waitForInterrupt(stopSignals)
	fmt.Fprintln(out, "\nStopping the control plane and removing its files.")
	return 0
}

// tour runs each step as a real kubectl command and shows it with its output.
func tour(ctx context.Context, out io.Writer, c *cluster.Cluster) error {
	steps := []struct {
		title string
		args  []string
		want  string // a substring the output must contain
	}{
		{"The API server is ready", []string{"get", "--raw", "/readyz"}, "ok"},
		{"The aggregation layer serves the built-in APIs as APIServices", []string{"get", "apiservice", "v1.apps"}, "True"},
		{"kube-apiserver publishes its front-proxy settings for extension servers",
			[]string{"-n", cluster.AuthConfigMapNamespace, "get", "configmap", cluster.AuthConfigMapName,
				"-o", "jsonpath={.data.requestheader-allowed-names}"}, cluster.FrontProxyClientCN},
	}
	for i, s := range steps {
		fmt.Fprintf(out, "\n%d. %s\n   $ kubectl %s\n", i+1, s.title, strings.Join(s.args, " "))
		stdout, stderr, err := c.Kubectl(ctx, c.AdminKubeconfig(), s.args...)
		fmt.Fprint(out, indent(stdout+stderr))
		if err != nil {
			return fmt.Errorf("step %d: kubectl %s: %w", i+1, strings.Join(s.args, " "), err)
		}
		if !strings.Contains(stdout, s.want) {
			return fmt.Errorf("step %d: kubectl %s: output lacks %q", i+1, strings.Join(s.args, " "), s.want)
		}
	}
	return nil
}

func printUsage(out io.Writer, c *cluster.Cluster) {
	fmt.Fprintf(out, `
The control plane is serving at %s. In another terminal:

   export KUBECONFIG=%s
   alias kubectl=%s
   kubectl get apiservices

Files (certificates, kubeconfigs, logs) are in %s and are removed on exit.
Press Ctrl-C to stop.
`, c.Host(), c.AdminKubeconfig(), c.KubectlPath(), c.Dir())
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
