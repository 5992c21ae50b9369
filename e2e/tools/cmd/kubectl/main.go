// Command kubectl is the Kubernetes command-line client, built from k8s.io/kubectl
// exactly as the upstream binary is (without the cloud auth plugins).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	// Set the verbosity before flag parsing, as upstream does, so that klog is
	// configured while the command is being constructed.
	logs.GlogSetter(cmd.GetLogVerbosity(os.Args)) //nolint:errcheck
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
