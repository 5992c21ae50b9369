package objects_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/endpoints/handlers"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/objects"
	"github.com/aggauth/aggauth/requestinfo"
)

// discardWriter is a ResponseWriter that keeps nothing but its header map.
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

func benchList(n int) *WidgetList {
	l := &WidgetList{ListMeta: metav1.ListMeta{ResourceVersion: "1000"}}
	for i := range n {
		l.Items = append(l.Items, widget(fmt.Sprintf("widget-%04d", i), "blue", int32(i)))
	}
	return l
}

// BenchmarkWriteList writes a list of 100 widgets as the answer to a list
// request: as JSON, as the Table kubectl get asks for, and as the
// protobuf PartialObjectMetadataList metadata informers ask for. Each
// beside k8s.io/apiserver's list handler (ListResource with a
// CustomResourceDefinition's scope and table convertor) serving the same
// list, and a baseline that only encodes the list with encoding/json. The
// request (with its RequestInfo) is built once; the header map is cleared
// each time.
func BenchmarkWriteList(b *testing.B) {
	list := benchList(100)
	d := declaration(b)
	ours := d.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		objects.Write(w, r, http.StatusOK, list)
	}))
	scope := k8sScope(b, "widgets")
	st := storage{TableConvertor: scope.TableConvertor, obj: func() runtime.Object { return list }}
	theirs := handlers.ListResource(st, st, scope, false, 0)
	baseline := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(list)
	})
	for _, form := range []struct{ name, accept string }{
		{"JSON", "application/json"},
		{"Table", kubectlGet},
		{"PartialObjectMetadataList", metadataList},
	} {
		r := httptest.NewRequest("GET", "/apis/demo.aggauth.io/v1/namespaces/ns/widgets", nil)
		r.Header.Set("Accept", form.accept)
		info, err := requestinfo.New(r)
		if err != nil {
			b.Fatal(err)
		}
		r = r.WithContext(request.WithRequestInfo(r.Context(), info))
		impls := []struct {
			name string
			h    http.Handler
		}{{"aggauth", ours}, {"kubernetes", theirs}}
		if form.name == "JSON" {
			impls = append(impls, struct {
				name string
				h    http.Handler
			}{"baseline", baseline})
		}
		for _, impl := range impls {
			b.Run(form.name+"/"+impl.name, func(b *testing.B) {
				w := &discardWriter{h: http.Header{}}
				b.ReportAllocs()
				for b.Loop() {
					clear(w.h)
					impl.h.ServeHTTP(w, r)
				}
				b.ReportMetric(float64(w.n)/float64(b.N), "B/answer")
			})
		}
	}
}
