package objects

import (
	"encoding/json"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1beta1 "k8s.io/apimachinery/pkg/apis/meta/v1beta1"
	"k8s.io/apimachinery/pkg/apis/meta/v1beta1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aggauth/aggauth/discovery"
)

// tableOptions is handlers.optionsForTransform: for a Table, the
// ?includeObject= of r, checked; nil for another target.
func tableOptions(r *http.Request, target *schema.GroupVersionKind) (*metav1.TableOptions, error) {
	if target == nil || target.Kind != "Table" || target.GroupVersion() != metav1.SchemeGroupVersion && target.GroupVersion() != metav1beta1.SchemeGroupVersion {
		return nil, nil
	}
	opts := &metav1.TableOptions{}
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, opts); err != nil {
		return nil, err
	}
	switch errs := validation.ValidateTableOptions(opts); len(errs) {
	case 0:
		return opts, nil
	case 1:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("Unable to convert to Table as requested: %v", errs[0].Error()))
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("Unable to convert to Table as requested: %v", errs))
	}
}

// asTable is handlers.asTable with the endpoint's columns as its
// TableConvertor (apiextensions' tableconvertor.ConvertToTable).
func asTable(e *discovery.Endpoint, s *shape, obj any, opts *metav1.TableOptions, gv schema.GroupVersion) (*metav1.Table, error) {
	if gv != metav1.SchemeGroupVersion && gv != metav1beta1.SchemeGroupVersion {
		return nil, notAcceptable("no Table exists in group version %s", gv)
	}
	table := &metav1.Table{TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: gv.String()}}
	if !opts.NoHeaders {
		table.ColumnDefinitions = e.ColumnDefinitions()
	}
	if m, err := meta.ListAccessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
		table.Continue = m.GetContinue()
		table.RemainingItemCount = m.GetRemainingItemCount()
	} else if m, err := meta.CommonAccessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}
	addRow := func(item any) error {
		cells, err := e.Cells(item)
		if err != nil {
			return err
		}
		row := metav1.TableRow{Cells: cells}
		if row.Object, err = rowObject(e, item, opts, gv); err != nil {
			return err
		}
		table.Rows = append(table.Rows, row)
		return nil
	}
	if !s.list {
		return table, addRow(obj)
	}
	table.Rows = make([]metav1.TableRow, 0, max(16, s.listLen(obj)))
	if err := s.eachItem(obj, addRow); err != nil {
		return nil, err
	}
	return table, nil
}

// rowObject is the object of a Table row as asTable sets it: the whole
// object for includeObject=Object, nothing for None, else its metadata.
func rowObject(e *discovery.Endpoint, item any, opts *metav1.TableOptions, gv schema.GroupVersion) (runtime.RawExtension, error) {
	m, err := meta.Accessor(item)
	if err != nil {
		return runtime.RawExtension{}, err
	}
	initialEventsEnd := m.GetAnnotations()[metav1.InitialEventsAnnotationKey] == "true"
	switch {
	case opts.IncludeObject == metav1.IncludeObject:
		// Kubernetes' conversion to the resource's version sets its kind.
		data, err := json.Marshal(prepared(item, shapeOf(item), e.Kind()))
		return runtime.RawExtension{Raw: data}, err
	case opts.IncludeObject == metav1.IncludeMetadata, initialEventsEnd, opts.IncludeObject == "":
		partial := meta.AsPartialObjectMetadata(m)
		partial.GetObjectKind().SetGroupVersionKind(gv.WithKind("PartialObjectMetadata"))
		return runtime.RawExtension{Object: partial}, nil
	case opts.IncludeObject == metav1.IncludeNone:
		return runtime.RawExtension{}, nil
	}
	return runtime.RawExtension{}, apierrors.NewBadRequest(fmt.Sprintf("unrecognized includeObject value: %q", opts.IncludeObject))
}

// asPartialObjectMetadata is handlers.asPartialObjectMetadata.
func asPartialObjectMetadata(s *shape, obj any, gv schema.GroupVersion) (any, error) {
	if s.list {
		return nil, notAcceptable("you requested PartialObjectMetadata, but the requested object is a list (%T)", obj)
	}
	if gv != metav1.SchemeGroupVersion && gv != metav1beta1.SchemeGroupVersion {
		return nil, notAcceptable("no PartialObjectMetadataList exists in group version %s", gv)
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	partial := meta.AsPartialObjectMetadata(m)
	partial.GetObjectKind().SetGroupVersionKind(gv.WithKind("PartialObjectMetadata"))
	return partial, nil
}

// asPartialObjectMetadataList is handlers.asPartialObjectMetadataList.
func asPartialObjectMetadataList(s *shape, obj any, gv schema.GroupVersion) (any, error) {
	li, ok := obj.(metav1.ListInterface)
	if !ok || !s.list {
		return nil, notAcceptable("you requested PartialObjectMetadataList, but the requested object is not a list (%T)", obj)
	}
	if gv != metav1.SchemeGroupVersion && gv != metav1beta1.SchemeGroupVersion {
		return nil, notAcceptable("no PartialObjectMetadataList exists in group version %s", gv)
	}
	gvk := gv.WithKind("PartialObjectMetadata")
	var items []metav1.PartialObjectMetadata
	err := s.eachItem(obj, func(item any) error {
		m, err := meta.Accessor(item)
		if err != nil {
			return err
		}
		partial := meta.AsPartialObjectMetadata(m)
		partial.GetObjectKind().SetGroupVersionKind(gvk)
		items = append(items, *partial)
		return nil
	})
	if err != nil {
		return nil, err
	}
	listMeta := metav1.ListMeta{ResourceVersion: li.GetResourceVersion(), Continue: li.GetContinue(), RemainingItemCount: li.GetRemainingItemCount()}
	kind := metav1.TypeMeta{Kind: "PartialObjectMetadataList", APIVersion: gv.String()}
	if gv == metav1beta1.SchemeGroupVersion {
		return &metav1beta1.PartialObjectMetadataList{TypeMeta: kind, ListMeta: listMeta, Items: items}, nil
	}
	return &metav1.PartialObjectMetadataList{TypeMeta: kind, ListMeta: listMeta, Items: items}, nil
}
