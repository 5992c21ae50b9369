package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	sigsjson "sigs.k8s.io/json"
)

// The field validation a request asks for (?fieldValidation=), as
// kube-apiserver reads it: Strict refuses unknown fields, Warn and Ignore
// drop them (Warn also warns). kubectl sends Strict once the OpenAPI of the
// resource says its PATCH takes the parameter, which the discovery package
// declares.
const (
	validationStrict = "Strict"
	validationWarn   = "Warn"
	validationIgnore = "Ignore"
)

// strictFields reports whether r asks for Strict field validation; a value
// kube-apiserver would not accept is a 400.
func strictFields(r *http.Request) (bool, error) {
	switch v := r.URL.Query().Get("fieldValidation"); v {
	case "", validationIgnore, validationWarn:
		return false, nil
	case validationStrict:
		return true, nil
	default:
		return false, apierrors.NewBadRequest(fmt.Sprintf("fieldValidation: invalid value %q: must be one of Ignore, Warn, Strict", v))
	}
}

// unmarshalWidget decodes data into w; with strict, an unknown or duplicate
// field is kube-apiserver's 400 "strict decoding error".
func unmarshalWidget(data []byte, w *Widget, strict bool) error {
	if !strict {
		return json.Unmarshal(data, w)
	}
	strictErrs, err := sigsjson.UnmarshalStrict(data, w)
	if err != nil {
		return err
	}
	if len(strictErrs) > 0 {
		return apierrors.NewBadRequest("strict decoding error: " + errors.Join(strictErrs...).Error())
	}
	return nil
}

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
// to the Widget namespace/name and stores the result: only labels,
// annotations and spec may change; a patch that changes anything else of the
// metadata, the kind or the status is refused (400). Strategic merge patch
// and server-side apply are answered 415, as kube-apiserver answers them for
// a type it has no Go struct for.
//
// The patch is applied to a copy, outside the store's lock, and stored only if
// the Widget has not changed meanwhile; if it has, the patch is applied again,
// as kube-apiserver does: readers and other writers wait only for the commit.
func (s *Store) Patch(w http.ResponseWriter, r *http.Request, namespace, name string) (*Widget, error) {
	patch, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	strict, err := strictFields(r)
	if err != nil {
		return nil, err
	}
	apply, err := patcher(r.Header.Get("Content-Type"), patch)
	if err != nil {
		return nil, err
	}
	for {
		old, err := s.Get(namespace, name)
		if err != nil {
			return nil, err
		}
		patched, err := applyPatch(old, apply, strict)
		if err != nil {
			return nil, err
		}
		stored, err := s.update(namespace, name, old.ResourceVersion, patched)
		if !apierrors.IsConflict(err) {
			return stored, err
		}
	}
}

// applyPatch returns old patched by apply, or why the patch is refused.
func applyPatch(old *Widget, apply func([]byte) ([]byte, error), strict bool) (*Widget, error) {
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
	if err := unmarshalWidget(doc, &patched, strict); err != nil {
		return nil, err
	}
	if err := validatePatched(old, &patched); err != nil {
		return nil, err
	}
	return &patched, nil
}

// update stores the labels, annotations and spec of patched in the Widget
// namespace/name if its resourceVersion is still rv; the error is a Conflict
// if it is not, a NotFound if the Widget is gone.
func (s *Store) update(namespace, name, rv string, patched *Widget) (*Widget, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.widgets[namespace][name]
	if !ok {
		return nil, apierrors.NewNotFound(GroupResource, name)
	}
	if old.ResourceVersion != rv {
		return nil, apierrors.NewConflict(GroupResource, name, errors.New("the object has been modified"))
	}
	stored := old.DeepCopy()
	stored.Labels, stored.Annotations, stored.Spec = patched.Labels, patched.Annotations, patched.Spec
	s.rv++
	stored.ResourceVersion = strconv.FormatUint(s.rv, 10)
	s.widgets[namespace][name] = stored
	return stored.DeepCopy(), nil
}

// patcher returns the function that applies patch, by its content type.
func patcher(contentType string, patch []byte) (func([]byte) ([]byte, error), error) {
	mediaType, _, _ := mime.ParseMediaType(contentType)
	switch types.PatchType(mediaType) {
	case types.MergePatchType:
		return func(doc []byte) ([]byte, error) { return jsonpatch.MergePatch(doc, patch) }, nil
	case types.JSONPatchType:
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
	return nil, &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType, Reason: metav1.StatusReasonUnsupportedMediaType,
		Message: "the body of the request was in an unknown format - accepted media types include: " +
			string(types.JSONPatchType) + ", " + string(types.MergePatchType),
	}}
}

// validatePatched refuses a patch that changed what only the server sets.
func validatePatched(old, patched *Widget) error {
	switch {
	case patched.Name != old.Name, patched.Namespace != old.Namespace, patched.UID != old.UID,
		patched.GenerateName != old.GenerateName, patched.CreationTimestamp.Unix() != old.CreationTimestamp.Unix(): // JSON keeps seconds
		return apierrors.NewBadRequest("metadata other than labels and annotations cannot be changed")
	case patched.APIVersion != old.APIVersion, patched.Kind != old.Kind:
		return apierrors.NewBadRequest("apiVersion and kind cannot be changed")
	case !equalStatus(patched.Status, old.Status):
		return apierrors.NewBadRequest("status cannot be changed")
	}
	return nil
}

func equalStatus(a, b WidgetStatus) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
