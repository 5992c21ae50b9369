package demoapi

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aggauth/aggauth/e2e/cluster"
)

// Lines the serving package logs (serving.Server.Run), which RollingRestart
// waits for in a process's log.
const (
	logListening    = "serving securely"
	logShuttingDown = "shutting down: /readyz fails"
)

// PermitPortSharing is the flag a server needs for RollingRestart: with
// SO_REUSEPORT on both listening sockets, the new process listens on the
// port the old one still serves.
const PermitPortSharing = "--permit-port-sharing"

// Restart is what RollingRestart saw.
type Restart struct {
	// Old and New are the processes before and after, each with a log of
	// its own.
	Old, New *cluster.Process
	// Listening is how long the new process took to listen.
	Listening time.Duration
	// SIGTERM is when the old process was sent SIGTERM; the durations below
	// count from then.
	SIGTERM time.Time
	// ShuttingDown is when the old process logged that its /readyz fails.
	ShuttingDown time.Duration
	// NewReady is when /readyz answered 200 on a new connection, which only
	// the new process could do then.
	NewReady time.Duration
	// OldExited is when the old process exited; OldExit is how (nil: exit
	// status 0, after a graceful shutdown).
	OldExited time.Duration
	OldExit   error
	// MigrateQueued tells whether net.ipv4.tcp_migrate_req was 1 during the
	// restart (see RollingRestart).
	MigrateQueued bool
}

func (r *Restart) String() string {
	exit := "exit status 0"
	if r.OldExit != nil {
		exit = r.OldExit.Error()
	}
	return fmt.Sprintf("new process (pid %d) listening after %s; then SIGTERM to the old one (pid %d), at t=0; "+
		"old /readyz fails from t=%s; new process ready at t=%s; old process exited at t=%s (%s); net.ipv4.tcp_migrate_req=%t",
		r.New.Pid(), ms(r.Listening), r.Old.Pid(), ms(r.ShuttingDown), ms(r.NewReady), ms(r.OldExited), exit, r.MigrateQueued)
}

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// RollingRestart replaces the server's process with a new one on the same
// port, as a Deployment's rolling update replaces a pod: the new process
// starts next to the old one (both run with --permit-port-sharing), with a
// log of its own (<name>-<n>.log); once it listens, the old one gets SIGTERM,
// after which its /readyz fails while it keeps serving for its
// --shutdown-delay-duration, then drains and exits. RollingRestart waits
// until the new process answers /readyz 200 and the old one has exited, and
// returns what it saw; s.Process is then the new process. It does not judge
// the timing: the caller checks, say, that the new process was ready before
// the old one stopped serving.
//
// Linux resets the connections queued on a SO_REUSEPORT listener that is
// closed before it accepted them, unless net.ipv4.tcp_migrate_req is 1 (Linux
// 5.14 and later), which moves them to another listener of the port: a
// connection the aggregator dials in the instant the old process closes its
// listener is otherwise lost (a 503 from kube-apiserver; seen in a full e2e
// run on 2 busy cores). RollingRestart sets it for the restart when
// it may (as root) and puts the old value back; a deployment that shares a
// port across processes should set it too (serving.Options.PermitPortSharing).
//
// It must not run concurrently with another use of s.Process.
func (s *Server) RollingRestart(ctx context.Context) (*Restart, error) {
	if !slices.Contains(s.Flags, PermitPortSharing) {
		return nil, fmt.Errorf("demoapi: a rolling restart on one port needs %s", PermitPortSharing)
	}
	migrated, restore := migrateQueuedConnections()
	defer restore()
	old := s.Process
	s.generation++
	start := time.Now()
	p, err := s.Extension.StartAs(s.Options.Name+"-"+strconv.Itoa(s.generation+1), s.Binary, s.Flags...)
	if err != nil {
		return nil, err
	}
	r := &Restart{Old: old, New: p, MigrateQueued: migrated}
	fail := func(err error) (*Restart, error) {
		return r, fmt.Errorf("demoapi: rolling restart: %w\nold process:\n%snew process:\n%s", err, old.Tail(20), p.Tail(20))
	}
	if err := waitForLog(ctx, p, logListening); err != nil {
		return fail(fmt.Errorf("the new process: %w", err))
	}
	r.Listening = time.Since(start)
	r.SIGTERM = time.Now()
	if err := old.Signal(syscall.SIGTERM); err != nil {
		return fail(err)
	}
	if err := waitForLog(ctx, old, logShuttingDown); err != nil {
		return fail(fmt.Errorf("the old process: %w", err))
	}
	r.ShuttingDown = time.Since(r.SIGTERM)
	if err := s.waitReadyOn(ctx, p); err != nil {
		return fail(err)
	}
	r.NewReady = time.Since(r.SIGTERM)
	select {
	case <-old.Done():
	case <-ctx.Done():
		return fail(fmt.Errorf("the old process (pid %d) did not exit: %w", old.Pid(), ctx.Err()))
	}
	r.OldExited = time.Since(r.SIGTERM)
	_, r.OldExit = old.Exited()
	s.Process = p
	return r, nil
}

// waitReadyOn waits until /readyz answers 200 on a new connection, which
// only a process that is not shutting down can answer; it fails at once if p
// exits.
func (s *Server) waitReadyOn(ctx context.Context, p *cluster.Process) error {
	client := s.HTTPClient()
	client.Transport.(*http.Transport).DisableKeepAlives = true // a new connection, to either process, each time
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var last error
	for {
		if last = s.getReadyz(ctx, client); last == nil {
			return nil
		}
		select {
		case <-p.Done():
			_, err := p.Exited()
			return fmt.Errorf("the new process exited (%v) before it was ready", err)
		case <-ctx.Done():
			return fmt.Errorf("waiting for the new process's /readyz: %w (last: %v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitForLog waits until p's log holds text; it fails at once if p exits
// without logging it.
func waitForLog(ctx context.Context, p *cluster.Process, text string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		data, _ := os.ReadFile(p.LogFile)
		if strings.Contains(string(data), text) {
			return nil
		}
		select {
		case <-p.Done():
			data, _ := os.ReadFile(p.LogFile)
			if strings.Contains(string(data), text) {
				return nil
			}
			_, err := p.Exited()
			return fmt.Errorf("exited (%v) without logging %q", err, text)
		case <-ctx.Done():
			return fmt.Errorf("no %q in the log: %w", text, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tcpMigrateReq is the sysctl that moves the connections queued on a closed
// SO_REUSEPORT listener to another listener of the same port.
const tcpMigrateReq = "/proc/sys/net/ipv4/tcp_migrate_req"

// migrateQueuedConnections sets net.ipv4.tcp_migrate_req to 1 when it can,
// and returns whether it is 1 and a function that puts the old value back.
func migrateQueuedConnections() (bool, func()) {
	old, err := os.ReadFile(tcpMigrateReq)
	if err != nil {
		return false, func() {}
	}
	if strings.TrimSpace(string(old)) == "1" {
		return true, func() {}
	}
	if err := os.WriteFile(tcpMigrateReq, []byte("1"), 0o644); err != nil {
		return false, func() {}
	}
	return true, func() { _ = os.WriteFile(tcpMigrateReq, old, 0o644) }
}
