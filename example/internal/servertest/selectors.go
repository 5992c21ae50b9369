package servertest

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/example/internal/demo"
	"github.com/aggauth/aggauth/internal/testutil"
)

// The selectors test's user, namespace and the one widget the user may read.
const (
	restrictedUser     = "restricted"
	selectorsNamespace = "team-a"
	aliceWidget        = "alice-widget"
)

var restricted = identity(restrictedUser, []string{"system:authenticated"}, nil)

// testSelectors: a list answers only what its selectors select, since the
// selectors are part of what was authorized. The restricted user may list
// ?fieldSelector=metadata.name=alice-widget and must then get alice-widget
// alone, although bob-widget is in the same namespace.
func (e *Env) testSelectors(t *testing.T) {
	ns := demo.VersionPath + "/namespaces/" + selectorsNamespace + "/widgets"
	for _, owner := range []string{"alice", "bob"} {
		body := `{"metadata":{"name":"` + owner + `-widget","labels":{"owner":"` + owner + `"}},"spec":{"color":"blue"}}`
		resp, data := e.Do(t, e.Proxy, http.MethodPost, ns, alice, body)
		require.Equal(t, http.StatusCreated, resp.StatusCode, "creating %s-widget: got %d %s", owner, resp.StatusCode, data)
	}
	tests := []struct {
		name   string
		who    http.Header
		path   string
		code   int
		want   []string            // the names listed, for a 200 list
		reason metav1.StatusReason // for a failure
	}{
		{"restricted, by name", restricted, ns + "?fieldSelector=metadata.name%3Dalice-widget", http.StatusOK, []string{aliceWidget}, ""},
		{"restricted, by name and namespace", restricted, ns + "?fieldSelector=metadata.name%3Dalice-widget,metadata.namespace%3Dteam-a", http.StatusOK, []string{aliceWidget}, ""},
		{"restricted, by name and a label", restricted, ns + "?fieldSelector=metadata.name%3Dalice-widget&labelSelector=owner%3Dbob", http.StatusOK, []string{}, ""},
		{"restricted, get", restricted, ns + "/" + aliceWidget, http.StatusOK, nil, ""},
		{"restricted, no selector", restricted, ns, http.StatusForbidden, nil, metav1.StatusReasonForbidden},
		{"restricted, other name", restricted, ns + "?fieldSelector=metadata.name%3Dbob-widget", http.StatusForbidden, nil, metav1.StatusReasonForbidden},
		{"restricted, label only", restricted, ns + "?labelSelector=owner%3Dalice", http.StatusForbidden, nil, metav1.StatusReasonForbidden},
		{"restricted, get other", restricted, ns + "/bob-widget", http.StatusForbidden, nil, metav1.StatusReasonForbidden},
		{"alice, no selector", alice, ns, http.StatusOK, []string{aliceWidget, "bob-widget"}, ""},
		{"alice, label", alice, ns + "?labelSelector=owner%3Dbob", http.StatusOK, []string{"bob-widget"}, ""},
		{"alice, label set", alice, ns + "?labelSelector=owner+in+(alice,bob)", http.StatusOK, []string{aliceWidget, "bob-widget"}, ""},
		{"alice, all namespaces by name", alice, demo.VersionPath + "/widgets?fieldSelector=metadata.name%3Dalice-widget", http.StatusOK, []string{aliceWidget}, ""},
		{"alice, unsupported field", alice, ns + "?fieldSelector=spec.color%3Dblue", http.StatusBadRequest, nil, metav1.StatusReasonBadRequest},
		{"alice, label does not parse", alice, ns + "?labelSelector=owner+in+(", http.StatusBadRequest, nil, metav1.StatusReasonBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.Do(t, e.Proxy, http.MethodGet, tt.path, tt.who, "")
			require.Equal(t, tt.code, resp.StatusCode, "GET %s: got %d %s; want %d", tt.path, resp.StatusCode, body, tt.code)
			if tt.reason != "" {
				st := testutil.Status(t, resp.StatusCode, resp.Header, body)
				assert.Equal(t, tt.reason, st.Reason, "body %s", body)
			}
			if tt.want != nil {
				names := []string{}
				for _, w := range decode[demo.WidgetList](t, body).Items {
					names = append(names, w.Name)
				}
				assert.Equal(t, tt.want, names)
			}
		})
	}
	t.Run("review", func(t *testing.T) {
		assert.True(t, e.reviewedWhere(func(s authorizationv1.SubjectAccessReviewSpec) bool {
			ra := s.ResourceAttributes
			return s.User == restrictedUser && ra != nil && ra.Verb == "list" && ra.Name == aliceWidget && ra.Namespace == selectorsNamespace
		}), "the list by name was reviewed as a list of alice-widget; got %+v", e.Cluster.Reviews())
	})
}

// reviewedWhere reports whether the fake cluster received a review
// whose spec satisfies match.
func (e *Env) reviewedWhere(match func(authorizationv1.SubjectAccessReviewSpec) bool) bool {
	for _, r := range e.Cluster.Reviews() {
		if match(r) {
			return true
		}
	}
	return false
}
