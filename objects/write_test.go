package objects_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"github.com/aggauth/aggauth/internal/testutil"
	"github.com/aggauth/aggauth/objects"
)

// writer serves obj with Write, behind the chain's RequestInfo and
// discovery's Handler when d is not nil.
func writer(t *testing.T, withDiscovery bool, code int, obj func() any) http.Handler {
	h := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { objects.Write(w, r, code, obj()) }))
	if withDiscovery {
		h = declaration(t).Handler(h)
	}
	return withInfo(t, h)
}

// TestWriteIssue23 checks what kubectl and the controllers failed on
// (issue 23), one by one.
func TestWriteIssue23(t *testing.T) {
	list := func() any {
		return &WidgetList{ListMeta: metav1.ListMeta{ResourceVersion: "10"}, Items: []Widget{widget("a", "blue", 3)}}
	}
	h := writer(t, true, http.StatusOK, list)
	const path = "/apis/demo.aggauth.io/v1/namespaces/ns/widgets"

	t.Run("kubectl get: a Table with the declared columns", func(t *testing.T) {
		w := serve(h, "GET", path, "Accept", kubectlGet)
		require.Equal(t, http.StatusOK, w.Code)
		var table metav1.Table
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &table))
		assert.Equal(t, "meta.k8s.io/v1", table.APIVersion)
		assert.Equal(t, []string{"Name", "Color", "Size", "Age"}, []string{
			table.ColumnDefinitions[0].Name, table.ColumnDefinitions[1].Name, table.ColumnDefinitions[2].Name, table.ColumnDefinitions[3].Name})
		assert.Equal(t, []any{"a", "blue", float64(3), "26h"}, table.Rows[0].Cells)
		assert.Equal(t, "10", table.ResourceVersion)
	})
	t.Run("metadata informers: a PartialObjectMetadataList in protobuf", func(t *testing.T) {
		w := serve(h, "GET", path, "Accept", metadataList)
		require.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, "application/vnd.kubernetes.protobuf", w.Header().Get("Content-Type"))
		var l metav1.PartialObjectMetadataList
		_, _, err := protobuf.NewSerializer(metainternalversionscheme.Scheme, metainternalversionscheme.Scheme).Decode(w.Body.Bytes(), nil, &l)
		require.NoError(t, err)
		require.Len(t, l.Items, 1)
		assert.Equal(t, "a", l.Items[0].Name)
		assert.Equal(t, map[string]string{"app": "demo"}, l.Items[0].Labels)
		assert.Equal(t, "10", l.ResourceVersion)
	})
	t.Run("a widget has no protobuf form", func(t *testing.T) {
		w := serve(h, "GET", path, "Accept", "application/vnd.kubernetes.protobuf,application/json")
		assert.Equal(t, "application/json", w.Header().Get("Content-Type"), "widgets have no protobuf: the JSON alternative")
	})
	t.Run("text/plain: 406", func(t *testing.T) {
		w := serve(h, "GET", path, "Accept", "text/plain")
		status := testutil.RecordedStatus(t, w)
		assert.Equal(t, metav1.StatusReasonNotAcceptable, status.Reason)
		assert.Equal(t, "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf", status.Message)
	})
	t.Run("the kind comes from the declaration", func(t *testing.T) {
		w := serve(h, "GET", path)
		assert.True(t, strings.HasPrefix(w.Body.String(), `{"kind":"WidgetList","apiVersion":"demo.aggauth.io/v1",`), w.Body.String())
	})
}

// TestWriteWithoutEndpoint: without discovery's Handler, no Table is
// offered and the object is written as given.
func TestWriteWithoutEndpoint(t *testing.T) {
	h := writer(t, false, http.StatusOK, func() any { w := widget("a", "blue", 3); return &w })
	w := serve(h, "GET", "/apis/demo.aggauth.io/v1/namespaces/ns/widgets/a", "Accept", kubectlGet)
	require.Equal(t, http.StatusOK, w.Code)
	assert.True(t, strings.HasPrefix(w.Body.String(), `{"metadata":{"name":"a",`), w.Body.String())
	w = serve(h, "GET", "/apis/demo.aggauth.io/v1/namespaces/ns/widgets/a", "Accept", tableV1)
	assert.Equal(t, http.StatusNotAcceptable, w.Code)
}

func TestWriteValues(t *testing.T) {
	for _, tc := range []struct {
		name, accept string
		code         int
		obj          any
		wantCode     int
		wantBody     string
	}{
		{"created", "", http.StatusCreated, &Widget{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, 201,
			`{"kind":"Widget","apiVersion":"demo.aggauth.io/v1","metadata":{"name":"a"}}` + "\n"},
		{"the kind given is kept", "", 200, &Widget{TypeMeta: metav1.TypeMeta{Kind: "Other", APIVersion: "x/v9"}}, 200,
			`{"kind":"Other","apiVersion":"x/v9","metadata":{}}` + "\n"},
		{"a Status", "", http.StatusOK, &metav1.Status{Status: metav1.StatusSuccess}, 200,
			`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success"}` + "\n"},
		{"a map", "", 200, map[string]int{"a": 1}, 200, `{"a":1}` + "\n"},
		{"a map has no metadata", metadataObject, 200, map[string]int{"a": 1}, 500, ""},
		{"nil", "", 200, nil, 500, ""},
		{"a nil widget", "", 200, (*Widget)(nil), 500, ""},
		{"an error code keeps its code when nothing is acceptable", "text/plain", 409, &metav1.Status{Code: 409}, 409,
			"{\n  \"metadata\": {},\n  \"code\": 409\n}"},
		{"a value JSON cannot encode", "", 200, map[string]any{"f": func() {}}, 500, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := writer(t, true, tc.code, func() any { return tc.obj })
			w := serve(h, "GET", "/apis/demo.aggauth.io/v1/namespaces/ns/widgets/a", "Accept", tc.accept)
			require.Equal(t, tc.wantCode, w.Code, w.Body.String())
			if tc.wantCode == 500 {
				testutil.RecordedStatus(t, w)
				return
			}
			assert.Equal(t, tc.wantBody, w.Body.String())
			assert.Equal(t, "no-cache, private", w.Header().Get("Cache-Control"))
			assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
		})
	}
}

// TestWriteHostileAccept: an Accept header of 10,000 alternatives costs
// what one of MaxClauses costs; the first alternatives still count.
func TestWriteHostileAccept(t *testing.T) {
	h := writer(t, true, http.StatusOK, func() any { w := widget("a", "blue", 3); return &w })
	header := func(n int) string {
		return strings.Repeat("application/x-nothing;as=Table;g=meta.k8s.io;v=v1;q=0.9,", n) + "application/yaml"
	}
	cost := func(n int) float64 {
		r := httptest.NewRequest("GET", "/apis/demo.aggauth.io/v1/namespaces/ns/widgets/a", nil)
		r.Header.Set("Accept", header(n))
		return testing.AllocsPerRun(5, func() { h.ServeHTTP(httptest.NewRecorder(), r) })
	}
	assert.Less(t, cost(10_000), 1.2*cost(100), "allocations of 10,000 alternatives against 100")

	w := serve(h, "GET", "/apis/demo.aggauth.io/v1/namespaces/ns/widgets/a", "Accept", header(10))
	assert.Equal(t, "application/yaml", w.Header().Get("Content-Type"))
	w = serve(h, "GET", "/apis/demo.aggauth.io/v1/namespaces/ns/widgets/a", "Accept", header(10_000))
	assert.Equal(t, http.StatusNotAcceptable, w.Code, "got %d; want 406: the YAML alternative is beyond the clauses read", w.Code)
}
