package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/warning"
	sigsjson "sigs.k8s.io/json"
)

// Kubernetes' limits on a JSON patch: what its copy operations may add (3
// MiB, JSONPatchMaxCopyBytes in k8s.io/apiserver pkg/server/config.go) and how
// many operations it may have (maxJSONPatchOperations in
// pkg/endpoints/handlers/patch.go). Without them a patch of 1 kB that copies
// the document into itself 20 times would allocate gigabytes.
const (
	maxJSONPatchCopyBytes  = 3 << 20
	maxJSONPatchOperations = 10000
)

// json-patch v4 reads the copy limit from a package variable; kube-apiserver
// sets it the same way when its server is built (a lower limit set before
// stays).
func init() {
	if l := jsonpatch.AccumulatedCopySizeLimit; l <= 0 || l > maxJSONPatchCopyBytes {
		jsonpatch.AccumulatedCopySizeLimit = maxJSONPatchCopyBytes
	}
}

// Patch applies the body of r, a JSON merge patch or a JSON patch (RFC 6902),
// to the Widget namespace/name and stores the result as an update does
// (update: server-owned fields are kept, the metadata is validated, a
// patch that removes the last finalizer of a widget being deleted deletes
// it); a patch that sets metadata.resourceVersion is applied only to that
// version, else a Conflict. The patch options are read and checked as
// kube-apiserver does (422 for a bad fieldValidation, fieldManager or
// dryRun); fields the Widget does not have are refused with Strict field
// validation (400), dropped with a warning with Warn (the default), or
// dropped with Ignore.
//
// A strategic merge patch is answered 415, as kube-apiserver answers it for
// a CustomResourceDefinition: it needs a Go type's patch strategy, which
// kube-apiserver has only for its built-in types. Server-side apply
// (application/apply-patch+yaml), which kube-apiserver serves for every
// type, CustomResourceDefinitions included, is not implemented here: its 415
// names the two patch types accepted, as kube-apiserver's names its own.
//
// The patch is applied to a copy, outside the store's lock, and stored only if
// the Widget has not changed meanwhile; if it has, the patch is applied again,
// as kube-apiserver does: readers and other writers wait only for the commit.
func (s *Store) Patch(w http.ResponseWriter, r *http.Request, namespace, name string) (*Widget, error) {
	contentType, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	patchType := types.PatchType(strings.TrimSpace(contentType))
	if patchType != types.JSONPatchType && patchType != types.MergePatchType {
		return nil, &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType, Reason: metav1.StatusReasonUnsupportedMediaType,
			Message: "the body of the request was in an unknown format - accepted media types include: " +
				string(types.JSONPatchType) + ", " + string(types.MergePatchType),
		}}
	}
	patch, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	opts := &metav1.PatchOptions{}
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, opts); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if errs := metav1validation.ValidatePatchOptions(opts, patchType); len(errs) > 0 {
		return nil, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "PatchOptions"}, "", errs)
	}
	apply, err := patcher(patchType, patch)
	if err != nil {
		return nil, err
	}
	for {
		old, err := s.Get(namespace, name)
		if err != nil {
			return nil, err
		}
		patched, err := applyPatch(r.Context(), old, apply, opts.FieldValidation)
		if err != nil {
			return nil, err
		}
		if err := checkName(patched, namespace, name); err != nil {
			return nil, err
		}
		stored, err := s.update(old, patched)
		if !apierrors.IsConflict(err) || patched.ResourceVersion != old.ResourceVersion {
			return stored, err // a conflict with the patch's own resourceVersion is the client's
		}
	}
}

// applyPatch returns old patched by apply, decoded with the field
// validation asked for, or why the patch is refused.
func applyPatch(ctx context.Context, old *Widget, apply func([]byte) ([]byte, error), fieldValidation string) (*Widget, error) {
	doc, err := json.Marshal(old)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if doc, err = apply(doc); err != nil {
		if _, ok := err.(apierrors.APIStatus); ok {
			return nil, err
		}
		return nil, apierrors.NewBadRequest("the patch does not apply: " + err.Error())
	}
	var patched Widget
	unknown, err := sigsjson.UnmarshalStrict(doc, &patched)
	if err != nil {
		return nil, apierrors.NewBadRequest("the patched widget is not a Widget: " + err.Error())
	}
	if patched.APIVersion != GroupVersion || patched.Kind != Kind {
		return nil, apierrors.NewBadRequest("apiVersion and kind cannot be changed")
	}
	switch {
	case len(unknown) == 0, fieldValidation == metav1.FieldValidationIgnore:
	case fieldValidation == metav1.FieldValidationStrict:
		return nil, apierrors.NewBadRequest("strict decoding error: " + errors.Join(unknown...).Error())
	default: // Warn
		for _, e := range unknown {
			warning.AddWarning(ctx, "", e.Error())
		}
	}
	return &patched, nil
}

// patcher returns the function that applies patch, of a type Patch accepts.
func patcher(patchType types.PatchType, patch []byte) (func([]byte) ([]byte, error), error) {
	if patchType == types.MergePatchType {
		return func(doc []byte) ([]byte, error) { return jsonpatch.MergePatch(doc, patch) }, nil
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, apierrors.NewBadRequest("the body is not a JSON patch: " + err.Error())
	}
	if len(p) > maxJSONPatchOperations {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf(
			"The allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOperations, len(p)))
	}
	return func(doc []byte) ([]byte, error) {
		doc, err := p.Apply(doc)
		if err != nil { // kube-apiserver's answer, which leaves out why (the copy limit, a failed test...)
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
		}
		return doc, nil
	}, nil
}
