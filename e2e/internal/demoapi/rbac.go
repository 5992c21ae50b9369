package demoapi

import (
	"context"
	"fmt"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/e2e/cluster"
)

// rbacTimeout bounds the wait for kube-apiserver's RBAC to follow a new binding.
const rbacTimeout = time.Minute

// WidgetRule allows verbs on widgets.
func WidgetRule(verbs ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{Group}, Resources: []string{Resource}, Verbs: verbs}
}

// GrantWidgets lets user do verbs on widgets in namespace (cluster-wide for
// ""), with a role and binding named name (see cluster.Grant), and waits
// until kube-apiserver's RBAC allows every verb: RBAC follows a new binding
// shortly, not at once.
func GrantWidgets(ctx context.Context, c *cluster.Cluster, namespace, name, user string, verbs ...string) error {
	if err := c.Grant(ctx, namespace, name, user, WidgetRule(verbs...)); err != nil {
		return err
	}
	reviews := c.Client().AuthorizationV1().SubjectAccessReviews()
	for _, verb := range verbs {
		review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, Groups: []string{"system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: namespace, Verb: verb, Group: Group, Version: Version, Resource: Resource,
			},
		}}
		err := poll(ctx, rbacTimeout, func(ctx context.Context) error {
			got, err := reviews.Create(ctx, review, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			if !got.Status.Allowed {
				return fmt.Errorf("not allowed: %q", got.Status.Reason)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("demoapi: RBAC allowing %s to %s widgets in %q: %w", user, verb, namespace, err)
		}
	}
	return nil
}

// poll checks cond every 200 ms until it returns nil, timeout passes or ctx
// ends; the error then wraps the last failure.
func poll(ctx context.Context, timeout time.Duration, cond func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		last := cond(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
