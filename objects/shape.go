package objects

import (
	"reflect"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// What an answer is, read from its Go type once per type: an object (a
// pointer to a struct embedding metav1.ObjectMeta, or a
// runtime.Unstructured), a list (a pointer to a struct embedding
// metav1.ListMeta with an Items slice of objects), or something else, written
// as it is. Types are the program's, so the cache of shapes is bounded by
// the program.

type shape struct {
	object   bool // implements metav1.Object
	list     bool // implements metav1.ListInterface and has a slice field Items
	items    int  // index of Items
	kinded   bool // has GetObjectKind (an embedded metav1.TypeMeta)
	protobuf bool // a runtime.Object the protobuf serializer can encode
	copyable bool // a pointer to a struct, whose shallow copy is cheap to make
}

var shapes sync.Map // reflect.Type → *shape

func shapeOf(obj any) *shape {
	t := reflect.TypeOf(obj)
	if s, ok := shapes.Load(t); ok {
		return s.(*shape)
	}
	s := &shape{items: -1}
	_, s.object = obj.(metav1.Object)
	_, s.kinded = obj.(kinded)
	s.protobuf = isProtobuf(obj)
	if t != nil && t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct {
		_, unstructured := obj.(runtime.Unstructured)
		s.copyable = !unstructured
		if f, ok := t.Elem().FieldByName("Items"); ok && len(f.Index) == 1 && f.Type.Kind() == reflect.Slice {
			_, listMeta := obj.(metav1.ListInterface)
			s.list, s.items = listMeta, f.Index[0]
		}
	}
	shapes.Store(t, s)
	return s
}

type kinded interface {
	GetObjectKind() schema.ObjectKind
}

// isProtobuf reports whether k8s.io/apimachinery's protobuf serializer can
// encode obj, as it can Kubernetes' own types.
func isProtobuf(obj any) bool {
	if _, ok := obj.(runtime.Object); !ok {
		return false
	}
	switch obj.(type) {
	case runtime.ProtobufMarshaller, runtime.ProtobufReverseMarshaller, interface{ Marshal() ([]byte, error) }:
		return true
	}
	return false
}

// items calls f with a pointer to each item of a list.
func (s *shape) eachItem(list any, f func(item any) error) error {
	v := reflect.ValueOf(list).Elem().Field(s.items)
	for i := range v.Len() {
		item := v.Index(i)
		if item.Kind() != reflect.Pointer && item.Kind() != reflect.Interface {
			item = item.Addr()
		}
		if err := f(item.Interface()); err != nil {
			return err
		}
	}
	return nil
}

// listLen is the number of items of a list.
func (s *shape) listLen(list any) int {
	return reflect.ValueOf(list).Elem().Field(s.items).Len()
}

// prepared returns obj as it is written: with gvk as its kind when it has
// none, and, for a list, an empty Items slice instead of nil (as
// transformResponseObject makes it), in a shallow copy when either changes.
func prepared(obj any, s *shape, gvk schema.GroupVersionKind) any {
	if !s.copyable || reflect.ValueOf(obj).IsNil() {
		return obj
	}
	setKind := s.kinded && !gvk.Empty() && obj.(kinded).GetObjectKind().GroupVersionKind().Empty()
	nilItems := s.list && reflect.ValueOf(obj).Elem().Field(s.items).IsNil()
	if !setKind && !nilItems {
		return obj
	}
	v := reflect.ValueOf(obj)
	c := reflect.New(v.Type().Elem())
	c.Elem().Set(v.Elem())
	if nilItems {
		items := c.Elem().Field(s.items)
		items.Set(reflect.MakeSlice(items.Type(), 0, 0))
	}
	out := c.Interface()
	if setKind {
		out.(kinded).GetObjectKind().SetGroupVersionKind(gvk)
	}
	return out
}
