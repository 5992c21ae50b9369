// Package demo is the small aggregated API the example servers share: the
// Widget type, an in-memory store, the discovery documents and the JSON
// helpers. Each server only adds its own routing.
package demo

import (
	"encoding/json"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The API group, version and resource the examples serve.
const (
	Group    = "demo.aggauth.io"
	Version  = "v1"
	Resource = "widgets"
	Kind     = "Widget"
	ListKind = "WidgetList"

	// GroupVersion is the apiVersion of every Widget.
	GroupVersion = Group + "/" + Version
	// GroupPath and VersionPath are the discovery paths of the group and
	// version.
	GroupPath   = "/apis/" + Group
	VersionPath = GroupPath + "/" + Version
)

// GroupResource names widgets in errors.
var GroupResource = schema.GroupResource{Group: Group, Resource: Resource}

// Widget is a namespaced object with a free-form spec. Status records who
// created it, as the extension server saw the caller.
type Widget struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is any JSON object; the server keeps it as sent.
	Spec json.RawMessage `json:"spec,omitempty"`
	// Status is set by the server.
	Status WidgetStatus `json:"status,omitzero"`
}

// WidgetStatus is the server-owned part of a Widget.
type WidgetStatus struct {
	// CreatedBy is the user that created the Widget: the identity the
	// aggregation layer forwarded and aggauth authenticated.
	CreatedBy authenticationv1.UserInfo `json:"createdBy"`
}

// WidgetList is the answer to a list.
type WidgetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Widget `json:"items"`
}

// DeepCopy returns a copy of w that shares nothing with it.
func (w *Widget) DeepCopy() *Widget {
	out := &Widget{TypeMeta: w.TypeMeta}
	w.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	if w.Spec != nil {
		out.Spec = append(json.RawMessage(nil), w.Spec...)
	}
	w.Status.CreatedBy.DeepCopyInto(&out.Status.CreatedBy)
	return out
}
