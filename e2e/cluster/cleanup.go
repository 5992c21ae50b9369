package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// workDirPattern names the temporary directories this package creates.
const workDirPattern = "aggauth-e2e-"

// registry holds everything this program started, so that an interrupt can
// stop it all. mu guards the maps.
var registry struct {
	mu       sync.Mutex
	clusters map[*Cluster]struct{}
	procs    map[*Process]struct{}
	dirs     map[string]struct{}
}

func registerCluster(c *Cluster) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.clusters == nil {
		registry.clusters = map[*Cluster]struct{}{}
	}
	registry.clusters[c] = struct{}{}
}

func unregisterCluster(c *Cluster) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	delete(registry.clusters, c)
}

// liveClusters returns the clusters started and not stopped yet.
func liveClusters() []*Cluster {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	out := make([]*Cluster, 0, len(registry.clusters))
	for c := range registry.clusters {
		out = append(out, c)
	}
	return out
}

func registerProcess(p *Process) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.procs == nil {
		registry.procs = map[*Process]struct{}{}
	}
	registry.procs[p] = struct{}{}
}

func unregisterProcess(p *Process) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	delete(registry.procs, p)
}

// newWorkDir creates a temporary directory that Cleanup removes, marked with
// this program's pid so that a later run can remove it if this one is killed
// before it can clean up.
func newWorkDir() (string, error) {
	sweepStaleWorkDirs()
	dir, err := os.MkdirTemp("", workDirPattern)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.dirs == nil {
		registry.dirs = map[string]struct{}{}
	}
	registry.dirs[dir] = struct{}{}
	return dir, nil
}

func removeWorkDir(dir string) error {
	registry.mu.Lock()
	delete(registry.dirs, dir)
	registry.mu.Unlock()
	return os.RemoveAll(dir)
}

// sweepStaleWorkDirs removes the work directories of programs that no longer
// run (killed with SIGKILL or by a test timeout, which leave no time to clean).
func sweepStaleWorkDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), workDirPattern+"*"))
	for _, dir := range matches {
		data, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(data))
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			_ = os.RemoveAll(dir)
		}
	}
}

// Cleanup kills every process this package started that still runs and removes
// every work directory it created. Cluster.Stop is the orderly way; Cleanup is
// for exits and interrupts. Safe to call more than once.
func Cleanup() {
	for _, c := range liveClusters() {
		_ = c.Stop()
	}
	registry.mu.Lock()
	procs := make([]*Process, 0, len(registry.procs))
	for p := range registry.procs {
		procs = append(procs, p)
	}
	dirs := make([]string, 0, len(registry.dirs))
	for d := range registry.dirs {
		dirs = append(dirs, d)
	}
	registry.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.Stop(ctx) }()
	}
	wg.Wait()
	for _, d := range dirs {
		_ = removeWorkDir(d)
	}
}

// HandleSignals makes SIGINT and SIGTERM run Cleanup and exit the program with
// status 1. The returned function stops the handling.
func HandleSignals() (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	quit := make(chan struct{})
	var once sync.Once
	go func() {
		select {
		case s := <-sig:
			fmt.Fprintf(os.Stderr, "cluster: %v: stopping the control plane and removing its files (again to quit at once)\n", s)
			go func() { <-sig; os.Exit(1) }() // children still die with us (Pdeathsig)
			Cleanup()
			os.Exit(1)
		case <-quit:
		}
	}()
	return func() {
		once.Do(func() {
			signal.Stop(sig)
			close(quit)
		})
	}
}

// Main runs a test binary's tests with Cleanup on exit and on SIGINT or
// SIGTERM, then exits with their status. Call it from TestMain:
//
//	func TestMain(m *testing.M) { cluster.Main(m) }
func Main(m interface{ Run() int }) {
	stop := HandleSignals()
	code := m.Run()
	stop()
	if code != 0 {
		for _, c := range liveClusters() {
			fmt.Fprint(os.Stderr, c.LogTails(40))
		}
	}
	Cleanup()
	os.Exit(code)
}
