package discovery_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/discovery"
)

func Example() {
	type GizmoSpec struct {
		Size  int32             `json:"size"`
		Tags  map[string]string `json:"tags,omitempty"`
		Owner string            `json:"owner,omitempty"`
	}
	type Gizmo struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata,omitempty"`
		Spec              GizmoSpec `json:"spec"`
	}
	schema, err := discovery.SchemaOf(&Gizmo{})
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := discovery.New(discovery.Group{
		Name: "demo.aggauth.io",
		Versions: []discovery.Version{{Name: "v1", Resources: []discovery.Resource{{
			Plural: "gizmos", Kind: "Gizmo", Namespaced: true,
			Verbs:  metav1.Verbs{"get", "list", "create", "delete"},
			Schema: schema,
		}}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// In a server, d.Handler goes after authentication and authorization, in
	// front of the handler that serves the gizmos.
	h := d.Handler(http.NotFoundHandler())

	for _, req := range []struct{ path, accept string }{
		{"/apis/demo.aggauth.io/v1", ""},
		{"/apis", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"},
		{"/apis/other.example.com", ""},
	} {
		r := httptest.NewRequest(http.MethodGet, req.path, nil)
		r.Header.Set("Accept", req.accept)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(req.path, w.Code, w.Header().Get("Content-Type"))
		if w.Code != http.StatusOK || req.accept == "" {
			fmt.Print(w.Body.String())
		}
	}
	// Output:
	// /apis/demo.aggauth.io/v1 200 application/json
	// {"kind":"APIResourceList","apiVersion":"v1","groupVersion":"demo.aggauth.io/v1","resources":[{"name":"gizmos","singularName":"gizmo","namespaced":true,"kind":"Gizmo","verbs":["create","delete","get","list"]}]}
	// /apis 200 application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList
	// /apis/other.example.com 404 application/json
	// {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}
}

func ExampleSchemaOf() {
	type Spec struct {
		Replicas *int32   `json:"replicas,omitempty"`
		Image    string   `json:"image"`
		Args     []string `json:"args,omitempty"`
	}
	s, err := discovery.SchemaOf(Spec{})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, _ := json.Marshal(s)
	fmt.Println(string(out))
	// Output:
	// {"type":"object","required":["image"],"properties":{"args":{"type":"array","items":{"type":"string"}},"image":{"type":"string"},"replicas":{"type":"integer","format":"int32"}}}
}
