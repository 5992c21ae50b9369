package objects_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/discovery"
	"github.com/aggauth/aggauth/objects"
	"github.com/aggauth/aggauth/requestinfo"
)

type Gadget struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              GadgetSpec `json:"spec"`
}

type GadgetSpec struct {
	Color string `json:"color"`
}

type GadgetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Gadget `json:"items"`
}

// gadgets declares the API: gadgets with a Color column.
func gadgets() *discovery.Discovery {
	d, err := discovery.New(discovery.Group{Name: "demo.aggauth.io", Versions: []discovery.Version{{Name: "v1", Resources: []discovery.Resource{{
		Plural: "gadgets", Kind: "Gadget", Namespaced: true,
		Verbs:   metav1.Verbs{"get", "list", "watch", "create"},
		Columns: []discovery.Column{{Name: "Color", Type: "string", JSONPath: ".spec.color"}},
	}}}}})
	if err != nil {
		panic(err)
	}
	return d
}

// chain stands for aggauth's chain: it puts Kubernetes' RequestInfo in the
// context, which discovery's Handler reads.
func chain(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, err := requestinfo.New(r)
		if err != nil {
			panic(err)
		}
		next.ServeHTTP(w, r.WithContext(request.WithRequestInfo(r.Context(), info)))
	})
}

func ExampleWrite() {
	list := &GadgetList{Items: []Gadget{{ObjectMeta: metav1.ObjectMeta{Name: "g1", Namespace: "ns"}, Spec: GadgetSpec{Color: "blue"}}}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /apis/demo.aggauth.io/v1/namespaces/{ns}/gadgets", func(w http.ResponseWriter, r *http.Request) {
		objects.Write(w, r, http.StatusOK, list)
	})
	h := chain(gadgets().Handler(mux))
	get := func(accept string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/apis/demo.aggauth.io/v1/namespaces/ns/gadgets", nil)
		r.Header.Set("Accept", accept)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	w := get("application/json") // client-go
	fmt.Print(w.Code, " ", w.Body.String())

	var table metav1.Table
	w = get("application/json;as=Table;v=v1;g=meta.k8s.io,application/json") // kubectl get
	_ = json.Unmarshal(w.Body.Bytes(), &table)
	fmt.Println(w.Code, table.Kind, table.ColumnDefinitions[0].Name, table.ColumnDefinitions[1].Name, table.Rows[0].Cells)

	var status metav1.Status
	w = get("text/plain")
	_ = json.Unmarshal(w.Body.Bytes(), &status)
	fmt.Println(w.Code, status.Reason, status.Message)
	// Output:
	// 200 {"kind":"GadgetList","apiVersion":"demo.aggauth.io/v1","metadata":{},"items":[{"metadata":{"name":"g1","namespace":"ns"},"spec":{"color":"blue"}}]}
	// 200 Table Name Color [g1 blue]
	// 406 NotAcceptable only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf
}

func ExampleDecode() {
	e := gadgets().Endpoint("demo.aggauth.io", "v1", "gadgets", "")
	for _, body := range []struct{ contentType, body string }{
		{"application/yaml", "metadata:\n  name: g2\nspec:\n  color: red\n"},
		{"application/json", `{"apiVersion":"demo.aggauth.io/v2","kind":"Gadget"}`},
		{"text/plain", "g3"},
	} {
		r := httptest.NewRequest("POST", "/apis/demo.aggauth.io/v1/namespaces/ns/gadgets", strings.NewReader(body.body))
		r.Header.Set("Content-Type", body.contentType)
		r = r.WithContext(discovery.WithEndpoint(r.Context(), e)) // as discovery's Handler does
		var g Gadget
		if err := objects.Decode(r, &g); err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(g.Name, g.Spec.Color)
	}
	// Output:
	// g2 red
	// the API version in the data (demo.aggauth.io/v2) does not match the expected API version (demo.aggauth.io/v1)
	// the body of the request was in an unknown format - accepted media types include: application/json, application/yaml
}

func ExampleBroadcaster() {
	events := objects.NewBroadcaster[*Gadget](objects.BroadcasterOptions{})
	// The store emits each change, with increasing resourceVersions.
	_ = events.Emit(watch.Added, &Gadget{ObjectMeta: metav1.ObjectMeta{Name: "g1", Namespace: "ns", ResourceVersion: "1"}})
	_ = events.Emit(watch.Modified, &Gadget{ObjectMeta: metav1.ObjectMeta{Name: "g1", Namespace: "ns", ResourceVersion: "2"}, Spec: GadgetSpec{Color: "red"}})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /apis/demo.aggauth.io/v1/namespaces/{ns}/gadgets", func(w http.ResponseWriter, r *http.Request) {
		if objects.IsWatch(r) {
			objects.ServeWatch(w, r, events)
			return
		}
		objects.Write(w, r, http.StatusOK, &GadgetList{ListMeta: metav1.ListMeta{ResourceVersion: events.ResourceVersion()}})
	})
	srv := httptest.NewServer(chain(gadgets().Handler(mux)))
	defer srv.Close()

	// An informer's watch from the version of its last list.
	resp, err := http.Get(srv.URL + "/apis/demo.aggauth.io/v1/namespaces/ns/gadgets?watch=true&resourceVersion=1")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	stream := bufio.NewReader(resp.Body)
	line, _ := stream.ReadString('\n')
	fmt.Print(line)
	_ = events.Emit(watch.Deleted, &Gadget{ObjectMeta: metav1.ObjectMeta{Name: "g1", Namespace: "ns", ResourceVersion: "3"}})
	line, _ = stream.ReadString('\n')
	fmt.Print(line)
	events.Close() // at shutdown: every watch ends
	// Output:
	// {"type":"MODIFIED","object":{"kind":"Gadget","apiVersion":"demo.aggauth.io/v1","metadata":{"name":"g1","namespace":"ns","resourceVersion":"2"},"spec":{"color":"red"}}}
	// {"type":"DELETED","object":{"kind":"Gadget","apiVersion":"demo.aggauth.io/v1","metadata":{"name":"g1","namespace":"ns","resourceVersion":"3"},"spec":{"color":"red"}}}
}
