package authn_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/testpki"
)

func authConfigMap(proxyCA, clientCA *testpki.Cert, extra map[string]string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "extension-apiserver-authentication"},
		Data: map[string]string{
			"requestheader-client-ca-file":       string(proxyCA.PEM()),
			"requestheader-allowed-names":        `["front-proxy-client"]`,
			"requestheader-username-headers":     `["X-Remote-User"]`,
			"requestheader-group-headers":        `["X-Remote-Group"]`,
			"requestheader-extra-headers-prefix": `["X-Remote-Extra-"]`,
		},
	}
	if clientCA != nil {
		cm.Data["client-ca-file"] = string(clientCA.PEM())
	}
	for k, v := range extra {
		if v == "<delete>" {
			delete(cm.Data, k)
		} else {
			cm.Data[k] = v
		}
	}
	return cm
}

// countingHandler counts log records by message.
type countingHandler struct {
	mu     sync.Mutex
	counts map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[r.Message]++
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
func (h *countingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[msg]
}

var sourceLogs = &countingHandler{counts: map[string]int{}}

func startSource(t *testing.T, client *fake.Clientset) *authn.ConfigMapSource {
	t.Helper()
	src, err := authn.NewConfigMapSource(authn.ConfigMapSourceOptions{Client: client, Logger: slog.New(sourceLogs)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, src.Start(ctx))
	t.Cleanup(cancel)
	return src
}

func updateCM(t *testing.T, client *fake.Clientset, cm *corev1.ConfigMap) {
	t.Helper()
	_, err := client.CoreV1().ConfigMaps("kube-system").Update(context.Background(), cm, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// proxyUser authenticates a request from cert through a front proxy reading src.
func proxyUser(t *testing.T, src *authn.ConfigMapSource, cert *testpki.Cert, headers ...string) (string, error) {
	t.Helper()
	fp, err := authn.NewFrontProxy(authn.FrontProxyOptions{Config: src.RequestHeader()})
	require.NoError(t, err)
	resp, ok, err := fp.AuthenticateRequest(newRequest(chain(cert), append([]string{"X-Remote-User", "bob"}, headers...)...))
	if err != nil || !ok {
		return "", err
	}
	return resp.User.GetName(), nil
}

func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 5*time.Millisecond, msg)
}

func TestConfigMapSource(t *testing.T) {
	p := newPKI(t)
	client := fake.NewClientset(authConfigMap(p.proxyCA, p.clientCA, nil))
	src := startSource(t, client)

	require.NoError(t, src.Ready(), "Start loads the ConfigMap before returning")
	name, err := proxyUser(t, src, p.proxy)
	require.NoError(t, err)
	assert.Equal(t, "bob", name)
	require.NotNil(t, src.ClientCA().CABundle())
	assert.Equal(t, p.clientCA.Cert.Raw, src.ClientCA().CABundle().Certificates()[0].Raw)

	t.Run("front-proxy CA rotation", func(t *testing.T) {
		newCA := testpki.NewCA("front-proxy-ca-2", testpki.ECDSA)
		newProxy := newCA.Issue(testpki.Spec{CommonName: "front-proxy-client"})
		updateCM(t, client, authConfigMap(newCA, p.clientCA, nil))
		eventually(t, func() bool { n, _ := proxyUser(t, src, newProxy); return n == "bob" }, "new CA accepted")
		_, err := proxyUser(t, src, p.proxy)
		require.ErrorContains(t, err, "unknown authority", "removed CA refused")
		updateCM(t, client, authConfigMap(p.proxyCA, p.clientCA, nil))
		eventually(t, func() bool { n, _ := proxyUser(t, src, p.proxy); return n == "bob" }, "back to the first CA")
	})

	t.Run("header names change", func(t *testing.T) {
		updateCM(t, client, authConfigMap(p.proxyCA, p.clientCA, map[string]string{"requestheader-username-headers": `["X-Proxy-User"]`}))
		eventually(t, func() bool {
			n, _ := proxyUser(t, src, p.proxy, "X-Proxy-User", "carol")
			return n == "carol"
		}, "new username header used")
		updateCM(t, client, authConfigMap(p.proxyCA, p.clientCA, nil))
		eventually(t, func() bool { n, _ := proxyUser(t, src, p.proxy); return n == "bob" }, "back to X-Remote-User")
	})

	for _, bad := range []struct {
		name  string
		extra map[string]string
	}{
		{"invalid JSON", map[string]string{"requestheader-allowed-names": `["front-proxy-client"`}},
		{"unparsable CA", map[string]string{"requestheader-client-ca-file": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"}},
		{"empty header name", map[string]string{"requestheader-group-headers": `[" "]`}},
	} {
		t.Run(bad.name+" keeps the last good configuration", func(t *testing.T) {
			const kept = "keeping the last good front-proxy configuration"
			before, logged := src.RequestHeader().RequestHeaderConfig(), sourceLogs.count(kept)
			updateCM(t, client, authConfigMap(p.proxyCA, p.clientCA, bad.extra))
			eventually(t, func() bool { return sourceLogs.count(kept) > logged }, "bad update processed")
			assert.Same(t, before, src.RequestHeader().RequestHeaderConfig())
			n, err := proxyUser(t, src, p.proxy)
			require.NoError(t, err)
			assert.Equal(t, "bob", n)
			updateCM(t, client, authConfigMap(p.proxyCA, p.clientCA, nil))
		})
	}

	t.Run("malformed client CA keeps the last good one", func(t *testing.T) {
		before := src.ClientCA().CABundle()
		updateCM(t, client, authConfigMap(p.proxyCA, p.clientCA, map[string]string{"client-ca-file": "garbage", "requestheader-allowed-names": `["front-proxy-client","x"]`}))
		eventually(t, func() bool { return len(src.RequestHeader().RequestHeaderConfig().AllowedNames) == 2 }, "update processed")
		assert.Same(t, before, src.ClientCA().CABundle())
		updateCM(t, client, authConfigMap(p.proxyCA, p.clientCA, nil))
	})

	t.Run("removed CA keys revoke trust", func(t *testing.T) {
		updateCM(t, client, authConfigMap(p.proxyCA, p.clientCA, map[string]string{"requestheader-client-ca-file": "<delete>", "client-ca-file": "<delete>"}))
		eventually(t, func() bool { return src.RequestHeader().RequestHeaderConfig() == nil }, "front-proxy trust revoked")
		eventually(t, func() bool { return src.ClientCA().CABundle() == nil }, "client CA revoked")
		n, err := proxyUser(t, src, p.proxy)
		require.NoError(t, err, "no configuration: no opinion")
		assert.Empty(t, n)
		assert.ErrorContains(t, src.Ready(), "has no requestheader-client-ca-file")

		updateCM(t, client, authConfigMap(p.proxyCA, p.clientCA, nil))
		eventually(t, func() bool { n, _ := proxyUser(t, src, p.proxy); return n == "bob" }, "trust back with the key")
		assert.NoError(t, src.Ready())
		assert.NotNil(t, src.ClientCA().CABundle())
	})

	t.Run("deletion revokes trust until the ConfigMap is back", func(t *testing.T) {
		require.NoError(t, client.CoreV1().ConfigMaps("kube-system").Delete(context.Background(), "extension-apiserver-authentication", metav1.DeleteOptions{}))
		eventually(t, func() bool { return src.RequestHeader().RequestHeaderConfig() == nil }, "deletion seen")
		n, err := proxyUser(t, src, p.proxy)
		require.NoError(t, err)
		assert.Empty(t, n, "nobody is authenticated from headers")
		assert.Nil(t, src.ClientCA().CABundle())
		assert.ErrorContains(t, src.Ready(), "was deleted")

		_, err = client.CoreV1().ConfigMaps("kube-system").Create(context.Background(), authConfigMap(p.proxyCA, p.clientCA, nil), metav1.CreateOptions{})
		require.NoError(t, err)
		eventually(t, func() bool { n, _ := proxyUser(t, src, p.proxy); return n == "bob" }, "restored without a restart")
		assert.NoError(t, src.Ready())
	})
}

func TestConfigMapSourceBeforeTheConfigMapExists(t *testing.T) {
	p := newPKI(t)
	client := fake.NewClientset()
	src := startSource(t, client)
	assert.ErrorContains(t, src.Ready(), "has not been read yet")
	n, err := proxyUser(t, src, p.proxy)
	require.NoError(t, err)
	assert.Empty(t, n, "nobody is authenticated from headers before the first load")
	assert.Nil(t, src.ClientCA().CABundle())

	_, err = client.CoreV1().ConfigMaps("kube-system").Create(context.Background(), authConfigMap(p.proxyCA, nil, nil), metav1.CreateOptions{})
	require.NoError(t, err)
	eventually(t, func() bool { return src.Ready() == nil }, "loaded once the ConfigMap appears")
	n, err = proxyUser(t, src, p.proxy)
	require.NoError(t, err)
	assert.Equal(t, "bob", n)
	assert.Nil(t, src.ClientCA().CABundle(), "no client-ca-file key: no client CA")
}

func TestConfigMapSourceForbidden(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("get", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "extension-apiserver-authentication",
			errors.New(`User "system:serviceaccount:demo:api" cannot get resource "configmaps"`))
	})
	src, err := authn.NewConfigMapSource(authn.ConfigMapSourceOptions{Client: client})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = src.Start(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--role=extension-apiserver-authentication-reader")
	assert.Contains(t, err.Error(), "kubectl create rolebinding -n kube-system")
	assert.Error(t, src.Ready())
}

func TestNewConfigMapSourceNeedsAClient(t *testing.T) {
	_, err := authn.NewConfigMapSource(authn.ConfigMapSourceOptions{})
	require.Error(t, err)
}

func TestFileCARotation(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "front-proxy-ca.crt")
	require.NoError(t, os.WriteFile(path, p.proxyCA.PEM(), 0o600))
	ca, err := authn.NewFileCA(authn.FileCAOptions{Path: path})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ca.Start(ctx)
	defer cancel()

	rh, err := authn.RequestHeaderFromCA(ca, *authn.NewRequestHeaderConfig(nil, "front-proxy-client"))
	require.NoError(t, err)
	fp, err := authn.NewFrontProxy(authn.FrontProxyOptions{Config: rh})
	require.NoError(t, err)
	who := func(c *testpki.Cert) string {
		resp, ok, _ := fp.AuthenticateRequest(newRequest(chain(c), "X-Remote-User", "bob"))
		if !ok {
			return ""
		}
		return resp.User.GetName()
	}
	require.Equal(t, "bob", who(p.proxy))

	newCA := testpki.NewCA("front-proxy-ca-2", testpki.ECDSA)
	newProxy := newCA.Issue(testpki.Spec{CommonName: "front-proxy-client"})
	// Write the new bundle atomically, as a mounted Secret is updated.
	tmp := filepath.Join(dir, ".tmp")
	require.NoError(t, os.WriteFile(tmp, newCA.PEM(), 0o600))
	require.NoError(t, os.Rename(tmp, path))
	eventually(t, func() bool { return who(newProxy) == "bob" }, "rotated CA file picked up")
	assert.Empty(t, who(p.proxy))

	require.NoError(t, os.WriteFile(path, []byte("broken"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "other"), nil, 0o600)) // one more event
	assert.Equal(t, "bob", who(newProxy), "a broken file keeps the last good bundle")

	_, err = authn.NewFileCA(authn.FileCAOptions{Path: filepath.Join(dir, "missing")})
	require.Error(t, err)
}

// Starting twice is harmless, and the informer stops with the context.
func TestConfigMapSourceStartTwice(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := newPKI(t)
	src, err := authn.NewConfigMapSource(authn.ConfigMapSourceOptions{Client: fake.NewClientset(authConfigMap(p.proxyCA, nil, nil))})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, src.Start(ctx))
	require.NoError(t, src.Start(ctx))
	cancel()
}
