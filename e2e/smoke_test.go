package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/e2e/cluster"
)

const (
	smokeGroup   = "smoke.aggauth.io"
	smokeVersion = "v1"
	smokePath    = "/apis/" + smokeGroup + "/" + smokeVersion
	thingsPath   = smokePath + "/namespaces/default/things"
)

// TestSmoke runs the aggregation flow once through the real control plane:
// kube-apiserver publishes the front-proxy configuration, proxies a user's
// request to an extension registered on loopback with the user's identity and
// the front-proxy client certificate, and keeps doing so after a front-proxy
// CA rotation and an outage.
func TestSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := cluster.StartT(t, cluster.Options{})

	t.Run("authentication ConfigMap", func(t *testing.T) {
		cm, err := c.Client().CoreV1().ConfigMaps(cluster.AuthConfigMapNamespace).Get(ctx, cluster.AuthConfigMapName, metav1.GetOptions{})
		require.NoError(t, err)
		want := map[string]string{
			"requestheader-allowed-names":        `["front-proxy-client"]`,
			"requestheader-username-headers":     `["X-Remote-User"]`,
			"requestheader-group-headers":        `["X-Remote-Group"]`,
			"requestheader-extra-headers-prefix": `["X-Remote-Extra-"]`,
		}
		for k, v := range want {
			assert.JSONEq(t, v, cm.Data[k], "key %s", k)
		}
		assert.Contains(t, cm.Data["requestheader-client-ca-file"], strings.TrimSpace(string(c.FrontProxyCA().PEM())))
		assert.Contains(t, cm.Data["client-ca-file"], strings.TrimSpace(string(c.CA().PEM())))
	})

	rec := &recorder{}
	ext := startExtension(ctx, t, c, rec)
	alice, err := c.User("alice", "smoke-testers")
	require.NoError(t, err)

	t.Run("through kube-apiserver", func(t *testing.T) {
		requireUserReachesExtension(ctx, t, c, alice, rec)
	})

	t.Run("kubectl through kube-apiserver", func(t *testing.T) {
		out, stderr, err := c.Kubectl(ctx, alice.Kubeconfig, "get", "--raw", smokePath)
		require.NoError(t, err, stderr)
		assert.Contains(t, out, `"groupVersion":"`+smokeGroup+"/"+smokeVersion+`"`)
		out, stderr, err = c.Kubectl(ctx, c.AdminKubeconfig(), "get", "apiservice", ext.APIServiceName())
		require.NoError(t, err, stderr)
		assert.Regexp(t, `(?m)^`+ext.APIServiceName()+`\s+\S+\s+True\s`, out)
	})

	t.Run("kube-apiserver authorizes before proxying", func(t *testing.T) {
		carol, err := c.User("carol")
		require.NoError(t, err)
		_, err = carol.Client.Discovery().RESTClient().Get().AbsPath(thingsPath).DoRaw(ctx)
		require.True(t, apierrors.IsForbidden(err), "got %v; want Forbidden", err)
		assert.Nil(t, rec.last("carol"), "a request kube-apiserver denied reached the extension")

		require.NoError(t, c.Grant(ctx, "default", "things-reader", alice.Name, rbacv1.PolicyRule{
			APIGroups: []string{smokeGroup}, Resources: []string{"things"}, Verbs: []string{"list"},
		}))
		require.Eventually(t, func() bool { // RBAC's caches follow the new binding shortly
			_, err := alice.Client.Discovery().RESTClient().Get().AbsPath(thingsPath).DoRaw(ctx)
			return err == nil
		}, time.Minute, 100*time.Millisecond)
		got := rec.last(alice.Name)
		require.NotNil(t, got)
		assert.Equal(t, thingsPath, got.path)
	})

	t.Run("straight to the extension", func(t *testing.T) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ext.URL()+smokePath, nil)
		require.NoError(t, err)
		req.Header.Set("X-Remote-User", "bob")
		resp, err := ext.ProxyClient().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		got := rec.last("bob")
		require.NotNil(t, got)
		assert.Equal(t, cluster.FrontProxyClientCN, got.peerCN)
		assert.NoError(t, verifyFrontProxy(c, got.peerChain))
	})

	t.Run("front-proxy CA rotation", func(t *testing.T) {
		old := c.FrontProxyClient()
		require.NoError(t, c.RestartAPIServer(ctx, cluster.RestartOptions{RotateFrontProxy: true}))
		ca, err := c.RequestHeaderCA(ctx)
		require.NoError(t, err)
		assert.Equal(t, strings.TrimSpace(string(c.FrontProxyCA().PEM())), strings.TrimSpace(string(ca)),
			"the ConfigMap holds the new front-proxy CA alone")
		assert.Error(t, verifyFrontProxy(c, []*x509.Certificate{old.Cert}), "the old proxy certificate does not chain to the new CA")
		require.NoError(t, ext.WaitAvailable(ctx))
		requireUserReachesExtension(ctx, t, c, alice, rec)
	})

	t.Run("outage", func(t *testing.T) {
		require.NoError(t, c.StopAPIServer(ctx))
		require.False(t, c.APIServerRunning())
		require.Error(t, c.Ready(ctx))
		require.NoError(t, c.StartAPIServer(ctx))
		require.NoError(t, c.Ready(ctx))
		require.NoError(t, ext.WaitAvailable(ctx))
		requireUserReachesExtension(ctx, t, c, alice, rec)
	})
}

// requireUserReachesExtension GETs the extension's group version through
// kube-apiserver as u, and checks that the extension saw u's identity in the
// headers and the current front-proxy client certificate.
func requireUserReachesExtension(ctx context.Context, t *testing.T, c *cluster.Cluster, u *cluster.User, rec *recorder) {
	t.Helper()
	body, err := u.Client.Discovery().RESTClient().Get().AbsPath(smokePath).DoRaw(ctx)
	require.NoError(t, err)
	var list metav1.APIResourceList
	require.NoError(t, json.Unmarshal(body, &list))
	assert.Equal(t, smokeGroup+"/"+smokeVersion, list.GroupVersion)

	got := rec.last(u.Name)
	require.NotNil(t, got, "the extension saw no request from %s", u.Name)
	assert.Subset(t, got.groups, append([]string{"system:authenticated"}, u.Groups...))
	assert.Equal(t, cluster.FrontProxyClientCN, got.peerCN)
	assert.NoError(t, verifyFrontProxy(c, got.peerChain))
	assert.True(t, slices.ContainsFunc(got.extraKeys, func(k string) bool {
		return strings.EqualFold(k, "X-Remote-Extra-Authentication.kubernetes.io%2fcredential-Id")
	}), "credential-id extra in %v", got.extraKeys)
}

// verifyFrontProxy checks that chain is a client certificate from the
// cluster's current front-proxy CA.
func verifyFrontProxy(c *cluster.Cluster, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return errors.New("no client certificate")
	}
	inter := x509.NewCertPool()
	for _, cert := range chain[1:] {
		inter.AddCert(cert)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots: c.FrontProxyCA().Pool(), Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err
}

// startExtension serves a minimal extension apiserver on loopback and
// registers it; it answers discovery for the smoke group version and records
// every request.
func startExtension(ctx context.Context, t *testing.T, c *cluster.Cluster, rec *recorder) *cluster.Extension {
	t.Helper()
	ext, err := c.PrepareExtension(ctx, cluster.ExtensionOptions{Group: smokeGroup, Version: smokeVersion})
	require.NoError(t, err)
	ln, err := ext.Listen()
	require.NoError(t, err)
	srv := &http.Server{Handler: rec.handler(), TLSConfig: ext.ServerTLSConfig(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	require.NoError(t, ext.Register(ctx), "register %s", ext.APIServiceName())
	return ext
}

// seen is what the extension received in one request.
type seen struct {
	path, user string
	groups     []string
	extraKeys  []string
	peerCN     string
	peerChain  []*x509.Certificate
}

// recorder records requests; mu guards reqs.
type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

func (r *recorder) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s := seen{path: req.URL.Path, user: req.Header.Get("X-Remote-User"), groups: req.Header.Values("X-Remote-Group")}
		for k := range req.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-remote-extra-") {
				s.extraKeys = append(s.extraKeys, k)
			}
		}
		if req.TLS != nil && len(req.TLS.PeerCertificates) > 0 {
			s.peerChain = req.TLS.PeerCertificates
			s.peerCN = s.peerChain[0].Subject.CommonName
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, s)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch req.URL.Path {
		case smokePath:
			fmt.Fprintf(w, `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":%q,"resources":[]}`, smokeGroup+"/"+smokeVersion)
		case thingsPath:
			fmt.Fprint(w, `{"kind":"List","apiVersion":"v1","items":[]}`)
		default:
			http.NotFound(w, req)
		}
	})
}

// last returns the latest request from user, or nil.
func (r *recorder) last(user string) *seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.reqs) - 1; i >= 0; i-- {
		if r.reqs[i].user == user {
			s := r.reqs[i]
			return &s
		}
	}
	return nil
}
