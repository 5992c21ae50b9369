package objects

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	jsonserializer "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/warning"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/aggauth/aggauth/discovery"
	"github.com/aggauth/aggauth/internal/negotiation"
	"github.com/aggauth/aggauth/pipeline"
)

// DefaultMaxBodyBytes is kube-apiserver's limit of a request body
// (MaxRequestBodyBytes, 3 MiB).
const DefaultMaxBodyBytes = 3 << 20

// Decoder reads objects from request bodies. The zero value is ready to use.
type Decoder struct {
	// MaxBodyBytes bounds a body: beyond it, Decode answers 413. Default
	// (0): the limit the server set for the request's body (behind a
	// serving.Server, its --max-request-body-bytes, read from
	// pipeline.State.MaxBodyBytes; none when the server sets none), else
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// Decode reads the body of a create (POST) or update (PUT) into obj with the
// checks kube-apiserver's create and update handlers make, in their order,
// and returns the Status error to answer with WriteError when one fails:
//
//   - 406 NotAcceptable when no answer of obj's type can be written in a form
//     the Accept header accepts (before the body is read, so that nothing is
//     created that cannot be answered);
//   - 415 UnsupportedMediaType for a Content-Type other than JSON, YAML (or
//     protobuf for a type with generated protobuf methods);
//   - 413 RequestEntityTooLarge beyond MaxBodyBytes;
//   - 422 Invalid for a bad ?fieldValidation=, ?dryRun= or ?fieldManager=;
//   - 400 BadRequest for a body that is not obj's JSON or YAML, whose
//     apiVersion is not the endpoint's, or, with ?fieldValidation=Strict,
//     that has unknown or duplicate fields. With Warn (the default) those
//     become warnings (k8s.io/apiserver/pkg/warning), with Ignore nothing.
//
// A body without apiVersion or kind gets the endpoint's, as in Kubernetes.
// obj is a pointer to a struct (or a runtime.Unstructured).
func Decode(r *http.Request, obj any) error { return Decoder{}.Decode(r, obj) }

// Decode is the package's Decode with d's limits.
func (d Decoder) Decode(r *http.Request, obj any) error {
	e, _ := discovery.EndpointFrom(r.Context())
	s := shapeOf(obj)
	if _, _, ok := negotiation.Output(r, infos, restrictions{protobuf: s.protobuf, table: e != nil}); !ok {
		return &apierrors.StatusError{ErrStatus: *negotiation.NotAcceptable(negotiation.MediaTypes(infos))}
	}
	decodable := infos[:protobufIndex] // protobuf bodies are not decoded (yet)
	index, ok := negotiation.Input(r.Header.Get("Content-Type"), decodable)
	if !ok {
		return &apierrors.StatusError{ErrStatus: *negotiation.UnsupportedMediaType(negotiation.MediaTypes(decodable))}
	}
	body, err := readBody(r, d.limit(r))
	if err != nil {
		return err
	}
	directive, err := fieldValidation(r)
	if err != nil {
		return err
	}
	return decodeBody(r, e, body, index == yamlIndex, directive, obj)
}

func cmpOr(v, def int64) int64 {
	if v <= 0 {
		return def
	}
	return v
}

// limit returns the bound of r's body: d's, the server's, or the default; 0
// for none.
func (d Decoder) limit(r *http.Request) int64 {
	if d.MaxBodyBytes > 0 {
		return d.MaxBodyBytes
	}
	if s, ok := pipeline.From(r.Context()); ok && s.MaxBodyBytes != 0 {
		return max(s.MaxBodyBytes, 0)
	}
	return DefaultMaxBodyBytes
}

// readBody is handlers.limitedReadBody: at most limit bytes, else 413 (no
// bound when limit is 0).
func readBody(r *http.Request, limit int64) ([]byte, error) {
	defer r.Body.Close()
	if limit <= 0 {
		return io.ReadAll(r.Body)
	}
	tooLarge := apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", limit))
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	lr := &io.LimitedReader{R: r.Body, N: limit + 1}
	data, err := io.ReadAll(lr)
	if err != nil {
		return nil, err
	}
	if lr.N <= 0 {
		return nil, tooLarge
	}
	return data, nil
}

// fieldValidation reads the create or update options kube-apiserver reads
// and checks, and returns the field validation directive (Warn when unset).
func fieldValidation(r *http.Request) (string, error) {
	var errs field.ErrorList
	var directive, kind string
	if r.Method == http.MethodPut {
		opts := &metav1.UpdateOptions{}
		if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, opts); err != nil {
			return "", apierrors.NewBadRequest(err.Error())
		}
		errs, directive, kind = validation.ValidateUpdateOptions(opts), opts.FieldValidation, "UpdateOptions"
	} else {
		opts := &metav1.CreateOptions{}
		if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, opts); err != nil {
			return "", apierrors.NewBadRequest(err.Error())
		}
		errs, directive, kind = validation.ValidateCreateOptions(opts), opts.FieldValidation, "CreateOptions"
	}
	if len(errs) > 0 {
		return "", apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: kind}, "", errs)
	}
	if directive == "" {
		directive = metav1.FieldValidationWarn
	}
	return directive, nil
}

// decodeBody is the JSON (or YAML) serializer's Decode of a type the scheme
// does not know, and the create handler's checks of what it decoded.
func decodeBody(r *http.Request, e *discovery.Endpoint, body []byte, isYAML bool, directive string, obj any) error {
	want := expectedKind(e, obj)
	data := body
	if isYAML {
		var err error
		if data, err = yaml.YAMLToJSON(body); err != nil {
			return unrecognized(want, err, body)
		}
	}
	actual, err := jsonserializer.DefaultMetaFactory.Interpret(data)
	if err != nil {
		return unrecognized(want, err, body)
	}
	got := withDefaults(*actual, want)
	if e != nil && got.GroupVersion() != want.GroupVersion() {
		return apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%v)", got.GroupVersion(), want.GroupVersion()))
	}
	if e != nil && got.Kind != want.Kind {
		return cannotHandle(got, want, fmt.Errorf("no kind %q is registered for version %q", got.Kind, got.GroupVersion()))
	}
	strict := directive != metav1.FieldValidationIgnore
	var strictErrs []error
	if !strict {
		err = kjson.UnmarshalCaseSensitivePreserveInts(data, obj)
	} else {
		if isYAML {
			if _, err := yaml.YAMLToJSONStrict(body); err != nil {
				strictErrs = append(strictErrs, err)
			}
		}
		var jsonErrs []error
		jsonErrs, err = kjson.UnmarshalStrict(data, obj)
		strictErrs = append(strictErrs, jsonErrs...)
	}
	if err != nil {
		return cannotHandle(got, want, err)
	}
	if len(strictErrs) == 0 {
		return nil
	}
	if directive == metav1.FieldValidationStrict {
		return cannotHandle(got, want, runtime.NewStrictDecodingError(strictErrs))
	}
	for _, e := range strictErrs {
		for _, w := range yamlWarnings(e.Error()) {
			warning.AddWarning(r.Context(), "", w)
		}
	}
	return nil
}

// expectedKind is the kind a body must have: the endpoint's, or, without
// one, just the name of obj's type for the messages.
func expectedKind(e *discovery.Endpoint, obj any) schema.GroupVersionKind {
	if e != nil {
		return e.Kind()
	}
	t := reflect.TypeOf(obj)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return schema.GroupVersionKind{}
	}
	return schema.GroupVersionKind{Kind: t.Name()}
}

// withDefaults is the JSON serializer's gvkWithDefaults.
func withDefaults(actual, def schema.GroupVersionKind) schema.GroupVersionKind {
	if actual.Kind == "" {
		actual.Kind = def.Kind
	}
	if actual.Version == "" && actual.Group == "" {
		actual.Group, actual.Version = def.Group, def.Version
	}
	if actual.Version == "" && actual.Group == def.Group {
		actual.Version = def.Version
	}
	return actual
}

// cannotHandle is handlers.transformDecodeError with the body's kind.
func cannotHandle(got, want schema.GroupVersionKind, err error) error {
	return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", got.Kind, got.Version, want.Kind, err))
}

// unrecognized is handlers.transformDecodeError without a kind.
func unrecognized(want schema.GroupVersionKind, err error, body []byte) error {
	return apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized (must be of type %s): %v (%s)", want.Kind, err, summarizeData(body, 30)))
}

// summarizeData is handlers.summarizeData.
func summarizeData(data []byte, maxLength int) string {
	switch {
	case len(data) == 0:
		return "<empty>"
	case data[0] == '{':
		if len(data) > maxLength {
			return string(data[:maxLength]) + " ..."
		}
		return string(data)
	default:
		if len(data) > maxLength {
			return hex.EncodeToString(data[:maxLength]) + " ..."
		}
		return hex.EncodeToString(data)
	}
}

// yamlWarnings is handlers.parseYAMLWarnings: a YAML strict decoding error
// is one warning a line.
func yamlWarnings(err string) []string {
	const short, long = "yaml: unmarshal errors:\n", "error converting YAML to JSON: yaml: unmarshal errors:\n"
	trimmed, ok := strings.CutPrefix(err, short)
	if !ok {
		if trimmed, ok = strings.CutPrefix(err, long); !ok {
			return []string{err}
		}
	}
	lines := strings.Split(trimmed, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return lines
}
