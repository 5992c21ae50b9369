package demo

import (
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxObjectBytes bounds the JSON of a stored Widget, as etcd's request limit
// (--max-request-bytes, 1.5 MiB by default) bounds kube-apiserver's objects:
// a Widget cannot grow without bound, patch after patch.
const MaxObjectBytes = 3 << 19

// Validate checks a Widget to store, new (old nil) or replacing old, with
// kube-apiserver's rules for every object's metadata
// (k8s.io/apimachinery/pkg/api/validation): a name (or generateName) that is
// a DNS subdomain, labels, annotations (256 KiB in all), ownerReferences (at
// most one controller), finalizers (qualified names, not both orphan and
// foregroundDeletion), and on update the fields that cannot change (name,
// uid, creationTimestamp, deletionTimestamp), a resourceVersion, and no new
// finalizer once the deletion started. Those errors are an Invalid (422), as
// is a new widget with a name reserved for a demonstration. A Widget over
// MaxObjectBytes is a RequestEntityTooLarge (413; kube-apiserver answers 500
// with etcd's "request is too large").
func Validate(w, old *Widget) error {
	path := field.NewPath("metadata")
	errs := validation.ValidateObjectMeta(&w.ObjectMeta, true, validation.NameIsDNSSubdomain, path)
	if old != nil {
		errs = append(errs, validation.ValidateObjectMetaUpdate(&w.ObjectMeta, &old.ObjectMeta, path)...)
	} else if reserved(w.Name) {
		errs = append(errs, field.Invalid(path.Child("name"), w.Name, "is reserved for a demonstration of the example servers"))
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(GroupKind, w.Name, errs)
	}
	data, err := json.Marshal(w)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	if len(data) > MaxObjectBytes {
		return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the widget would be %d bytes; limit is %d", len(data), MaxObjectBytes))
	}
	return nil
}
