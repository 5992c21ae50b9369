// Package servertest starts an example server with its run function, on a
// free loopback port, against a fake cluster (aggauthtest.Cluster), and calls
// it the way kube-apiserver's aggregation layer does: over HTTPS with the
// front-proxy client certificate and the user in X-Remote-* headers.
package servertest

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aggauth/aggauth/aggauthtest"
	"github.com/aggauth/aggauth/example/internal/demo"
	"github.com/aggauth/aggauth/internal/testpki"
)

// RunFunc is an example server's entry point: it serves until ctx is done,
// then returns nil.
type RunFunc func(ctx context.Context, args []string) error

// startTimeout bounds how long a server may take to answer /readyz 200.
const startTimeout = 30 * time.Second

// Env is a running example server and what a test needs to call it.
type Env struct {
	// BaseURL is the server's https:// address.
	BaseURL string
	// Cluster is the fake cluster the server talks to.
	Cluster *aggauthtest.Cluster

	// Proxy presents the front-proxy client certificate (CN
	// front-proxy-client, signed by the front-proxy CA), as the aggregator.
	Proxy *http.Client
	// NoCert presents no client certificate.
	NoCert *http.Client
	// ForgedProxy presents a certificate with CN front-proxy-client signed by
	// another CA.
	ForgedProxy *http.Client

	// stop cancels run's context and returns run's error, once.
	stop func() error
}

// rules are the fake cluster's authorization: alice may do everything; the
// restricted user has what a Role rule {verbs: [get, list], resources:
// [widgets], resourceNames: [alice-widget]} gives: RBAC matches resourceNames
// only when the review names the object, which for a list means
// ?fieldSelector=metadata.name=alice-widget.
var rules = []aggauthtest.Rule{
	{Users: []string{"alice"}},
	{Users: []string{restrictedUser}, Verbs: []string{"get", "list"}, APIGroups: []string{demo.Group},
		Resources: []string{demo.Resource}, ResourceNames: []string{aliceWidget}},
}

// Start runs run against a fresh fake cluster, with its flags as a user
// passes them (--kubeconfig, --secure-port, --bind-address, --tls-cert-file,
// --tls-private-key-file, then extra), waits until /readyz answers 200, and
// stops it when the test ends (unless Stop did), checking that it shut down
// cleanly.
func Start(t *testing.T, run RunFunc, extra ...string) *Env {
	t.Helper()
	dir := t.TempDir()
	servingCA := testpki.NewCA("serving-ca", testpki.ECDSA)
	serving := servingCA.Serving("widgets", "widgets.aggauth-demo.svc", "localhost", "127.0.0.1")
	certFile, keyFile, err := serving.WriteFiles(dir, "serving")
	require.NoError(t, err)

	cluster := aggauthtest.NewCluster(t, aggauthtest.Options{
		Rules:      rules,
		Namespaces: []string{"default", "kube-system", selectorsNamespace},
	})
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, cluster.WriteKubeconfig(kubeconfig))

	// Like kube-apiserver's aggregator, the clients speak HTTP/2 when the
	// server offers it and do not follow redirects.
	base := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: servingCA.Pool(), MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true},
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	env := &Env{
		Cluster:     cluster,
		Proxy:       cluster.FrontProxy().Client(base),
		NoCert:      aggauthtest.Caller{}.Client(base),
		ForgedProxy: cluster.RogueProxy().Client(base),
	}
	args := []string{"--kubeconfig", kubeconfig, "--bind-address", "127.0.0.1",
		"--tls-cert-file", certFile, "--tls-private-key-file", keyFile}
	args = append(args, extra...)
	// The free port is found by listening on port 0 and closing the listener;
	// another process may take it in between, so retry then.
	for attempt := 0; ; attempt++ {
		err := env.start(t, run, args, freePort(t))
		if errors.Is(err, syscall.EADDRINUSE) && attempt < 3 {
			continue
		}
		require.NoError(t, err)
		return env
	}
}

// start runs the server on port and waits for it to be ready; it returns run's
// error if run returns first.
func (e *Env) start(t *testing.T, run RunFunc, args []string, port int) error {
	e.BaseURL = "https://127.0.0.1:" + strconv.Itoa(port)
	args = append(slices.Clone(args), "--secure-port", strconv.Itoa(port))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args) }()

	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			cancel()
			return errors.Join(errors.New("the server stopped before it was ready"), err)
		case <-deadline.C:
			cancel()
			<-done
			return errors.New("the server did not answer /readyz 200 in time")
		case <-tick.C:
		}
		if e.ready() {
			break
		}
	}
	var once sync.Once
	var runErr error
	e.stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() {
		require.NoError(t, e.stop(), "run's return after the context was cancelled (graceful shutdown)")
		for _, c := range []*http.Client{e.Proxy, e.NoCert, e.ForgedProxy} {
			c.CloseIdleConnections()
		}
	})
	return nil
}

// Stop cancels run's context, as SIGTERM does, and returns run's error once
// it has returned. Safe to call more than once.
func (e *Env) Stop() error { return e.stop() }

func (e *Env) ready() bool {
	resp, err := e.NoCert.Get(e.BaseURL + "/readyz")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

// Do sends a request with the client and the headers and returns the response
// with its body read.
func (e *Env) Do(t *testing.T, c *http.Client, method, path string, header http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.BaseURL+path, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, data
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
