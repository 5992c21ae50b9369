package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// review is a SubjectAccessReview the extension sent, as kube-apiserver's
// audit log recorded it.
type review struct {
	spec    authorizationv1.SubjectAccessReviewSpec
	status  authorizationv1.SubjectAccessReviewStatus
	code    int32
	sentAt  time.Time
	summary string
}

func (r review) String() string { return r.summary }

// reviews returns every SubjectAccessReview the extension's identity has sent
// kube-apiserver so far.
func reviews(t *testing.T, e *env) []review {
	t.Helper()
	events, err := e.c.AuditEvents()
	require.NoError(t, err)
	var out []review
	for _, ev := range events {
		if ev.ObjectRef == nil || ev.ObjectRef.Resource != "subjectaccessreviews" || ev.User.Username != e.srv.Identity.Name {
			continue
		}
		var req, resp authorizationv1.SubjectAccessReview
		require.NoError(t, json.Unmarshal(ev.RequestObject, &req))
		if len(ev.ResponseObject) > 0 {
			require.NoError(t, json.Unmarshal(ev.ResponseObject, &resp))
		}
		r := review{spec: req.Spec, status: resp.Status, sentAt: ev.Received.Time}
		if ev.ResponseStatus != nil {
			r.code = ev.ResponseStatus.Code
		}
		what := fmt.Sprintf("%+v", req.Spec.NonResourceAttributes)
		if ra := req.Spec.ResourceAttributes; ra != nil {
			what = fmt.Sprintf("%s %s.%s in %q", ra.Verb, ra.Resource, ra.Group, ra.Namespace)
		}
		r.summary = fmt.Sprintf("%s: user %q groups %v: %s: allowed=%v", r.sentAt.Format(time.StampMilli), req.Spec.User, req.Spec.Groups, what, resp.Status.Allowed)
		out = append(out, r)
	}
	return out
}

// reviewsFor returns the reviews about user.
func reviewsFor(t *testing.T, e *env, user string) []review {
	t.Helper()
	return slices.DeleteFunc(reviews(t, e), func(r review) bool { return r.spec.User != user })
}

var barriers atomic.Int64

// auditBarrier makes the extension send one review of its own, for a user
// never seen before, and waits until the audit log holds it: the reviews
// sent before then are in the log too.
func auditBarrier(ctx context.Context, t *testing.T, e *env) {
	t.Helper()
	user := fmt.Sprintf("e2e-audit-barrier-%d", barriers.Add(1))
	client := proxyClient(t, e)
	r := mustSend(ctx, t, client, http.MethodGet, e.srv.URL()+demoapi.WidgetsPath("default"), nil, user, "system:authenticated")
	require.Equal(t, http.StatusForbidden, r.code, "barrier request: %s", r)
	eventually(ctx, t, 30*time.Second, "the barrier's review in the audit log", func(context.Context) error {
		if len(reviewsFor(t, e, user)) == 0 {
			return fmt.Errorf("no review for %s yet", user)
		}
		return nil
	})
}
