package cluster

import (
	"context"
	"strings"
	"testing"
)

// StartT starts a cluster for one test: its progress goes to the test log,
// and when the test ends the cluster is stopped, after the tail of every
// process's log is logged if the test failed. It fails the test now if the
// cluster cannot start. Tests that share a cluster use Start in TestMain
// instead, with Main.
func StartT(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Progress == nil {
		opts.Progress = testWriter{t}
	}
	c, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start the control plane: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("control plane logs:\n" + c.LogTails(40))
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stop the control plane: %v", err)
		}
	})
	return c
}

// testWriter writes to a test's log, a line per Write.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
