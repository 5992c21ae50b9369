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
// kube-apiserver and kubectl binaries are.
const BinDirEnv = "AGGAUTH_E2E_BIN"

// binaries are the absolute paths of the tools the cluster runs.
type binaries struct {
	dir, etcd, apiserver, kubectl string
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
	}
	for _, p := range []string{b.etcd, b.apiserver, b.kubectl} {
		if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
			return binaries{}, fmt.Errorf("cluster: no executable %s: build the tools with `make -C e2e tools` (or set %s)", p, BinDirEnv)
		}
	}
	return b, nil
}

// KubectlPath is the kubectl binary the cluster uses.
func (c *Cluster) KubectlPath() string { return c.bins.kubectl }

// Kubectl runs kubectl with --kubeconfig=kubeconfig and args, and returns its
// stdout and stderr. A non-zero exit is an *exec.ExitError; the outputs are
// returned with it.
func (c *Cluster) Kubectl(ctx context.Context, kubeconfig string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, c.bins.kubectl, append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+filepath.Join(c.dir, "kubectl-cache"), "KUBERC=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}
