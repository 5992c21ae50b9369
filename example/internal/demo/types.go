// Package demo is the small aggregated API the example servers share: the
// Widget type, an in-memory store, the declaration of the API that discovery
// and OpenAPI are built from, and the JSON helpers. Each server only adds its
// own routing.
package demo

import (
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

// GroupResource and GroupKind name widgets in errors.
var (
	GroupResource = schema.GroupResource{Group: Group, Resource: Resource}
	GroupKind     = schema.GroupKind{Group: Group, Kind: Kind}
)

// Widget is a namespaced object with a color and a size. Status records who
// created it, as the extension server saw the caller.
//
// The SwaggerDoc methods are what discovery.SchemaOf reads descriptions from
// (as Kubernetes' own types do): kubectl explain widgets.spec shows them.
type Widget struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what the creator asked for. Unknown fields are dropped.
	Spec WidgetSpec `json:"spec,omitzero"`
	// Status is set by the server.
	Status WidgetStatus `json:"status,omitzero"`
}

// SwaggerDoc describes Widget's fields for OpenAPI.
func (Widget) SwaggerDoc() map[string]string {
	return map[string]string{
		"":       "Widget is the demo object of the aggauth examples, kept in the memory of the extension apiserver.",
		"spec":   "Spec is what the creator asked for.",
		"status": "Status is set by the server: who created the widget.",
	}
}

// WidgetSpec is the user-owned part of a Widget.
type WidgetSpec struct {
	// Color is any color name, such as blue.
	Color string `json:"color,omitempty"`
	// Size is a size in arbitrary units.
	Size int32 `json:"size,omitempty"`
}

// SwaggerDoc describes WidgetSpec's fields for OpenAPI.
func (WidgetSpec) SwaggerDoc() map[string]string {
	return map[string]string{
		"":      "WidgetSpec is the user-owned part of a Widget.",
		"color": "Color is any color name, such as blue.",
		"size":  "Size is a size in arbitrary units.",
	}
}

// WidgetStatus is the server-owned part of a Widget.
type WidgetStatus struct {
	// CreatedBy is the user that created the Widget: the identity the
	// aggregation layer forwarded and aggauth authenticated.
	CreatedBy authenticationv1.UserInfo `json:"createdBy"`
}

// SwaggerDoc describes WidgetStatus's fields for OpenAPI.
func (WidgetStatus) SwaggerDoc() map[string]string {
	return map[string]string{
		"":          "WidgetStatus is the server-owned part of a Widget.",
		"createdBy": "CreatedBy is the user that created the widget, as the extension apiserver saw the caller.",
	}
}

// WidgetList is the answer to a list.
type WidgetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Widget `json:"items"`
}

// DeepCopy returns a copy of w that shares nothing with it.
func (w *Widget) DeepCopy() *Widget {
	out := &Widget{TypeMeta: w.TypeMeta, Spec: w.Spec}
	w.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	w.Status.CreatedBy.DeepCopyInto(&out.Status.CreatedBy)
	return out
}
