package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
)

// AuthConfigMap is the namespace and name of the ConfigMap in which
// kube-apiserver publishes its client and front-proxy CAs for extension servers.
const (
	AuthConfigMapNamespace = "kube-system"
	AuthConfigMapName      = "extension-apiserver-authentication"
)

// RestartOptions tells RestartAPIServer what to change. The zero value changes nothing.
type RestartOptions struct {
	// RotateFrontProxy gives kube-apiserver a new front-proxy CA and client
	// certificate. kube-apiserver adds the new CA to the authentication
	// ConfigMap and keeps the old one there; unless KeepOldFrontProxyCA is set,
	// RestartAPIServer then removes the old CA from the ConfigMap as an operator
	// completing the rotation would (see PruneRequestHeaderCA).
	RotateFrontProxy bool
	// KeepOldFrontProxyCA leaves both CAs in the ConfigMap after a rotation.
	KeepOldFrontProxyCA bool
}

func (c *Cluster) apiserverArgs() []string {
	pki := c.pkiPath
	args := []string{
		"--etcd-servers=" + c.etcdURL(),
		"--secure-port=" + strconv.Itoa(c.ports.apiserver),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none",
		"--tls-cert-file=" + pki("apiserver.crt"),
		"--tls-private-key-file=" + pki("apiserver.key"),
		"--client-ca-file=" + pki("ca.crt"),
		"--service-account-key-file=" + pki("sa.pub"),
		"--service-account-signing-key-file=" + pki("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.96.0.0/12",
		"--authorization-mode=RBAC",
		"--requestheader-client-ca-file=" + pki("front-proxy-ca.crt"),
		"--requestheader-allowed-names=" + FrontProxyClientCN,
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + pki("front-proxy-client.crt"),
		"--proxy-client-key-file=" + pki("front-proxy-client.key"),
	}
	if len(c.opts.RequestHeaderUIDHeaders) > 0 {
		args = append(args, "--requestheader-uid-headers="+strings.Join(c.opts.RequestHeaderUIDHeaders, ","))
	}
	args = append(args, c.auditArgs()...)
	return append(args, c.opts.ExtraAPIServerArgs...)
}

// StartAPIServer starts kube-apiserver, on the same port and etcd data as
// before if it ran already, and waits until /readyz answers ok.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return errors.New("cluster: stopped")
	}
	if c.apiserver != nil {
		if exited, _ := c.apiserver.Exited(); !exited {
			c.mu.Unlock()
			return errors.New("cluster: kube-apiserver is already running")
		}
	}
	p, err := StartProcess(ProcessSpec{
		Name: "kube-apiserver", Path: c.bins.apiserver, Args: c.apiserverArgs(), Dir: c.dir,
	}, c.LogDir())
	if err != nil {
		c.mu.Unlock()
		return err
	}
	c.apiserver = p
	c.mu.Unlock()

	httpClient, err := rest.HTTPClientFor(c.admin.Config)
	if err != nil {
		return err
	}
	defer httpClient.CloseIdleConnections()
	readyz := c.Host() + "/readyz"
	return waitFor(ctx, c.opts.ReadyTimeout, p, "kube-apiserver "+readyz, func(ctx context.Context) error {
		return getOK(ctx, httpClient, readyz, "ok")
	})
}

// StopAPIServer stops kube-apiserver and waits for it to exit; etcd keeps
// running. An outage, for as long as the caller likes.
func (c *Cluster) StopAPIServer(ctx context.Context) error {
	c.mu.Lock()
	p := c.apiserver
	c.mu.Unlock()
	if p == nil {
		return errors.New("cluster: kube-apiserver was never started")
	}
	p.Stop(ctx)
	return nil
}

// APIServerRunning reports whether kube-apiserver's process is running.
func (c *Cluster) APIServerRunning() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apiserver == nil {
		return false
	}
	exited, _ := c.apiserver.Exited()
	return !exited
}

// RestartAPIServer stops kube-apiserver, applies opts, starts it again and
// waits until it is ready (and, after a rotation, until the authentication
// ConfigMap holds the new front-proxy CA).
func (c *Cluster) RestartAPIServer(ctx context.Context, opts RestartOptions) error {
	if err := c.StopAPIServer(ctx); err != nil {
		return err
	}
	if opts.RotateFrontProxy {
		if err := c.newFrontProxy(); err != nil {
			return err
		}
	}
	if err := c.StartAPIServer(ctx); err != nil {
		return err
	}
	if !opts.RotateFrontProxy {
		return nil
	}
	caPEM := c.FrontProxyCA().PEM()
	err := waitFor(ctx, c.opts.ReadyTimeout, nil, "the new front-proxy CA in the authentication ConfigMap", func(ctx context.Context) error {
		got, err := c.RequestHeaderCA(ctx)
		if err != nil {
			return err
		}
		if !bytes.Contains(got, bytes.TrimSpace(caPEM)) {
			return errors.New("not there yet")
		}
		return nil
	})
	if err != nil || opts.KeepOldFrontProxyCA {
		return err
	}
	return c.PruneRequestHeaderCA(ctx)
}

// RequestHeaderCA returns requestheader-client-ca-file from the authentication ConfigMap.
func (c *Cluster) RequestHeaderCA(ctx context.Context) ([]byte, error) {
	cm, err := c.Client().CoreV1().ConfigMaps(AuthConfigMapNamespace).Get(ctx, AuthConfigMapName, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return []byte(cm.Data["requestheader-client-ca-file"]), nil
}

// PruneRequestHeaderCA sets requestheader-client-ca-file in the authentication
// ConfigMap to the current front-proxy CA alone. kube-apiserver only ever adds
// CAs to that key (until they expire); removing a rotated-out CA is an
// operator's step.
func (c *Cluster) PruneRequestHeaderCA(ctx context.Context) error {
	ca := string(c.FrontProxyCA().PEM())
	cms := c.Client().CoreV1().ConfigMaps(AuthConfigMapNamespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := cms.Get(ctx, AuthConfigMapName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cm.Data["requestheader-client-ca-file"] = ca
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
}

// Ready returns nil if kube-apiserver answers /readyz with ok now.
func (c *Cluster) Ready(ctx context.Context) error {
	httpClient, err := rest.HTTPClientFor(c.admin.Config)
	if err != nil {
		return err
	}
	defer httpClient.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := getOK(ctx, httpClient, c.Host()+"/readyz", "ok"); err != nil {
		return fmt.Errorf("cluster: kube-apiserver not ready: %w", err)
	}
	return nil
}
