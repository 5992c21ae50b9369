package discovery_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aggauth/aggauth/discovery"
)

// Widget is the demo kind: a namespaced object with a free-form spec and a
// status the server sets.
type Widget struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is any JSON object.
	Spec json.RawMessage `json:"spec,omitempty"`
	// Status is set by the server.
	Status WidgetStatus `json:"status,omitzero"`
}

// WidgetStatus is the server-owned part of a Widget.
type WidgetStatus struct {
	CreatedBy authenticationv1.UserInfo `json:"createdBy"`
	Size      int32                     `json:"size,omitempty"`
}

// SwaggerDoc gives Widget's descriptions, as genswaggertypedocs generates
// them for Kubernetes' types.
func (Widget) SwaggerDoc() map[string]string {
	return map[string]string{
		"":       "Widget is the demo object.",
		"spec":   "Spec is any JSON object; the server keeps it as sent.",
		"status": "Status is set by the server.",
	}
}

// demoGroup is the demo API: demo.aggauth.io/v1 widgets with a status.
func demoGroup(t testing.TB) discovery.Group {
	t.Helper()
	s, err := discovery.SchemaOf(&Widget{})
	require.NoError(t, err)
	return discovery.Group{Name: "demo.aggauth.io", Versions: []discovery.Version{{Name: "v1", Resources: []discovery.Resource{{
		Plural:       "widgets",
		Kind:         "Widget",
		Namespaced:   true,
		Verbs:        metav1.Verbs{"list", "get", "watch", "create", "update", "patch", "delete", "deletecollection"},
		ShortNames:   []string{"wd"},
		Categories:   []string{"all"},
		Subresources: []discovery.Subresource{{Name: "status", Verbs: metav1.Verbs{"get", "update", "patch"}}},
		Schema:       s,
	}}}}}
}

// opsGroup has a cluster-scoped resource with an autoscaling/v1 scale
// subresource, and a second resource declared after it.
func opsGroup(t testing.TB) discovery.Group {
	t.Helper()
	scale, err := discovery.SchemaOf(&autoscalingv1.Scale{})
	require.NoError(t, err)
	return discovery.Group{Name: "ops.example.com", Versions: []discovery.Version{{Name: "v1", Resources: []discovery.Resource{
		{
			Plural: "gadgets", Kind: "Gadget",
			Verbs: metav1.Verbs{"get", "list", "create", "delete"},
			Subresources: []discovery.Subresource{{
				Name: "scale", Verbs: metav1.Verbs{"get", "update", "patch"},
				Kind:   schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"},
				Schema: scale,
			}},
		},
		{Plural: "bolts", Singular: "bolt", Kind: "Bolt", Namespaced: true, Verbs: metav1.Verbs{"list", "get"}},
	}}}}
}

// get serves one request with h and returns the recorded answer.
func get(h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// mustNew builds a Discovery or fails the test.
func mustNew(t testing.TB, groups ...discovery.Group) *discovery.Discovery {
	t.Helper()
	d, err := discovery.New(groups...)
	require.NoError(t, err)
	return d
}
