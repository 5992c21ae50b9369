// Command kube-controller-manager is the Kubernetes controller manager, built
// from k8s.io/kubernetes exactly as the upstream binary is. The end-to-end
// suite runs it with the controllers that act on every API, aggregated ones
// included: namespace, garbage collector and resource quota.
package main

import (
	"os"
	_ "time/tzdata" // for CronJob time zone support

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
