package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestScenario17GarbageCollection: kube-controller-manager's garbage
// collector deletes a widget whose owner (a ConfigMap) is deleted, and,
// when a widget that owns a ConfigMap is deleted in the foreground, deletes
// the ConfigMap, then removes the widget's foregroundDeletion finalizer (a
// patch: the strategic merge patch gets 415, then a JSON merge patch), which
// deletes the widget; as for the control.
func TestScenario17GarbageCollection(t *testing.T) {
	e := controllersEnv(t)
	ctx := testContext(t)
	outcomes := forEachAPI(ctx, t, e, "scenario17", func(t *testing.T, api widgetAPI, ns string) string {
		configMaps := e.c.Client().CoreV1().ConfigMaps(ns)
		widgets := api.client(e, ns)
		gone := func(get func(ctx context.Context) error) func(ctx context.Context) error {
			return func(ctx context.Context) error {
				if err := get(ctx); !apierrors.IsNotFound(err) {
					return errors.Join(errors.New("still there"), err)
				}
				return nil
			}
		}

		owner, err := configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
		require.NoError(t, err)
		child := api.widget(ns, "child", "blue", 0)
		child.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID}})
		api.create(ctx, t, e, child)
		require.NoError(t, configMaps.Delete(ctx, owner.Name, metav1.DeleteOptions{}))
		eventually(ctx, t, controllersTimeout, "the garbage collector deletes the widget of the deleted ConfigMap", gone(func(ctx context.Context) error {
			_, err := widgets.Get(ctx, "child", metav1.GetOptions{})
			return err
		}))

		parent := api.create(ctx, t, e, api.widget(ns, "parent", "red", 0))
		_, err = configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dependent", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: api.gvr.GroupVersion().String(), Kind: "Widget", Name: parent.GetName(), UID: parent.GetUID(), BlockOwnerDeletion: ptr.To(true),
		}}}}, metav1.CreateOptions{})
		require.NoError(t, err)
		require.NoError(t, widgets.Delete(ctx, "parent", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}))
		deleting, err := widgets.Get(ctx, "parent", metav1.GetOptions{})
		if err == nil { // unless the garbage collector was already done
			assert.NotNil(t, deleting.GetDeletionTimestamp())
			assert.Contains(t, deleting.GetFinalizers(), metav1.FinalizerDeleteDependents)
		}
		eventually(ctx, t, controllersTimeout, "the garbage collector deletes the ConfigMap of the widget, then the widget", func(ctx context.Context) error {
			_, cmErr := configMaps.Get(ctx, "dependent", metav1.GetOptions{})
			w, wErr := widgets.Get(ctx, "parent", metav1.GetOptions{})
			if apierrors.IsNotFound(cmErr) && apierrors.IsNotFound(wErr) {
				return nil
			}
			var finalizers []string
			if wErr == nil {
				finalizers = w.GetFinalizers()
			}
			return fmt.Errorf("ConfigMap: %v; widget: %v, finalizers %v", cmErr, wErr, finalizers)
		})
		return "collected"
	})
	sameOutcome(t, outcomes)
}
