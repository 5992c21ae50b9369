package requestinfo

import (
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// Selectors are the label and field selectors of a list, watch or
// deletecollection request: what a handler must apply to the objects it
// returns, as Kubernetes' storage does. A request authorized with a field
// selector metadata.name=X is authorized for X alone (an RBAC rule with
// resourceNames: [X] allows it): a handler that ignores the selector serves
// more than was authorized.
type Selectors struct {
	Label labels.Selector
	Field fields.Selector
}

// Everything is the Selectors of a request without selectors.
var Everything = Selectors{Label: labels.Everything(), Field: fields.Everything()}

// NewSelectors checks parsed selectors as Kubernetes' list handler does for a
// resource without field label conversions of its own: only metadata.name and
// metadata.namespace may be selected on (runtime.DefaultMetaV1FieldSelectorConversion),
// anything else is a 400 BadRequest Status error with Kubernetes' message. A
// nil selector selects everything.
func NewSelectors(label labels.Selector, field fields.Selector) (Selectors, error) {
	if label == nil {
		label = labels.Everything()
	}
	if field == nil {
		field = fields.Everything()
	}
	if _, err := field.Transform(runtime.DefaultMetaV1FieldSelectorConversion); err != nil {
		return Selectors{}, apierrors.NewBadRequest(err.Error())
	}
	return Selectors{Label: label, Field: field}, nil
}

// Matches reports whether obj is selected: its labels match Label, and its
// metadata.name and metadata.namespace match Field, as Kubernetes' storage
// decides (generic.ObjectMetaFieldsSet).
func (s Selectors) Matches(obj metav1.Object) bool {
	if !s.Label.Empty() && !s.Label.Matches(labels.Set(obj.GetLabels())) {
		return false
	}
	if s.Field.Empty() {
		return true
	}
	return s.Field.Matches(fields.Set{"metadata.name": obj.GetName(), "metadata.namespace": obj.GetNamespace()})
}

// Filter returns the items s selects, in order, in a new slice.
func Filter[T metav1.Object](s Selectors, items []T) []T {
	out := make([]T, 0, len(items))
	for _, it := range items {
		if s.Matches(it) {
			out = append(out, it)
		}
	}
	return out
}
