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

		before, after := quietWindow(ctx, t, e, func() {
			r := mustSend(ctx, t, client, http.MethodGet, url, nil, "erin", "system:authenticated")
			require.Equal(t, http.StatusOK, r.code, "%s", r)
		})
		assert.Equal(t, before.Hits()+1, after.Hits(), "the repeated request was a cache hit")

		auditBarrier(ctx, t, e)
		assert.Len(t, reviewsFor(t, e, "erin"), 1, "one review for erin's two requests")
	})
}

// quietWindow runs action between two reads of the extension's metrics and
// returns them, requiring that action sent no review and missed no cache
// entry. The aggregator's own periodic requests (OpenAPI and discovery
// refreshes, about once a minute each) may send reviews at any moment: a
// window in which anything but action sent one is measured again, up to three
// times. An action that sends a review fails every window.
func quietWindow(ctx context.Context, t *testing.T, e *env, action func()) (before, after demoapi.Metrics) {
	t.Helper()
	const attempts = 3
	var moved []string
	for range attempts {
		b, err := e.srv.Metrics(ctx)
		require.NoError(t, err)
		action()
		a, err := e.srv.Metrics(ctx)
		require.NoError(t, err)
		if a.SARs() == b.SARs() && a.Misses() == b.Misses() {
			return b, a
		}
		moved = append(moved, fmt.Sprintf("before:\n%safter:\n%s", b.Authz(), a.Authz()))
	}
	t.Fatalf("every one of %d windows sent a review or missed the cache:\n%v\nreviews sent:\n%v", attempts, moved, reviews(t, e))
	return nil, nil
}
