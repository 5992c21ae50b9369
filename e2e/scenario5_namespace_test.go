package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// namespaceTimeout bounds the wait for the extension's namespace informer to
// see a change.
const namespaceTimeout = time.Minute

// TestScenario5NamespaceLifecycle: the extension's admission refuses a create
// into a missing namespace (404) or a terminating one (403), as kube-apiserver
// does for its own resources, and accepts it once the missing namespace
// exists. The requests go through kube-apiserver as a user with RBAC.
func TestScenario5NamespaceLifecycle(t *testing.T) {
	e := sharedEnv(t)
	ctx := testContext(t)
	c := e.c
	frank := newUser(t, c, "frank")
	grantWidgets(ctx, t, c, "", "scenario5-widgets", frank.Name, "create")
	dyn := dynamicFor(t, frank)
	const missing, terminating = "scenario5-missing", "scenario5-terminating"
	create := func(ctx context.Context, ns, name string) error {
		_, err := dyn.Resource(demoapi.Widgets).Namespace(ns).Create(ctx, demoapi.Widget(ns, name, "grey"), metav1.CreateOptions{})
		return err
	}

	t.Run("missing namespace: 404", func(t *testing.T) {
		err := create(ctx, missing, "w")
		require.True(t, apierrors.IsNotFound(err), "got %v; want NotFound", err)
		s := statusOf(t, err)
		assert.Equal(t, `namespaces "`+missing+`" not found`, s.Message)
		require.NotNil(t, s.Details)
		assert.Equal(t, "namespaces", s.Details.Kind)
		assert.Equal(t, missing, s.Details.Name)
	})

	t.Run("terminating namespace: 403", func(t *testing.T) {
		createNamespace(ctx, t, c, terminating)
		// A finalizer nobody removes keeps the namespace Terminating (nor does
		// any namespace controller run here to empty it).
		_, err := c.Client().CoreV1().ConfigMaps(terminating).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Name: "hold", Finalizers: []string{"e2e.aggauth.io/hold"},
		}}, metav1.CreateOptions{})
		require.NoError(t, err)
		require.NoError(t, c.Client().CoreV1().Namespaces().Delete(ctx, terminating, metav1.DeleteOptions{}))
		ns, err := c.Client().CoreV1().Namespaces().Get(ctx, terminating, metav1.GetOptions{})
		require.NoError(t, err)
		require.Equal(t, corev1.NamespaceTerminating, ns.Status.Phase)

		// kube-apiserver's own answer, for a ConfigMap.
		_, err = c.Client().CoreV1().ConfigMaps(terminating).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{})
		require.True(t, apierrors.IsForbidden(err), "got %v; want Forbidden", err)
		theirs := statusOf(t, err)

		var ours metav1.Status
		n := 0
		eventually(ctx, t, namespaceTimeout, "the extension refuses creates in "+terminating, func(ctx context.Context) error {
			n++
			err := create(ctx, terminating, fmt.Sprintf("w%d", n)) // a new name each time: an early attempt may be accepted
			if !apierrors.IsForbidden(err) {
				return fmt.Errorf("got %v; want Forbidden", err)
			}
			var se apierrors.APIStatus
			if !errors.As(err, &se) {
				return err
			}
			ours = se.Status()
			return nil
		})
		assert.Equal(t, int32(http.StatusForbidden), ours.Code)
		assert.Equal(t, metav1.StatusReasonForbidden, ours.Reason)
		assert.Contains(t, ours.Message, "unable to create new content in namespace "+terminating+" because it is being terminated")
		require.NotNil(t, ours.Details)
		assert.Equal(t, theirs.Details.Causes, ours.Details.Causes)

		t.Run("worded as kube-apiserver's", func(t *testing.T) {
			// kube-apiserver names the object being created (admission has
			// the decoded body; the name, else the generateName).
			want := strings.Replace(theirs.Message, `configmaps "late"`, fmt.Sprintf(`widgets.demo.aggauth.io "w%d"`, n), 1)
			assert.Equal(t, want, ours.Message)
			assert.Equal(t, fmt.Sprintf("w%d", n), ours.Details.Name)
		})
	})

	t.Run("once the namespace exists: accepted", func(t *testing.T) {
		createNamespace(ctx, t, c, missing)
		n := 0
		eventually(ctx, t, namespaceTimeout, "the extension accepts creates in "+missing, func(ctx context.Context) error {
			n++
			err := create(ctx, missing, fmt.Sprintf("w%d", n))
			if err != nil && !apierrors.IsNotFound(err) {
				t.Fatalf("create in %s: got %v; want NotFound until the namespace is seen, then success", missing, err)
			}
			return err
		})
		list, err := c.Dynamic().Resource(demoapi.Widgets).Namespace(missing).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		require.Len(t, list.Items, 1)
		assert.Equal(t, fmt.Sprintf("w%d", n), list.Items[0].GetName())
	})
}
