package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aggauth/aggauth/internal/testpki"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Options configures a local control plane. The zero value works.
type Options struct {
	// BinDir holds the etcd, kube-apiserver and kubectl binaries.
	// Default: $AGGAUTH_E2E_BIN, else e2e/.cache/bin next to this package's source.
	BinDir string
	// Progress receives a line for each start-up step. Default: discarded.
	Progress io.Writer
	// ReadyTimeout bounds each wait for a component to become ready. Default 2 minutes.
	ReadyTimeout time.Duration
	// FrontProxyKey is the key type of the front-proxy CA and client certificate,
	// also after a rotation. Default ECDSA (P-256).
	FrontProxyKey testpki.KeyType
	// RequestHeaderUIDHeaders, when set, is passed as --requestheader-uid-headers.
	// Default: not passed (the ConfigMap then has no requestheader-uid-headers).
	RequestHeaderUIDHeaders []string
	// ExtraAPIServerArgs are appended to kube-apiserver's flags. Default none.
	ExtraAPIServerArgs []string
	// AuditPolicy, when set, is an audit policy (audit.k8s.io/v1 Policy, YAML)
	// for kube-apiserver, which then writes its audit events to AuditLogPath;
	// read them with AuditEvents. AuditSubjectAccessReviews records the
	// SubjectAccessReviews. Default: no auditing.
	AuditPolicy string
}

// Cluster is a running etcd and kube-apiserver (with its aggregator) on
// loopback, and the certificates and kubeconfigs to use them. Its methods are
// safe for concurrent use, except that Stop, StopAPIServer, StartAPIServer and
// RestartAPIServer must not race each other.
type Cluster struct {
	opts    Options
	dir     string // work directory, removed by Stop
	bins    binaries
	ports   ports
	ca      *testpki.Cert // cluster CA: serving certificate and user client certificates
	etcd    *Process
	admin   *User
	dynamic dynamic.Interface

	mu         sync.Mutex // guards the fields below
	apiserver  *Process
	frontProxy frontProxy
	extra      []*Process // started through StartProcess, stopped first
	stopped    bool
}

// ports are the loopback ports of the control plane, kept across restarts.
type ports struct {
	etcdClient, etcdPeer, apiserver int
}

// Start generates the certificates, starts etcd and kube-apiserver on free
// loopback ports, and waits until kube-apiserver is ready. On error everything
// started is stopped and removed. Call Stop when done.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 2 * time.Minute
	}
	bins, err := findBinaries(opts.BinDir)
	if err != nil {
		return nil, err
	}
	dir, err := newWorkDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, dir: dir, bins: bins}
	registerCluster(c)
	if err := c.start(ctx); err != nil {
		err = fmt.Errorf("%w\n%s", err, c.LogTails(30))
		_ = c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context) error {
	begin := time.Now()
	p, err := freePorts(3)
	if err != nil {
		return err
	}
	c.ports = ports{etcdClient: p[0], etcdPeer: p[1], apiserver: p[2]}
	if err := c.writePKI(); err != nil {
		return err
	}
	if err := c.writeAuditPolicy(); err != nil {
		return err
	}
	if err := c.startEtcd(ctx); err != nil {
		return err
	}
	c.progress("etcd ready on 127.0.0.1:%d (%s)", c.ports.etcdClient, since(begin))
	if c.admin, err = c.newUser("admin", []string{"system:masters"}); err != nil {
		return err
	}
	if c.dynamic, err = dynamic.NewForConfig(c.admin.Config); err != nil {
		return err
	}
	if err := c.StartAPIServer(ctx); err != nil {
		return err
	}
	c.progress("kube-apiserver ready at %s (%s); admin kubeconfig %s", c.Host(), since(begin), c.admin.Kubeconfig)
	return nil
}

// Stop stops every process the cluster started, extension processes first,
// and removes its work directory. Safe to call more than once.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	extra, api := c.extra, c.apiserver
	c.mu.Unlock()
	defer unregisterCluster(c)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, p := range extra {
		p.Stop(ctx)
	}
	if api != nil {
		api.Stop(ctx)
	}
	if c.etcd != nil {
		c.etcd.Stop(ctx)
	}
	return removeWorkDir(c.dir)
}

// Dir is the cluster's work directory: certificates, kubeconfigs, etcd data
// and logs. Stop removes it.
func (c *Cluster) Dir() string { return c.dir }

// Host is kube-apiserver's URL, https://127.0.0.1:<port>.
func (c *Cluster) Host() string { return fmt.Sprintf("https://127.0.0.1:%d", c.ports.apiserver) }

// CA is the cluster CA: it signs kube-apiserver's serving certificate and the
// user client certificates (--client-ca-file).
func (c *Cluster) CA() *testpki.Cert { return c.ca }

// Admin is the cluster administrator, user "admin" in group system:masters.
func (c *Cluster) Admin() *User { return c.admin }

// AdminKubeconfig is the path of the administrator's kubeconfig.
func (c *Cluster) AdminKubeconfig() string { return c.admin.Kubeconfig }

// AdminConfig returns a copy of the administrator's client configuration.
func (c *Cluster) AdminConfig() *rest.Config { return rest.CopyConfig(c.admin.Config) }

// Client is a clientset acting as the administrator.
func (c *Cluster) Client() kubernetes.Interface { return c.admin.Client }

// Dynamic is a dynamic client acting as the administrator.
func (c *Cluster) Dynamic() dynamic.Interface { return c.dynamic }

// LogDir is where every process's log file is.
func (c *Cluster) LogDir() string { return filepath.Join(c.dir, "logs") }

// StartProcess starts a child process, such as an extension server, with its
// log in LogDir. Stop stops it before the control plane; so can the caller,
// with Process.Stop.
func (c *Cluster) StartProcess(spec ProcessSpec) (*Process, error) {
	if spec.Dir == "" {
		spec.Dir = c.dir
	}
	p, err := StartProcess(spec, c.LogDir())
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		p.Kill()
		return nil, errors.New("cluster: stopped")
	}
	c.extra = append(c.extra, p)
	return p, nil
}

// LogTails returns the last n lines of each process's log, with a header each.
func (c *Cluster) LogTails(n int) string {
	c.mu.Lock()
	procs := append([]*Process{c.etcd, c.apiserver}, c.extra...)
	c.mu.Unlock()
	var b strings.Builder
	for _, p := range procs {
		if p == nil {
			continue
		}
		fmt.Fprintf(&b, "---- last %d lines of %s (%s) ----\n%s", n, p.Name, p.LogFile, p.Tail(n))
	}
	return b.String()
}

func (c *Cluster) progress(format string, args ...any) {
	fmt.Fprintf(c.opts.Progress, "cluster: "+format+"\n", args...)
}

func since(t time.Time) time.Duration { return time.Since(t).Round(10 * time.Millisecond) }
