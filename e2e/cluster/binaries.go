package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
)

// BinDirEnv names the environment variable that overrides where the etcd,
// kube-apiserver, kubectl and kube-controller-manager binaries are.
const BinDirEnv = "AGGAUTH_E2E_BIN"

// binaries are the absolute paths of the tools the cluster runs.
// kube-controller-manager is needed only by StartControllerManager (the demo
// does not build it).
type binaries struct {
	dir, etcd, apiserver, kubectl, controllerManager string
}

// BinDir returns the directory the binaries are taken from when
// Options.BinDir is empty: $AGGAUTH_E2E_BIN, else e2e/.cache/bin.
func BinDir() string {
	if d := os.Getenv(BinDirEnv); d != "" {
		return d
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		return filepath.Join(filepath.Dir(file), "..", ".cache", "bin")
	}
	return filepath.Join(".cache", "bin")
}

func findBinaries(dir string) (binaries, error) {
	if dir == "" {
		dir = BinDir()
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return binaries{}, err
	}
	b := binaries{
		dir:       dir,
		etcd:      filepath.Join(dir, "etcd"),
		apiserver: filepath.Join(dir, "kube-apiserver"),
		kubectl:   filepath.Join(dir, "kubectl"),

		controllerManager: filepath.Join(dir, "kube-controller-manager"),
	}
	for _, p := range []string{b.etcd, b.apiserver, b.kubectl} {
		if err := executable(p); err != nil {
			return binaries{}, err
		}
	}
	return b, nil
}

// executable returns an error saying how to build p when p is not an
// executable file.
func executable(p string) error {
	if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
		return fmt.Errorf("cluster: no executable %s: build the tools with `make -C e2e tools` (or set %s)", p, BinDirEnv)
	}
	return nil
}

// KubectlPath is the kubectl binary the cluster uses.
func (c *Cluster) KubectlPath() string { return c.bins.kubectl }

// Kubectl runs kubectl with --kubeconfig=kubeconfig and args, and returns its
// stdout and stderr. A non-zero exit is an *exec.ExitError; the outputs are
// returned with it.
func (c *Cluster) Kubectl(ctx context.Context, kubeconfig string, args ...string) (stdout, stderr string, err error) {
	cmd := c.KubectlCommand(ctx, kubeconfig, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// KubectlCommand is the command Kubectl runs, for a caller that reads its
// output while it runs (kubectl get -w): killed when ctx ends, and by the
// kernel if this program dies.
func (c *Cluster) KubectlCommand(ctx context.Context, kubeconfig string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.bins.kubectl, append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+filepath.Join(c.dir, "kubectl-cache"), "KUBERC=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}
