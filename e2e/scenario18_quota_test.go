package e2e

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestScenario18ResourceQuota: a ResourceQuota with
// count/widgets.<group>: 2 counts the widgets of its namespace, creates and
// deletes; as for the control. What differs is kube-apiserver's, and
// documented: it enforces quotas only on the resources it serves itself, so
// the third widget is refused for the control (403, exceeded quota) and
// created through the aggregation layer, and the quota controller counts an
// aggregated create only at its next full recount (--resource-quota-sync-period,
// quotaSyncPeriod here) where kube-apiserver counts the control's at once.
func TestScenario18ResourceQuota(t *testing.T) {
	e := controllersEnv(t)
	ctx := testContext(t)
	outcomes := forEachAPI(ctx, t, e, "scenario18", func(t *testing.T, api widgetAPI, ns string) string {
		key := corev1.ResourceName("count/" + api.resource())
		quotas := e.c.Client().CoreV1().ResourceQuotas(ns)
		_, err := quotas.Create(ctx, &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "widgets"},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{key: resource.MustParse("2")}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		used := func(want int64) func(ctx context.Context) error {
			return func(ctx context.Context) error {
				q, err := quotas.Get(ctx, "widgets", metav1.GetOptions{})
				if err != nil {
					return err
				}
				got, ok := q.Status.Used[key]
				if !ok || got.Value() != want {
					return fmt.Errorf("used %v; want %s: %d", q.Status.Used, key, want)
				}
				return nil
			}
		}
		eventually(ctx, t, controllersTimeout, "the quota controller counts no widgets", used(0))

		for _, name := range []string{"w1", "w2"} {
			api.create(ctx, t, e, api.widget(ns, name, "blue", 0))
		}
		eventually(ctx, t, controllersTimeout, "the quota counts the two widgets", used(2))

		_, err = api.client(e, ns).Create(ctx, api.widget(ns, "w3", "blue", 0), metav1.CreateOptions{})
		if api.aggregated {
			require.NoError(t, err, "kube-apiserver does not enforce quotas on aggregated resources")
			require.NoError(t, api.client(e, ns).Delete(ctx, "w3", metav1.DeleteOptions{}))
		} else {
			require.True(t, apierrors.IsForbidden(err), "got %v; want Forbidden", err)
			assert.Contains(t, err.Error(), "exceeded quota: widgets, requested: "+string(key)+"=1, used: "+string(key)+"=2, limited: "+string(key)+"=2")
		}

		require.NoError(t, api.client(e, ns).Delete(ctx, "w1", metav1.DeleteOptions{}))
		eventually(ctx, t, controllersTimeout, "the quota counts the widget left", used(1))
		return "counted"
	})
	sameOutcome(t, outcomes)
}
