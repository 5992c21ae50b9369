package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestScenario16NamespaceDeletion: kube-controller-manager's namespace
// controller empties a deleted namespace of widgets (deletecollection),
// waits while a widget's finalizer keeps it (the widget has a
// deletionTimestamp, the namespace the condition
// NamespaceFinalizersRemaining), and removes the namespace once the
// finalizer is removed; as for the control.
func TestScenario16NamespaceDeletion(t *testing.T) {
	e := controllersEnv(t)
	ctx := testContext(t)
	namespaces := e.c.Client().CoreV1().Namespaces()
	outcomes := forEachAPI(ctx, t, e, "scenario16", func(t *testing.T, api widgetAPI, ns string) string {
		widgets := api.client(e, ns)
		api.create(ctx, t, e, api.widget(ns, "plain", "blue", 0))
		held := api.widget(ns, "held", "red", 0)
		held.SetFinalizers([]string{"e2e.aggauth.io/hold"})
		api.create(ctx, t, e, held)

		require.NoError(t, namespaces.Delete(ctx, ns, metav1.DeleteOptions{}))
		var condition corev1.NamespaceCondition
		eventually(ctx, t, controllersTimeout, "plain deleted, held being deleted, the namespace waiting for its finalizer", func(ctx context.Context) error {
			list, err := widgets.List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			if len(list.Items) != 1 || list.Items[0].GetName() != "held" || list.Items[0].GetDeletionTimestamp() == nil {
				return fmt.Errorf("%d widgets left; want held alone, being deleted", len(list.Items))
			}
			n, err := namespaces.Get(ctx, ns, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NamespaceFinalizersRemaining && c.Status == corev1.ConditionTrue {
					condition = c
					return nil
				}
			}
			return fmt.Errorf("conditions %+v", n.Status.Conditions)
		})

		_, err := widgets.Patch(ctx, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		require.NoError(t, err)
		eventually(ctx, t, controllersTimeout, "the namespace gone", func(ctx context.Context) error {
			_, err := namespaces.Get(ctx, ns, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return errors.Join(errors.New("still there"), err)
		})
		return condition.Reason + ": " + condition.Message
	})
	sameOutcome(t, outcomes)
}
