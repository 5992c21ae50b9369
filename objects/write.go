package objects

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aggauth/aggauth/discovery"
	"github.com/aggauth/aggauth/internal/negotiation"
)

// Write writes obj, an object or a list, with the HTTP status code (200 for
// a get or a list, 201 for a create), as kube-apiserver writes the answer of
// its handlers (transformResponseObject), in the form the request's Accept
// header asks for:
//
//   - JSON (indented for ?pretty=true, curl, wget and browsers), YAML, or
//     protobuf when obj's type can be encoded to it (a runtime.Object with
//     generated protobuf methods; otherwise that alternative is skipped, as
//     for a CustomResourceDefinition);
//   - as=Table;g=meta.k8s.io;v=v1 (or v1beta1, which kube-apiserver still
//     serves), with the endpoint's printer columns and ?includeObject=
//     None, Metadata (the default) or Object, as kubectl get asks for;
//   - as=PartialObjectMetadata or as=PartialObjectMetadataList (v1 or
//     v1beta1), in JSON, YAML or protobuf, as metadata informers ask for;
//   - a 406 NotAcceptable Status, with Kubernetes' message, when none of
//     the alternatives can be served.
//
// obj is a pointer to a struct embedding metav1.TypeMeta and either
// metav1.ObjectMeta (an object) or metav1.ListMeta with an Items slice of
// objects (a list), or a runtime.Unstructured; other values are written as
// they are, and cannot be converted. When the Endpoint of the request is in
// its context (discovery.Handler puts it there), an object or list without a
// kind is written with the endpoint's Kind or ListKind, as Kubernetes' codecs
// set it; obj itself is never changed. Without one, Table is not offered
// (as for a storage without a TableConvertor).
//
// A conversion error (a PartialObjectMetadata of a list, a bad
// includeObject) is written as kube-apiserver writes it, with WriteError.
func Write(w http.ResponseWriter, r *http.Request, code int, obj any) {
	e, _ := discovery.EndpointFrom(r.Context())
	s := shapeOf(obj)
	opts, pretty, ok := negotiation.Output(r, infos, restrictions{protobuf: s.protobuf, table: e != nil})
	if !ok {
		// responsewriters.WriteObjectNegotiated: an error keeps its code.
		if code < http.StatusOK || code >= http.StatusBadRequest {
			writeRawJSON(w, code, obj)
			return
		}
		writeStatus(w, r, negotiation.NotAcceptable(negotiation.MediaTypes(infos)))
		return
	}
	tableOpts, err := tableOptions(r, opts.Convert)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	out, err := transform(e, s, obj, opts.Convert, tableOpts)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	writeEncoded(w, opts.Index, pretty, code, out)
}

// transform is transformResponseObject's doTransformObject: obj as the
// target kind, or as it is written without one.
func transform(e *discovery.Endpoint, s *shape, obj any, target *schema.GroupVersionKind, tableOpts *metav1.TableOptions) (any, error) {
	if v := reflect.ValueOf(obj); !v.IsValid() || v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, apierrors.NewInternalError(errors.New("objects: a nil object"))
	}
	if status, ok := obj.(*metav1.Status); ok {
		out := *status
		out.Kind, out.APIVersion = "Status", "v1"
		return &out, nil
	}
	obj = prepared(obj, s, kindOf(e, s))
	switch {
	case target == nil:
		return obj, nil
	case target.Kind == "PartialObjectMetadata":
		return asPartialObjectMetadata(s, obj, target.GroupVersion())
	case target.Kind == "PartialObjectMetadataList":
		return asPartialObjectMetadataList(s, obj, target.GroupVersion())
	case target.Kind == "Table":
		return asTable(e, s, obj, tableOpts, target.GroupVersion())
	}
	// Unreachable: the negotiation allows no other target.
	return nil, &apierrors.StatusError{ErrStatus: *negotiation.NotAcceptable(negotiation.MediaTypes(infos))}
}

// kindOf is the kind the endpoint's codec would write obj with.
func kindOf(e *discovery.Endpoint, s *shape) schema.GroupVersionKind {
	switch {
	case e == nil:
		return schema.GroupVersionKind{}
	case s.list:
		return e.ListKind()
	case s.object:
		return e.Kind()
	}
	return schema.GroupVersionKind{}
}

// notAcceptable is handlers' errNotAcceptable: a 406 with its own message.
func notAcceptable(format string, args ...any) error {
	return statusError(http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable, fmt.Sprintf(format, args...))
}
