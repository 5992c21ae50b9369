package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aggauth/aggauth/e2e/cluster"
	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// TestScenario2UserThroughKubeAPIServer: a user with RBAC for widgets lists,
// creates, reads and deletes them through kube-apiserver, with kubectl and
// with client-go, each with the user's client certificate. The extension saw
// the user kube-apiserver authenticated: name, groups and the credential id
// of the certificate (read back from status.createdBy). kubectl prints the
// extension's errors as it prints kube-apiserver's own.
func TestScenario2UserThroughKubeAPIServer(t *testing.T) {
	e := sharedEnv(t)
	ctx := testContext(t)
	c := e.c
	const ns = "scenario2"
	createNamespace(ctx, t, c, ns)
	alice := newUser(t, c, "alice", "widget-makers")
	// Cluster-wide, so that kube-apiserver lets a create into a missing
	// namespace through to the extension.
	grantWidgets(ctx, t, c, "", "scenario2-widgets", alice.Name, "get", "list", "create", "delete")

	t.Run("kubectl", func(t *testing.T) {
		out, errOut := kubectl(ctx, t, c, alice.Kubeconfig, "get", "widgets", "-n", ns)
		assert.Empty(t, out)
		assert.Equal(t, "No resources found in "+ns+" namespace.", strings.TrimSpace(errOut))

		out, _ = kubectl(ctx, t, c, alice.Kubeconfig, "create", "-f", writeFile(t, "blue.yaml", demoapi.WidgetYAML(ns, "blue", "blue")))
		assert.Equal(t, "widget.demo.aggauth.io/blue created", strings.TrimSpace(out))

		out, _ = kubectl(ctx, t, c, alice.Kubeconfig, "get", "widgets", "-n", ns)
		assert.Regexp(t, `(?m)^NAME\s+COLOR\s+SIZE\s+AGE\n(?-m)blue\s+blue\s+\S+\n$`, out) // the declared columns; no size

		out, _ = kubectl(ctx, t, c, alice.Kubeconfig, "get", "widget", "blue", "-n", ns, "-o", "json")
		var obj unstructured.Unstructured
		require.NoError(t, obj.UnmarshalJSON([]byte(out)))
		assertCreatedBy(t, alice, &obj)

		out, _ = kubectl(ctx, t, c, alice.Kubeconfig, "delete", "widget", "blue", "-n", ns)
		assert.Regexp(t, `^widget.demo.aggauth.io "blue" deleted`, out)
		errOut = kubectlFails(ctx, t, c, alice.Kubeconfig, "get", "widget", "blue", "-n", ns)
		assert.Equal(t, `Error from server (NotFound): widgets.demo.aggauth.io "blue" not found`, errOut)
	})

	t.Run("client-go", func(t *testing.T) {
		widgets := dynamicFor(t, alice).Resource(demoapi.Widgets).Namespace(ns)
		created, err := widgets.Create(ctx, demoapi.Widget(ns, "green", "green"), metav1.CreateOptions{})
		require.NoError(t, err)
		assertCreatedBy(t, alice, created)

		list, err := widgets.List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		require.Len(t, list.Items, 1)
		assert.Equal(t, "green", list.Items[0].GetName())
		got, err := widgets.Get(ctx, "green", metav1.GetOptions{})
		require.NoError(t, err)
		assertCreatedBy(t, alice, got)

		require.NoError(t, widgets.Delete(ctx, "green", metav1.DeleteOptions{}))
		_, err = widgets.Get(ctx, "green", metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "get after delete: got %v; want NotFound", err)
	})

	t.Run("kubectl prints our errors as kube-apiserver's", func(t *testing.T) {
		// The extension's admission answers a create into a missing namespace;
		// kube-apiserver answers the same for a ConfigMap.
		widget := writeFile(t, "nowhere-widget.yaml", demoapi.WidgetYAML("nowhere", "blue", "blue"))
		ours := kubectlFails(ctx, t, c, alice.Kubeconfig, "create", "-f", widget)
		assert.Equal(t, `Error from server (NotFound): error when creating "`+widget+`": namespaces "nowhere" not found`, ours)

		cm := writeFile(t, "nowhere-configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: blue, namespace: nowhere}\n")
		theirs := kubectlFails(ctx, t, c, c.AdminKubeconfig(), "create", "-f", cm)
		assert.Equal(t, strings.Replace(theirs, cm, widget, 1), ours)

		// A missing object: the extension's NotFound and kube-apiserver's.
		ours = kubectlFails(ctx, t, c, alice.Kubeconfig, "get", "widget", "missing", "-n", ns)
		theirs = kubectlFails(ctx, t, c, c.AdminKubeconfig(), "get", "configmap", "missing", "-n", ns)
		assert.Equal(t, regexp.MustCompile(`configmaps "`).ReplaceAllString(theirs, `widgets.demo.aggauth.io "`), ours)
	})
}

// assertCreatedBy checks that the extension saw u as kube-apiserver
// authenticated it: name, groups (with system:authenticated) and the
// credential id of u's client certificate.
func assertCreatedBy(t *testing.T, u *cluster.User, obj *unstructured.Unstructured) {
	t.Helper()
	by, err := demoapi.CreatedBy(obj)
	require.NoError(t, err)
	assert.Equal(t, u.Name, by.Username)
	assert.ElementsMatch(t, append([]string{"system:authenticated"}, u.Groups...), by.Groups)
	assert.Equal(t, authenticationv1.ExtraValue{demoapi.CredentialID(u.Cert.Cert)}, by.Extra[demoapi.CredentialIDExtra],
		"extra %v", by.Extra)
}
