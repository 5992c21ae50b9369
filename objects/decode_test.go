package objects_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/warning"

	"github.com/aggauth/aggauth/discovery"
	"github.com/aggauth/aggauth/objects"
)

// warnings records what Decode warns about.
type warnings []string

func (w *warnings) AddWarning(_, text string) { *w = append(*w, text) }

func TestDecode(t *testing.T) {
	e := declaration(t).Endpoint(group, "v1", "widgets", "")
	const ok = `{"apiVersion":"demo.aggauth.io/v1","kind":"Widget","metadata":{"name":"a"},"spec":{"color":"blue","size":3}}`
	for _, tc := range []struct {
		name, method, query, contentType, accept, body string
		want                                           Widget // when wantCode is 0
		wantCode                                       int32
		wantMessage                                    string
		wantWarnings                                   []string
	}{
		{name: "JSON", body: ok, want: Widget{TypeMeta: metav1.TypeMeta{APIVersion: "demo.aggauth.io/v1", Kind: "Widget"},
			ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: WidgetSpec{Color: "blue", Size: 3}}},
		{name: "no Content-Type is JSON", contentType: "-", body: ok, want: Widget{TypeMeta: metav1.TypeMeta{APIVersion: "demo.aggauth.io/v1", Kind: "Widget"},
			ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: WidgetSpec{Color: "blue", Size: 3}}},
		{name: "YAML without kind", contentType: "application/yaml; charset=utf-8", body: "metadata:\n  name: a\nspec:\n  size: 4\n",
			want: Widget{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: WidgetSpec{Size: 4}}},
		{name: "unknown and duplicate fields warn", body: `{"metadata":{"name":"a"},"spec":{"size":1,"size":2,"shape":"round"}}`,
			want:         Widget{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: WidgetSpec{Size: 2}},
			wantWarnings: []string{`duplicate field "spec.size"`, `unknown field "spec.shape"`}},
		{name: "YAML duplicate keys warn", contentType: "application/yaml", body: "metadata:\n  name: a\n  name: b\n",
			want:         Widget{ObjectMeta: metav1.ObjectMeta{Name: "b"}},
			wantWarnings: []string{`line 3: key "name" already set in map`}},
		{name: "Ignore", query: "?fieldValidation=Ignore", body: `{"spec":{"shape":"round"}}`, want: Widget{}},
		{name: "Strict", query: "?fieldValidation=Strict", body: `{"spec":{"shape":"round"}}`, wantCode: 400,
			wantMessage: `Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.shape"`},
		{name: "bad fieldValidation", query: "?fieldValidation=Bogus", body: ok, wantCode: 422,
			wantMessage: `CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Bogus": supported values: "", "Ignore", "Strict", "Warn"`},
		{name: "bad dryRun on an update", method: "PUT", query: "?dryRun=Some", body: ok, wantCode: 422,
			wantMessage: `UpdateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: ["Some"]: supported values: "All"`},
		{name: "unsupported Content-Type", contentType: "text/plain", body: ok, wantCode: 415,
			wantMessage: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml"},
		{name: "a patch is not an object", contentType: "application/merge-patch+json", body: ok, wantCode: 415,
			wantMessage: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml"},
		{name: "protobuf", contentType: "application/vnd.kubernetes.protobuf", body: "k8s\x00", wantCode: 415,
			wantMessage: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml"},
		{name: "an answer that cannot be written", accept: "text/plain", body: ok, wantCode: 406,
			wantMessage: "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"},
		{name: "other apiVersion", body: `{"apiVersion":"demo.aggauth.io/v2","kind":"Widget"}`, wantCode: 400,
			wantMessage: "the API version in the data (demo.aggauth.io/v2) does not match the expected API version (demo.aggauth.io/v1)"},
		{name: "other group", body: `{"apiVersion":"v1","kind":"Widget"}`, wantCode: 400,
			wantMessage: "the API version in the data (v1) does not match the expected API version (demo.aggauth.io/v1)"},
		{name: "other kind", body: `{"kind":"Gadget"}`, wantCode: 400,
			wantMessage: `Gadget in version "v1" cannot be handled as a Widget: no kind "Gadget" is registered for version "demo.aggauth.io/v1"`},
		{name: "not JSON", body: `{"metadata":`, wantCode: 400,
			wantMessage: `the object provided is unrecognized (must be of type Widget): couldn't get version/kind; json parse error: unexpected end of JSON input ({"metadata":)`},
		{name: "not an object", body: `[1,2]`, wantCode: 400,
			wantMessage: `the object provided is unrecognized (must be of type Widget): couldn't get version/kind; json parse error: json: cannot unmarshal array into Go value of type struct { APIVersion string "json:\"apiVersion,omitempty\""; Kind string "json:\"kind,omitempty\"" } (5b312c325d)`},
		{name: "wrong type", body: `{"spec":{"size":"big"}}`, wantCode: 400,
			wantMessage: `Widget in version "v1" cannot be handled as a Widget: json: cannot unmarshal string into Go struct field WidgetSpec.spec.size of type int32`},
		{name: "empty", body: ``, wantCode: 400,
			wantMessage: `the object provided is unrecognized (must be of type Widget): couldn't get version/kind; json parse error: unexpected end of JSON input (<empty>)`},
		{name: "too large", body: `{"spec":{"color":"` + strings.Repeat("x", objects.DefaultMaxBodyBytes) + `"}}`, wantCode: 413,
			wantMessage: "Request entity too large: limit is 3145728"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, "/apis/demo.aggauth.io/v1/namespaces/ns/widgets"+tc.query, strings.NewReader(tc.body))
			switch tc.contentType {
			case "":
				r.Header.Set("Content-Type", "application/json")
			case "-":
			default:
				r.Header.Set("Content-Type", tc.contentType)
			}
			r.Header.Set("Accept", tc.accept)
			var warned warnings
			r = r.WithContext(warning.WithWarningRecorder(discovery.WithEndpoint(r.Context(), e), &warned))
			var got Widget
			err := objects.Decode(r, &got)
			if tc.wantCode == 0 {
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
				assert.Equal(t, tc.wantWarnings, []string(warned))
				return
			}
			var status apierrors.APIStatus
			require.ErrorAs(t, err, &status)
			assert.Equal(t, tc.wantCode, status.Status().Code, "code of %v", err)
			assert.Equal(t, tc.wantMessage, status.Status().Message)
		})
	}
}

// TestDecodeLimit: the limit is an option; a Content-Length beyond it is
// refused before the body is read, a body beyond it while reading.
func TestDecodeLimit(t *testing.T) {
	d := objects.Decoder{MaxBodyBytes: 16}
	for _, tc := range []struct {
		name          string
		body          string
		contentLength int64
		want          int32
	}{
		{"within", `{"kind":"Widget"}`[:16], 16, 400}, // cut JSON: decoded, then refused
		{"declared beyond", `{}`, 17, 413},
		{"read beyond", strings.Repeat(" ", 17) + "{}", -1, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			r.ContentLength = tc.contentLength
			var w Widget
			err := d.Decode(r, &w)
			var status apierrors.APIStatus
			require.ErrorAs(t, err, &status)
			assert.Equal(t, tc.want, status.Status().Code, "code of %v", err)
		})
	}
}
