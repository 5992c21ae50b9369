package e2e

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// The identities the aggregator sends its own requests as.
const (
	aggregatorUser = "system:kube-aggregator" // availability probes and discovery
	mastersGroup   = "system:masters"
)

// TestScenario8DiscoveryWithoutReviews: the aggregator's availability probes
// and discovery, and discovery through kube-apiserver by members of
// system:masters, never make the extension send a SubjectAccessReview:
// system:masters is allowed without one. kube-apiserver's audit log tells
// whom every review the extension sent was about.
func TestScenario8DiscoveryWithoutReviews(t *testing.T) {
	e := sharedEnv(t)
	ctx := testContext(t)
	c := e.c
	require.NoError(t, e.srv.WaitAvailable(ctx))

	t.Run("a burst of discovery as system:masters", func(t *testing.T) {
		admin := c.AdminKubeconfig() // user admin in system:masters
		// Not a review, not even a cache lookup.
		quietWindow(ctx, t, e, 0, func() {
			for range 3 {
				out, _ := kubectl(ctx, t, c, admin, "api-resources", "--api-group="+demoapi.Group)
				require.Contains(t, out, "Widget")
				out, _ = kubectl(ctx, t, c, admin, "get", "--raw", demoapi.VersionPath)
				require.Contains(t, out, `"groupVersion":"`+demoapi.Group+"/"+demoapi.Version+`"`)
				out, _ = kubectl(ctx, t, c, admin, "get", "--raw", "/apis/"+demoapi.Group)
				require.Contains(t, out, `"name":"`+demoapi.Group+`"`)
			}
		})
		auditBarrier(ctx, t, e)
		assert.Empty(t, reviewsFor(t, e, c.Admin().Name), "reviews about the administrator")
	})

	t.Run("no review for system:masters, ever", func(t *testing.T) {
		auditBarrier(ctx, t, e)
		all := reviews(t, e)
		require.NotEmpty(t, all, "the audit log records the extension's reviews")
		masters := slices.DeleteFunc(slices.Clone(all), func(r review) bool { return !slices.Contains(r.spec.Groups, mastersGroup) })
		assert.Empty(t, masters, "reviews about members of %s", mastersGroup)
	})

	t.Run("no review for the aggregator's discovery, ever", func(t *testing.T) {
		// The aggregator's discovery refresh (every minute, and when the
		// APIService changes) asks for /apis as system:kube-aggregator in
		// system:masters. When the answer is not aggregated discovery
		// (apidiscovery.k8s.io/v2), it falls back to GET /apis/<group>/<version>
		// as system:kube-aggregator without any group, which needs a review.
		auditBarrier(ctx, t, e)
		assert.Empty(t, reviewsFor(t, e, aggregatorUser), "reviews about %s", aggregatorUser)
	})
}
