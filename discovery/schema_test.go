package discovery_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/aggauth/aggauth/discovery"
)

type scalars struct {
	S   string               `json:"s"`
	B   bool                 `json:"b,omitempty"`
	I   int                  `json:"i,omitzero"`
	I32 int32                `json:"i32,omitempty"`
	U8  uint8                `json:"u8,omitempty"`
	F   float64              `json:"f,omitempty"`
	F32 float32              `json:"f32,omitempty"`
	P   *string              `json:"p,omitempty"`
	UID types.UID            `json:"uid,omitempty"`
	Raw []byte               `json:"raw,omitempty"`
	M   map[string]int64     `json:"m,omitempty"`
	L   []string             `json:"l,omitempty"`
	A   [2]bool              `json:"a,omitempty"`
	Any any                  `json:"any,omitempty"`
	J   json.RawMessage      `json:"j,omitempty"`
	X   runtime.RawExtension `json:"x,omitempty"`

	NoTag   string
	Skipped string `json:"-"`
	//lint:ignore U1000 an unexported field must be left out
	private string
}

type special struct {
	T   metav1.Time        `json:"t,omitempty"`
	MT  *metav1.MicroTime  `json:"mt,omitempty"`
	GoT time.Time          `json:"goT,omitempty"`
	D   metav1.Duration    `json:"d,omitempty"`
	Q   resource.Quantity  `json:"q,omitempty"`
	IOS intstr.IntOrString `json:"ios,omitempty"`
}

type inner struct {
	Name string `json:"name"`
}

type embedded struct {
	inner
	Outer string   `json:"outer,omitempty"`
	Named inner    `json:"named,omitempty"`
	Ptrs  []*inner `json:"ptrs,omitempty"`
}

type withMeta struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	List              metav1.ListMeta `json:"list,omitempty"`
}

type recursive struct {
	Children []recursive `json:"children,omitempty"`
}

func TestSchemaOf(t *testing.T) {
	typeMeta := metav1.TypeMeta{}.SwaggerDoc()
	userInfo := authenticationv1.UserInfo{}.SwaggerDoc()
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"scalars", &scalars{}, `{"type":"object","required":["s","NoTag"],"properties":{
			"s":{"type":"string"},"b":{"type":"boolean"},"i":{"type":"integer","format":"int64"},
			"i32":{"type":"integer","format":"int32"},"u8":{"type":"integer","format":"int32"},
			"f":{"type":"number","format":"double"},"f32":{"type":"number","format":"float"},
			"p":{"type":"string"},"uid":{"type":"string"},"raw":{"type":"string","format":"byte"},
			"m":{"type":"object","additionalProperties":{"type":"integer","format":"int64"}},
			"l":{"type":"array","items":{"type":"string"}},"a":{"type":"array","items":{"type":"boolean"}},
			"any":{"x-kubernetes-preserve-unknown-fields":true},
			"j":{"type":"object","x-kubernetes-preserve-unknown-fields":true},
			"x":{"type":"object","x-kubernetes-preserve-unknown-fields":true},
			"NoTag":{"type":"string"}}}`},
		{"special", special{}, `{"type":"object","properties":{
			"t":{"type":"string","format":"date-time"},"mt":{"type":"string","format":"date-time"},
			"goT":{"type":"string","format":"date-time"},"d":{"type":"string"},
			"q":{"type":"string"},"ios":{"type":"string","format":"int-or-string"}}}`},
		{"embedded", embedded{}, `{"type":"object","required":["name"],"properties":{
			"name":{"type":"string"},"outer":{"type":"string"},
			"named":{"type":"object","required":["name"],"properties":{"name":{"type":"string"}}},
			"ptrs":{"type":"array","items":{"type":"object","required":["name"],"properties":{"name":{"type":"string"}}}}}}`},
		{"metadata", withMeta{}, `{"type":"object","properties":{
			"apiVersion":{"type":"string","description":` + quote(typeMeta["apiVersion"]) + `},
			"kind":{"type":"string","description":` + quote(typeMeta["kind"]) + `},
			"metadata":{"$ref":"#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
			"list":{"$ref":"#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"}}}`},
		{"documented", Widget{}, `{"type":"object","description":"Widget is the demo object.","properties":{
			"apiVersion":{"type":"string","description":` + quote(typeMeta["apiVersion"]) + `},
			"kind":{"type":"string","description":` + quote(typeMeta["kind"]) + `},
			"metadata":{"$ref":"#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
			"spec":{"type":"object","description":"Spec is any JSON object; the server keeps it as sent.","x-kubernetes-preserve-unknown-fields":true},
			"status":{"type":"object","description":"Status is set by the server.","required":["createdBy"],"properties":{
				"createdBy":{"type":"object","description":` + quote(userInfo[""]) + `,"properties":{
					"username":{"type":"string","description":` + quote(userInfo["username"]) + `},
					"uid":{"type":"string","description":` + quote(userInfo["uid"]) + `},
					"groups":{"type":"array","description":` + quote(userInfo["groups"]) + `,"items":{"type":"string"}},
					"extra":{"type":"object","description":` + quote(userInfo["extra"]) + `,"additionalProperties":{"type":"array","items":{"type":"string"}}}}},
				"size":{"type":"integer","format":"int32"}}}}}`},
		{"an ObjectMeta itself is built", metav1.ObjectMeta{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := discovery.SchemaOf(tc.v)
			require.NoError(t, err)
			got, err := json.Marshal(s)
			require.NoError(t, err)
			if tc.want == "" {
				assert.Equal(t, spec.StringOrArray{"array"}, s.Properties["ownerReferences"].Type)
				assert.Equal(t, "date-time", s.Properties["creationTimestamp"].Format)
				assert.Equal(t, metav1.ObjectMeta{}.SwaggerDoc()["name"], s.Properties["name"].Description)
				return
			}
			assert.JSONEq(t, tc.want, string(got))
		})
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestSchemaOfErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"nil", nil, "SchemaOf(nil)"},
		{"recursive", recursive{}, "recursive"},
		{"channel", struct {
			C chan int `json:"c"`
		}{}, "has no OpenAPI schema"},
		{"int map keys", map[int]string{}, "map key int is not a string"},
		{"func", func() {}, "has no OpenAPI schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := discovery.SchemaOf(tc.v)
			assert.Nil(t, s)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

// TestSchemaFromJSON checks the other way to give a schema: as JSON.
func TestSchemaFromJSON(t *testing.T) {
	var s spec.Schema
	require.NoError(t, json.Unmarshal([]byte(`{"type":"object","properties":{"spec":{"type":"object","properties":{"size":{"type":"integer"}}}}}`), &s))
	g := demoGroup(t)
	g.Versions[0].Resources[0].Schema = &s
	d := mustNew(t, g)
	w := get(d.Handler(nil), "GET", "/openapi/v2")
	var doc spec.Swagger
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &doc))
	widget := doc.Definitions["io.aggauth.demo.v1.Widget"]
	assert.Contains(t, widget.Properties["spec"].Properties, "size")
	assert.Contains(t, widget.Properties, "metadata")
}
