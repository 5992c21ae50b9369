package demo

import (
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/aggauth/aggauth/requestinfo"
)

// Delete deletes the Widget namespace/name as kube-apiserver deletes an
// object, and reports whether it is gone:
//
//   - opts' preconditions (uid, resourceVersion) must hold, else a Conflict;
//   - the garbage collector's finalizers are set from opts as kube-apiserver
//     sets them: orphan for propagationPolicy Orphan, foregroundDeletion for
//     Foreground, neither for Background (the default, as for a
//     CustomResourceDefinition), and the garbage collector removes them once
//     it has dealt with the Widget's dependents;
//   - a Widget without finalizers is deleted at once (true); one with
//     finalizers is kept, with a deletionTimestamp, until an update removes
//     the last one (false): kubectl delete then waits, and its controllers
//     see the deletion.
//
// The Widget is returned as it was deleted, or as it is kept.
func (s *Store) Delete(namespace, name string, opts *metav1.DeleteOptions) (*Widget, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.widgets[namespace][name]
	if !ok {
		return nil, false, apierrors.NewNotFound(GroupResource, name)
	}
	if err := checkPreconditions(old, opts.Preconditions); err != nil {
		return nil, false, err
	}
	w := old.DeepCopy()
	w.Finalizers = gcFinalizers(old.Finalizers, opts)
	if len(w.Finalizers) == 0 {
		return s.commit(watch.Deleted, w), true, nil
	}
	if w.DeletionTimestamp == nil {
		now, zero := metav1.Now(), int64(0)
		w.DeletionTimestamp, w.DeletionGracePeriodSeconds = &now, &zero
		w.Generation++
	}
	if slices.Equal(w.Finalizers, old.Finalizers) && old.DeletionTimestamp != nil {
		return w, false, nil // being deleted already
	}
	return s.commit(watch.Modified, w), false, nil
}

// DeleteCollection deletes, as Delete does, the Widgets of namespace (of
// every namespace when it is empty) that sel selects, and returns them as
// they were listed.
func (s *Store) DeleteCollection(namespace string, sel requestinfo.Selectors, opts *metav1.DeleteOptions) (*WidgetList, error) {
	list := s.List(namespace, sel)
	for _, w := range list.Items {
		if _, _, err := s.Delete(w.Namespace, w.Name, opts); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	return list, nil
}

// checkPreconditions is kube-apiserver's check of a delete's preconditions
// (rest.BeforeDelete), with its words.
func checkPreconditions(w *Widget, p *metav1.Preconditions) error {
	gr := schema.GroupResource{Group: Group, Resource: Kind} // sic
	switch {
	case p == nil:
		return nil
	case p.UID != nil && *p.UID != w.UID:
		return apierrors.NewConflict(gr, w.Name, fmt.Errorf("the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated", *p.UID, w.UID))
	case p.ResourceVersion != nil && *p.ResourceVersion != w.ResourceVersion:
		return apierrors.NewConflict(gr, w.Name, fmt.Errorf("the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). The object might have been modified", *p.ResourceVersion, w.ResourceVersion))
	}
	return nil
}

// gcFinalizers returns the finalizers of an object deleted with opts, as
// kube-apiserver's registry sets them for the garbage collector
// (deletionFinalizersForGarbageCollection): the options' propagation policy
// (or the deprecated orphanDependents) decides between orphan and
// foregroundDeletion, else the one the object already has.
func gcFinalizers(finalizers []string, opts *metav1.DeleteOptions) []string {
	orphan := slices.Contains(finalizers, metav1.FinalizerOrphanDependents)
	foreground := slices.Contains(finalizers, metav1.FinalizerDeleteDependents)
	wasOrphan, wasForeground := orphan, foreground
	//lint:ignore SA1019 deprecated, and still honoured by kube-apiserver
	if o := opts.OrphanDependents; o != nil {
		orphan, foreground = *o, false
	} else if p := opts.PropagationPolicy; p != nil {
		orphan, foreground = *p == metav1.DeletePropagationOrphan, *p == metav1.DeletePropagationForeground
	}
	if orphan == wasOrphan && foreground == wasForeground {
		return finalizers
	}
	out := slices.DeleteFunc(slices.Clone(finalizers), func(f string) bool {
		return f == metav1.FinalizerOrphanDependents || f == metav1.FinalizerDeleteDependents
	})
	if orphan {
		out = append(out, metav1.FinalizerOrphanDependents)
	}
	if foreground {
		out = append(out, metav1.FinalizerDeleteDependents)
	}
	return out
}
