package demo

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
)

// Update replaces the Widget namespace/name with in, as a PUT does
// (kubectl replace): in's resourceVersion must be the stored one, else the
// error is kube-apiserver's 409 Conflict (an Invalid 422 when in has none: a
// CustomResourceDefinition allows no unconditional update either). A PUT
// never creates: a missing Widget is a NotFound. What the update may change
// and how it is checked is update's.
func (s *Store) Update(namespace, name string, in *Widget) (*Widget, error) {
	if err := checkName(in, namespace, name); err != nil {
		return nil, err
	}
	if in.ResourceVersion == "" {
		gk := schema.GroupKind{Group: Group, Kind: Resource} // sic, as kube-apiserver's registry
		return nil, apierrors.NewInvalid(gk, name, field.ErrorList{field.Invalid(
			field.NewPath("metadata", "resourceVersion"), uint64(0), "must be specified for an update")})
	}
	old, err := s.Get(namespace, name)
	if err != nil {
		return nil, err
	}
	return s.update(old, in)
}

// checkName refuses an object whose name or namespace is not the request's,
// as kube-apiserver's update and patch handlers do (checkName).
func checkName(w *Widget, namespace, name string) error {
	if w.Name != name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", w.Name, name))
	}
	if w.Namespace != "" && w.Namespace != namespace {
		return apierrors.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace on the request (%s)", w.Namespace, namespace))
	}
	return nil
}

// update stores in as the new state of old, the Widget as read from the
// store, if in's resourceVersion is old's and the store still holds old
// (else a Conflict). As kube-apiserver's registry does for a
// CustomResourceDefinition with a status subresource: uid, creationTimestamp,
// the deletion fields, generation (incremented when the spec changes) and
// status are the server's and kept; the rest of in (labels, annotations,
// ownerReferences, finalizers, spec) is validated (Validate) and stored. An
// update that changes nothing stores nothing. An update that removes the last
// finalizer of a Widget being deleted deletes it, and returns it as it was.
func (s *Store) update(old, in *Widget) (*Widget, error) {
	if in.ResourceVersion != old.ResourceVersion {
		return nil, conflict(old.Name)
	}
	w := in.DeepCopy()
	w.TypeMeta, w.Namespace, w.CreationTimestamp, w.Status = old.TypeMeta, old.Namespace, old.CreationTimestamp, old.Status
	if w.UID == "" {
		w.UID = old.UID
	}
	if old.DeletionTimestamp != nil {
		w.DeletionTimestamp = old.DeletionTimestamp
	}
	if w.DeletionGracePeriodSeconds == nil {
		w.DeletionGracePeriodSeconds = old.DeletionGracePeriodSeconds
	}
	w.Generation = old.Generation
	if !equality.Semantic.DeepEqual(w.Spec, old.Spec) {
		w.Generation++
	}
	if err := Validate(w, old); err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	stored, ok := s.widgets[old.Namespace][old.Name]
	switch {
	case !ok:
		return nil, apierrors.NewNotFound(GroupResource, old.Name)
	case stored.ResourceVersion != old.ResourceVersion:
		return nil, conflict(old.Name)
	case w.DeletionTimestamp != nil && len(w.Finalizers) == 0:
		return s.commit(watch.Deleted, stored.DeepCopy()), nil
	case equality.Semantic.DeepEqual(w, stored):
		return stored.DeepCopy(), nil
	}
	return s.commit(watch.Modified, w), nil
}

// conflict is kube-apiserver's answer to a write from a resourceVersion that
// is no longer the stored one.
func conflict(name string) error {
	return apierrors.NewConflict(GroupResource, name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
}
