package demoapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aggauth/aggauth/e2e/cluster"
)

// Where the extension lives in the cluster: the names the example's deploy
// manifests use, so the serving certificate is for widgets.aggauth-demo.svc.
const (
	Namespace   = "aggauth-demo"
	ServiceName = "widgets"
)

// readyTimeout bounds the wait for the server's /readyz.
const readyTimeout = 2 * time.Minute

// Server is an example server running as an extension apiserver of a cluster.
type Server struct {
	*cluster.Extension
	// Process is the server's process; its log is Process.LogFile.
	Process *cluster.Process
	// Binary is the server's executable.
	Binary string
	// Flags are the flags the server runs with after the extension's own
	// (Extension.Args).
	Flags []string

	generation int // processes started by RollingRestart
}

// Start prepares the extension in c (namespace, service-account identity with
// the RBAC of a delegating extension apiserver, serving certificate), runs bin
// with the extension's flags (Extension.Args: address, port, serving
// certificate and --kubeconfig of that identity) followed by flags, waits
// until it answers /readyz, and registers it with an APIService, waiting until
// the aggregator reports it Available.
func Start(ctx context.Context, c *cluster.Cluster, bin string, flags ...string) (*Server, error) {
	ext, err := c.PrepareExtension(ctx, cluster.ExtensionOptions{
		Group: Group, Version: Version, Namespace: Namespace, Name: ServiceName,
	})
	if err != nil {
		return nil, err
	}
	p, err := ext.Start(bin, flags...)
	if err != nil {
		return nil, err
	}
	s := &Server{Extension: ext, Process: p, Binary: bin, Flags: flags}
	if err := s.WaitReady(ctx); err != nil {
		return nil, err
	}
	if err := ext.Register(ctx); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, p.Tail(30))
	}
	return s, nil
}

// WaitReady waits until the server answers /readyz with 200: it has read the
// authentication ConfigMap and synced its namespace informer. It fails at once
// if the process exits.
func (s *Server) WaitReady(ctx context.Context) error {
	client := s.HTTPClient()
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var last error
	for {
		last = s.getReadyz(ctx, client)
		if last == nil {
			return nil
		}
		select {
		case <-s.Process.Done():
			_, err := s.Process.Exited()
			return fmt.Errorf("demoapi: %s exited (%v) before it was ready:\n%s", s.Process.Name, err, s.Process.Tail(30))
		case <-ctx.Done():
			return fmt.Errorf("demoapi: waiting for %s/readyz: %w (last: %v)\n%s", s.URL(), ctx.Err(), last, s.Process.Tail(30))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *Server) getReadyz(ctx context.Context, client *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// Running reports whether the server's process still runs.
func (s *Server) Running() bool {
	exited, _ := s.Process.Exited()
	return !exited
}
