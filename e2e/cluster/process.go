package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a process gets between SIGTERM and SIGKILL.
const stopGrace = 15 * time.Second

// ProcessSpec describes a child process to start.
type ProcessSpec struct {
	// Name names the process in messages and its log file, <Name>.log. Required.
	Name string
	// Path is the executable. Required.
	Path string
	// Args are the arguments, without the program name.
	Args []string
	// Env is added to the test binary's environment.
	Env []string
	// Dir is the working directory. Default: the cluster's work directory.
	Dir string
}

// Process is a running child process. It runs in a process group of its own,
// is killed by the kernel if the program that started it dies
// (Pdeathsig SIGKILL), and writes stdout and stderr to its log file.
// Its methods are safe for concurrent use.
type Process struct {
	Name    string
	LogFile string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // exit status, set before done is closed
	log  *os.File
	once sync.Once
}

// StartProcess starts spec with its output captured in logDir/<Name>.log. The
// log file is appended to, so a restarted process keeps one log.
func StartProcess(spec ProcessSpec, logDir string) (*Process, error) {
	if spec.Name == "" || spec.Path == "" {
		return nil, errors.New("cluster: ProcessSpec needs Name and Path")
	}
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return nil, err
	}
	logFile := filepath.Join(logDir, spec.Name+".log")
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "==== %s: %s %s\n", time.Now().Format(time.RFC3339), spec.Path, strings.Join(spec.Args, " "))
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("cluster: start %s: %w", spec.Name, err)
	}
	p := &Process{Name: spec.Name, LogFile: logFile, cmd: cmd, done: make(chan struct{}), log: f}
	registerProcess(p)
	go func() {
		p.err = cmd.Wait()
		f.Close()
		unregisterProcess(p)
		close(p.done)
	}()
	return p, nil
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Signal sends sig to the process's whole group.
func (p *Process) Signal(sig syscall.Signal) error {
	if exited, _ := p.Exited(); exited {
		return nil
	}
	return syscall.Kill(-p.Pid(), sig)
}

// Stop asks the process to stop with SIGTERM, then kills its group with SIGKILL
// after a grace period or when ctx ends, and waits for it to exit. Safe to call
// more than once.
func (p *Process) Stop(ctx context.Context) {
	p.once.Do(func() {
		_ = p.Signal(syscall.SIGTERM)
		t := time.NewTimer(stopGrace)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
		case <-ctx.Done():
		}
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL) // also any child left in the group
		<-p.done
	})
	<-p.done
}

// Kill kills the process group at once and waits for the process to exit.
func (p *Process) Kill() {
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	<-p.done
}

// Tail returns the last n lines of the process's log.
func (p *Process) Tail(n int) string { return tailFile(p.LogFile, n) }

// tailFile returns the last n lines of a file, or a note saying why it cannot.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)\n", err)
	}
	defer f.Close()
	const maxRead = 256 << 10
	if st, err := f.Stat(); err == nil && st.Size() > maxRead {
		_, _ = f.Seek(st.Size()-maxRead, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n"))) + "\n"
}
