package cluster

import (
	"context"
	"crypto/tls"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultControllers are the controllers of kube-controller-manager that act
// on every API, aggregated ones included: they empty deleted namespaces,
// collect the garbage of deleted owners and count objects for quotas.
var DefaultControllers = []string{"namespace-controller", "garbage-collector-controller", "resourcequota-controller"}

// ControllerManagerOptions configures kube-controller-manager. The zero value
// works.
type ControllerManagerOptions struct {
	// Controllers are the controllers to run (--controllers). Default:
	// DefaultControllers.
	Controllers []string
	// ExtraArgs are appended to its flags, such as
	// --resource-quota-sync-period=10s. Default none.
	ExtraArgs []string
}

// StartControllerManager starts kube-controller-manager as the
// administrator (system:masters: every controller may do everything), with
// the controllers of opts, leader election off and its health endpoints on a
// free loopback port, and waits until /healthz answers ok. It is stopped with
// the cluster. The controllers discover the APIs when they start, then every
// 30 seconds: register APIServices and CustomResourceDefinitions first for
// them to be used at once.
func (c *Cluster) StartControllerManager(ctx context.Context, opts ControllerManagerOptions) (*Process, error) {
	if err := executable(c.bins.controllerManager); err != nil {
		return nil, err
	}
	if len(opts.Controllers) == 0 {
		opts.Controllers = DefaultControllers
	}
	port, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	args := []string{
		"--kubeconfig=" + c.admin.Kubeconfig,
		"--authentication-kubeconfig=" + c.admin.Kubeconfig,
		"--authorization-kubeconfig=" + c.admin.Kubeconfig,
		"--controllers=" + strings.Join(opts.Controllers, ","),
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port[0]),
		"--cert-dir=" + filepath.Join(c.dir, "kube-controller-manager"), // a self-signed serving certificate
	}
	p, err := c.StartProcess(ProcessSpec{Name: "kube-controller-manager", Path: c.bins.controllerManager, Args: append(args, opts.ExtraArgs...)})
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // its own self-signed certificate, on loopback
	defer client.CloseIdleConnections()
	healthz := "https://127.0.0.1:" + strconv.Itoa(port[0]) + "/healthz"
	begin := time.Now()
	err = waitFor(ctx, c.opts.ReadyTimeout, p, "kube-controller-manager "+healthz, func(ctx context.Context) error {
		return getOK(ctx, client, healthz, "ok")
	})
	if err != nil {
		return nil, err
	}
	c.progress("kube-controller-manager ready (%s): %v", since(begin), opts.Controllers)
	return p, nil
}
