package cluster

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Grant gives the user named user the permissions in rules: in namespace
// through a Role and RoleBinding, or cluster-wide through a ClusterRole and
// ClusterRoleBinding when namespace is "". name names the role and binding;
// granting under an existing name fails.
func (c *Cluster) Grant(ctx context.Context, namespace, name, user string, rules ...rbacv1.PolicyRule) error {
	subjects := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
	rbac := c.Client().RbacV1()
	meta := metav1.ObjectMeta{Name: name, Namespace: namespace}
	var err error
	if namespace == "" {
		if _, err = rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: meta, Rules: rules}, metav1.CreateOptions{}); err == nil {
			err = c.bindClusterRole(ctx, name, name, subjects)
		}
	} else {
		if _, err = rbac.Roles(namespace).Create(ctx, &rbacv1.Role{ObjectMeta: meta, Rules: rules}, metav1.CreateOptions{}); err == nil {
			_, err = rbac.RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: meta,
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
				Subjects:   subjects,
			}, metav1.CreateOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("cluster: grant %s to %s in %q: %w", name, user, namespace, err)
	}
	return nil
}

// bindClusterRole creates a ClusterRoleBinding name of role to subjects.
func (c *Cluster) bindClusterRole(ctx context.Context, name, role string, subjects []rbacv1.Subject) error {
	_, err := c.Client().RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   subjects,
	}, metav1.CreateOptions{})
	return err
}
