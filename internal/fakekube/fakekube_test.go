package fakekube_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aggauth/aggauth/internal/fakekube"
	"github.com/aggauth/aggauth/internal/testpki"
	"github.com/aggauth/aggauth/internal/testutil"
)

// start returns a fake and a client-go clientset configured from the
// kubeconfig it writes.
func start(t *testing.T) (*fakekube.Server, kubernetes.Interface) {
	t.Helper()
	ca := testpki.NewCA("front-proxy-ca", testpki.ECDSA)
	s, err := fakekube.Start(fakekube.Options{FrontProxyCA: ca.PEM(), Namespaces: []string{"default", "team-a"}})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, s.WriteKubeconfig(path))
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	require.NoError(t, err)
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return s, client
}

func TestGet(t *testing.T) {
	_, client := start(t)
	ctx := t.Context()

	cm, err := client.CoreV1().ConfigMaps(fakekube.AuthConfigMapNamespace).Get(ctx, fakekube.AuthConfigMapName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, cm.Data["requestheader-client-ca-file"], "BEGIN CERTIFICATE")
	assert.JSONEq(t, `["front-proxy-client"]`, cm.Data["requestheader-allowed-names"])
	assert.NotContains(t, cm.Data, "client-ca-file")

	ns, err := client.CoreV1().Namespaces().Get(ctx, "team-a", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.NamespaceActive, ns.Status.Phase)

	_, err = client.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "only the namespaces asked for exist; got %v", err)
	_, err = client.CoreV1().ConfigMaps("default").Get(ctx, fakekube.AuthConfigMapName, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "got %v", err)
}

func TestList(t *testing.T) {
	_, client := start(t)
	ctx := t.Context()
	tests := []struct {
		name      string
		namespace string
		selector  string
		want      int
	}{
		{"namespace", "kube-system", "", 1},
		{"by name", "kube-system", fields.OneTermEqualSelector("metadata.name", fakekube.AuthConfigMapName).String(), 1},
		{"other name", "kube-system", "metadata.name=other", 0},
		{"other namespace", "default", "", 0},
		{"all namespaces", "", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := client.CoreV1().ConfigMaps(tt.namespace).List(ctx, metav1.ListOptions{FieldSelector: tt.selector})
			require.NoError(t, err)
			assert.Len(t, l.Items, tt.want)
		})
	}
}

// TestInformers: client-go's informers (watch list first, as client-go does
// by default) sync against the fake and stop when their context ends.
func TestInformers(t *testing.T) {
	_, client := start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	factory := informers.NewSharedInformerFactory(client, 0)
	nsInformer := factory.Core().V1().Namespaces().Informer()
	cmInformer := factory.Core().V1().ConfigMaps().Informer()
	factory.Start(ctx.Done())
	require.True(t, cache.WaitForCacheSync(ctx.Done(), nsInformer.HasSynced, cmInformer.HasSynced))
	assert.ElementsMatch(t, []string{"default", "team-a"}, nsInformer.GetStore().ListKeys())
	assert.Equal(t, []string{"kube-system/extension-apiserver-authentication"}, cmInformer.GetStore().ListKeys())
	cancel()
	factory.Shutdown()
}

func TestSubjectAccessReview(t *testing.T) {
	s, client := start(t)
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               "alice",
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "widgets"},
	}}
	got, err := client.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), sar, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.True(t, got.Status.Allowed)
	require.Len(t, s.Reviews(), 1)
	assert.Equal(t, sar.Spec, s.Reviews()[0].Spec)
}

// TestBearerToken: without the kubeconfig's token, requests are refused.
func TestBearerToken(t *testing.T) {
	s, _ := start(t)
	resp, err := s.Client().Get(s.URL() + "/api/v1/namespaces")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, metav1.StatusReasonUnauthorized, testutil.Status(t, resp.StatusCode, resp.Header, body).Reason)
}

// TestWithoutFrontProxyCA: without a front-proxy CA the ConfigMap has no
// requestheader-* keys, as kube-apiserver publishes it without
// --requestheader-client-ca-file.
func TestWithoutFrontProxyCA(t *testing.T) {
	ca := testpki.NewCA("client-ca", testpki.ECDSA)
	s, err := fakekube.Start(fakekube.Options{ClientCA: ca.PEM()})
	require.NoError(t, err)
	defer s.Close()
	client, err := kubernetes.NewForConfig(s.RestConfig())
	require.NoError(t, err)
	cm, err := client.CoreV1().ConfigMaps(fakekube.AuthConfigMapNamespace).Get(t.Context(), fakekube.AuthConfigMapName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"client-ca-file": string(ca.PEM())}, cm.Data)
}

// TestTerminatingNamespaces: a terminating namespace exists, in phase
// Terminating with a deletion timestamp, as kube-apiserver serves it while its
// contents are deleted.
func TestTerminatingNamespaces(t *testing.T) {
	s, err := fakekube.Start(fakekube.Options{Namespaces: []string{"default"}, TerminatingNamespaces: []string{"leaving"}})
	require.NoError(t, err)
	defer s.Close()
	client, err := kubernetes.NewForConfig(s.RestConfig())
	require.NoError(t, err)
	ns, err := client.CoreV1().Namespaces().Get(t.Context(), "leaving", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.NamespaceTerminating, ns.Status.Phase)
	assert.NotNil(t, ns.DeletionTimestamp)
	l, err := client.CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, l.Items, 2)
}
