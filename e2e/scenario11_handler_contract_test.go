package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// TestScenario11WhatTheHandlerSees, through kube-apiserver with kubectl:
//
//   - a user bound with resourceNames: [mia-widget] lists widgets with
//     --field-selector metadata.name=mia-widget and sees that one widget
//     (kube-apiserver and the extension both authorize the list as a request
//     for that name; the handler applies the selector), and is refused a list
//     without the selector;
//   - discovery declared once in the example (package discovery): kubectl
//     api-resources shows the short name and categories, kubectl get all
//     includes widgets, kubectl explain prints the declared fields, and
//     kube-apiserver logs no OpenAPI aggregation error for the APIService.
func TestScenario11WhatTheHandlerSees(t *testing.T) {
	e := sharedEnv(t)
	ctx := testContext(t)
	c := e.c
	require.NoError(t, e.srv.WaitAvailable(ctx))
	createNamespace(ctx, t, c, "scenario11")
	nina := newUser(t, c, "nina") // creates the widgets
	mia := newUser(t, c, "mia")   // may read mia-widget alone
	grantWidgets(ctx, t, c, "scenario11", "scenario11-nina", nina.Name, "list", "create", "get")
	require.NoError(t, c.Grant(ctx, "scenario11", "scenario11-mia", mia.Name, rbacv1.PolicyRule{
		APIGroups: []string{demoapi.Group}, Resources: []string{demoapi.Resource},
		Verbs: []string{"get", "list"}, ResourceNames: []string{"mia-widget"},
	}))
	for _, name := range []string{"mia-widget", "other-widget"} {
		_, err := dynamicFor(t, nina).Resource(demoapi.Widgets).Namespace("scenario11").
			Create(ctx, demoapi.Widget("scenario11", name, "teal"), metav1.CreateOptions{})
		require.NoError(t, err, name)
	}

	t.Run("resourceNames: a list by name shows that one object", func(t *testing.T) {
		eventually(ctx, t, propagationTimeout, "RBAC lets mia list mia-widget", func(ctx context.Context) error {
			out, errOut, err := c.Kubectl(ctx, mia.Kubeconfig, "get", "widgets", "-n", "scenario11",
				"--field-selector", "metadata.name=mia-widget", "-o", "name")
			if err != nil {
				return fmt.Errorf("%v: %s", err, errOut)
			}
			if got := strings.Fields(out); len(got) != 1 || got[0] != "widget.demo.aggauth.io/mia-widget" {
				return fmt.Errorf("got %q; want mia-widget alone", out)
			}
			return nil
		})
		errOut := kubectlFails(ctx, t, c, mia.Kubeconfig, "get", "widgets", "-n", "scenario11")
		assert.Contains(t, errOut, "Forbidden")
		errOut = kubectlFails(ctx, t, c, mia.Kubeconfig, "get", "widgets", "-n", "scenario11", "--field-selector", "metadata.name=other-widget")
		assert.Contains(t, errOut, "Forbidden")
	})

	admin := c.AdminKubeconfig()
	t.Run("api-resources: short name and categories", func(t *testing.T) {
		out, _ := kubectl(ctx, t, c, admin, "api-resources", "--api-group="+demoapi.Group, "-o", "wide")
		line := lineWith(out, "widgets")
		require.NotEmpty(t, line, out)
		assert.Contains(t, strings.Fields(line), "wg", "the short name")
		assert.Contains(t, line, "all,demo", "the categories")
		out, _ = kubectl(ctx, t, c, admin, "get", "wg", "-n", "scenario11", "-o", "name")
		assert.Contains(t, out, "widget.demo.aggauth.io/mia-widget", "kubectl get by short name")
	})

	t.Run("get all includes widgets", func(t *testing.T) {
		out, _ := kubectl(ctx, t, c, admin, "get", "all", "-n", "scenario11", "-o", "name")
		assert.Contains(t, out, "widget.demo.aggauth.io/other-widget")
	})

	t.Run("explain prints the declared fields", func(t *testing.T) {
		eventually(ctx, t, propagationTimeout, "kubectl explain widgets.spec", func(ctx context.Context) error {
			out, errOut, err := c.Kubectl(ctx, admin, "explain", "widgets.spec")
			if err != nil {
				return fmt.Errorf("%v: %s", err, errOut)
			}
			if !strings.Contains(out, "color") || !strings.Contains(out, "size") {
				return fmt.Errorf("no declared field in:\n%s", out)
			}
			return nil
		})
	})

	t.Run("no OpenAPI aggregation error in kube-apiserver's log", func(t *testing.T) {
		log, err := os.ReadFile(filepath.Join(c.LogDir(), "kube-apiserver.log"))
		require.NoError(t, err)
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, demoapi.Group) && strings.Contains(strings.ToLower(line), "openapi") &&
				(strings.Contains(line, "rror") || strings.Contains(line, "failed")) {
				t.Errorf("kube-apiserver logged an OpenAPI error for the APIService: %s", line)
			}
		}
	})
}

// lineWith returns the first line of s that contains substr, or "".
func lineWith(s, substr string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, substr) {
			return line
		}
	}
	return ""
}
