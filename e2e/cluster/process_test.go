package cluster

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProcessLogAndStop(t *testing.T) {
	dir := t.TempDir()
	p, err := StartProcess(ProcessSpec{
		Name: "sleeper",
		Path: "/bin/sh",
		// The shell's child sleep is in the same process group: Stop ends both.
		Args: []string{"-c", `echo started; for i in 1 2 3; do echo line $i; done; sleep 300 & wait`},
	}, dir)
	require.NoError(t, err)
	waitUntil(t, func() bool { return strings.Contains(p.Tail(10), "line 3") })
	assert.Equal(t, "line 2\nline 3\n", p.Tail(2))

	exited, _ := p.Exited()
	require.False(t, exited)
	p.Stop(context.Background())
	exited, err = p.Exited()
	require.True(t, exited)
	require.Error(t, err, "killed by SIGTERM")
	waitUntil(t, func() bool { return syscall.Kill(-p.Pid(), 0) == syscall.ESRCH }) // the group is gone
	p.Stop(context.Background())                                                    // twice is fine
}

func TestProcessKillOnGraceTimeout(t *testing.T) {
	p, err := StartProcess(ProcessSpec{Name: "stubborn", Path: "/bin/sh", Args: []string{"-c", `trap "" TERM; echo ready; while :; do sleep 1; done`}}, t.TempDir())
	require.NoError(t, err)
	waitUntil(t, func() bool { return strings.Contains(p.Tail(1), "ready") })
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace at all
	p.Stop(ctx)
	exited, _ := p.Exited()
	assert.True(t, exited)
}

func TestStartProcessErrors(t *testing.T) {
	_, err := StartProcess(ProcessSpec{Name: "x"}, t.TempDir())
	require.Error(t, err)
	_, err = StartProcess(ProcessSpec{Name: "x", Path: "/nonexistent/binary"}, t.TempDir())
	require.Error(t, err)
	assert.Contains(t, tailFile("/nonexistent/log", 3), "no log")
}

func TestWorkDirSweep(t *testing.T) {
	dir, err := newWorkDir()
	require.NoError(t, err)
	// A work directory of a program that no longer runs is removed by the next start.
	stale, err := os.MkdirTemp("", workDirPattern)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(stale+"/owner.pid", []byte("2147483646"), 0o600))
	dir2, err := newWorkDir()
	require.NoError(t, err)
	assert.NoDirExists(t, stale)
	assert.DirExists(t, dir, "our own directory stays")
	Cleanup()
	assert.NoDirExists(t, dir)
	assert.NoDirExists(t, dir2)
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
