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

// Patch applies the body of r, a JSON merge patch or a JSON patch (RFC 6902),
// to the Widget namespace/name and stores the result: only labels,
// annotations and spec may change; a patch that changes anything else of the
// metadata, the kind or the status is refused (422). Strategic merge patch
// and server-side apply are answered 415, as kube-apiserver answers them for
// a type it has no Go struct for.
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
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.widgets[namespace][name]
	if !ok {
		return nil, apierrors.NewNotFound(GroupResource, name)
	}
	doc, err := json.Marshal(old)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if doc, err = apply(doc); err != nil {
		return nil, apierrors.NewBadRequest("the patch does not apply: " + err.Error())
	}
	var patched Widget
	if err := unmarshalWidget(doc, &patched, strict); err != nil {
		return nil, err
	}
	if err := validatePatched(old, &patched); err != nil {
		return nil, err
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
		return p.Apply, nil
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
