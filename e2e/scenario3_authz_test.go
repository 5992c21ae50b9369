package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// TestScenario3ExtensionAuthorization: the extension authorizes every request
// itself with a SubjectAccessReview. Sent straight to it with the front-proxy
// certificate, as the aggregator sends them, a request of a user without RBAC
// gets our 403 Status, worded as kube-apiserver words its own; with RBAC, 200.
// The decision is cached: repeating the allowed request sends no new review.
func TestScenario3ExtensionAuthorization(t *testing.T) {
	e := sharedEnv(t)
	ctx := testContext(t)
	c := e.c
	client := proxyClient(t, e)
	url := e.srv.URL() + demoapi.WidgetsPath("default")

	t.Run("without RBAC: 403", func(t *testing.T) {
		dave := newUser(t, c, "dave")
		r := mustSend(ctx, t, client, http.MethodGet, url, nil, dave.Name, "system:authenticated")
		require.Equal(t, http.StatusForbidden, r.code, "%s", r)
		s := r.status(t)
		assert.Equal(t, metav1.StatusReasonForbidden, s.Reason)
		assert.Equal(t, `widgets.demo.aggauth.io is forbidden: User "dave" cannot list resource "widgets" in API group "demo.aggauth.io" in the namespace "default"`, s.Message)
		require.NotNil(t, s.Details)
		assert.Equal(t, demoapi.Group, s.Details.Group)
		assert.Equal(t, demoapi.Resource, s.Details.Kind)

		// kube-apiserver's own answer to dave's request, before it would proxy it.
		_, err := dynamicFor(t, dave).Resource(demoapi.Widgets).Namespace("default").List(ctx, metav1.ListOptions{})
		theirs := statusOf(t, err)
		assert.Equal(t, theirs.Message, s.Message)
		assert.Equal(t, theirs.Reason, s.Reason)
		assert.Equal(t, theirs.Details.Group, s.Details.Group)
		assert.Equal(t, theirs.Details.Kind, s.Details.Kind)
	})

	t.Run("with RBAC: 200, then from the cache", func(t *testing.T) {
		grantWidgets(ctx, t, c, "default", "scenario3-erin", "erin", "list")
		r := mustSend(ctx, t, client, http.MethodGet, url, nil, "erin", "system:authenticated")
		require.Equal(t, http.StatusOK, r.code, "%s", r)
		var list struct {
			Kind  string            `json:"kind"`
			Items []json.RawMessage `json:"items"`
		}
		require.NoError(t, json.Unmarshal(r.body, &list))
		assert.Equal(t, "WidgetList", list.Kind)

		// The repetition is a cache hit, with no review.
		quietWindow(ctx, t, e, 1, func() {
			r := mustSend(ctx, t, client, http.MethodGet, url, nil, "erin", "system:authenticated")
			require.Equal(t, http.StatusOK, r.code, "%s", r)
		})

		auditBarrier(ctx, t, e)
		assert.Len(t, reviewsFor(t, e, "erin"), 1, "one review for erin's two requests")
	})
}

// quietWindow runs action between two reads of the extension's metrics,
// requiring that action sent no review, missed no cache entry
// and hit it hits times. The aggregator's own periodic requests (OpenAPI and
// discovery refreshes, about once a minute) may look up the cache or send
// reviews at any moment: a window in which anything but action did is measured
// again, up to three times. An action that sends a review fails every window.
func quietWindow(ctx context.Context, t *testing.T, e *env, hits float64, action func()) {
	t.Helper()
	const attempts = 3
	var moved []string
	for range attempts {
		b, err := e.srv.Metrics(ctx)
		require.NoError(t, err)
		action()
		a, err := e.srv.Metrics(ctx)
		require.NoError(t, err)
		if a.SARs() == b.SARs() && a.Misses() == b.Misses() && a.Hits() == b.Hits()+hits {
			return
		}
		moved = append(moved, fmt.Sprintf("before:\n%safter:\n%s", b.Authz(), a.Authz()))
	}
	t.Fatalf("in each of %d windows, a review was sent, the cache missed, or it was not hit %g times:\n%v\nreviews sent:\n%v",
		attempts, hits, moved, reviews(t, e))
}
