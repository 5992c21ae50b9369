package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// startEtcd starts the etcd member and waits until it reports healthy.
func (c *Cluster) startEtcd(ctx context.Context) error {
	p, err := StartProcess(ProcessSpec{
		Name: "etcd",
		Path: c.bins.etcd,
		Dir:  c.dir,
		Args: []string{
			"--data-dir=" + filepath.Join(c.dir, "etcd"),
			"--listen-client-url=" + c.etcdURL(),
			"--listen-peer-url=http://127.0.0.1:" + strconv.Itoa(c.ports.etcdPeer),
			"--unsafe-no-fsync",
		},
	}, c.LogDir())
	if err != nil {
		return err
	}
	c.etcd = p
	health := c.etcdURL() + "/health"
	return waitFor(ctx, c.opts.ReadyTimeout, p, "etcd "+health, func(ctx context.Context) error {
		return getOK(ctx, http.DefaultClient, health, `"health":"true"`)
	})
}

func (c *Cluster) etcdURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(c.ports.etcdClient)
}

// waitFor polls check every 200ms until it returns nil, the timeout passes,
// ctx ends or p exits. The error names what was awaited and the last failure.
func waitFor(ctx context.Context, timeout time.Duration, p *Process, what string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		var exited <-chan struct{}
		if p != nil {
			exited = p.Done()
		}
		select {
		case <-exited:
			_, err := p.Exited()
			return fmt.Errorf("cluster: %s exited (%v) while waiting for %s", p.Name, err, what)
		case <-ctx.Done():
			return fmt.Errorf("cluster: waiting for %s: %w (last: %v)", what, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// getOK GETs url and succeeds on a 200 whose body contains want.
func getOK(ctx context.Context, client *http.Client, url, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	out := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cluster: free port: %w", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
