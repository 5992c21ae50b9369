package objects_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/registry/customresource/tableconvertor"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/endpoints/handlers"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/aggauth/aggauth/discovery"
	"github.com/aggauth/aggauth/requestinfo"
)

// Widget is a namespaced object without protobuf support, like a custom
// resource: JSON and YAML only.
type Widget struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              WidgetSpec `json:"spec,omitzero"`
}

type WidgetSpec struct {
	Color string            `json:"color,omitempty"`
	Size  int32             `json:"size,omitempty"`
	Tags  map[string]string `json:"tags,omitempty"`
}

type WidgetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Widget `json:"items"`
}

func (w *Widget) DeepCopyObject() runtime.Object {
	out := *w
	w.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	return &out
}

func (l *WidgetList) DeepCopyObject() runtime.Object {
	out := *l
	out.Items = nil
	for i := range l.Items {
		out.Items = append(out.Items, *l.Items[i].DeepCopyObject().(*Widget))
	}
	if l.Items != nil && out.Items == nil {
		out.Items = []Widget{}
	}
	return &out
}

const group = "demo.aggauth.io"

var (
	gv = schema.GroupVersion{Group: group, Version: "v1"}

	widgetColumns = []apiextensionsv1.CustomResourceColumnDefinition{
		{Name: "Color", Type: "string", JSONPath: ".spec.color"},
		{Name: "Size", Type: "integer", JSONPath: ".spec.size", Priority: 1},
		{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
	}
)

// declaration is the API both servers serve: widgets (columns, no
// protobuf) and configmaps (Kubernetes' ConfigMap type under the demo
// group: protobuf-capable, the default Age column).
func declaration(t testing.TB) *discovery.Discovery {
	t.Helper()
	var cols []discovery.Column
	for _, c := range widgetColumns {
		cols = append(cols, discovery.Column{Name: c.Name, Type: c.Type, Format: c.Format, Description: c.Description, Priority: c.Priority, JSONPath: c.JSONPath})
	}
	d, err := discovery.New(discovery.Group{Name: group, Versions: []discovery.Version{{Name: "v1", Resources: []discovery.Resource{
		{Plural: "widgets", Kind: "Widget", Namespaced: true, Verbs: metav1.Verbs{"get", "list", "watch", "create", "update"}, Columns: cols},
		{Plural: "configmaps", Kind: "ConfigMap", Namespaced: true, Verbs: metav1.Verbs{"get", "list", "watch"}},
	}}}})
	require.NoError(t, err)
	return d
}

// testScheme knows the two kinds in the demo group, as kube-apiserver's
// scheme knows the kinds it serves.
func testScheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	scheme.AddKnownTypes(gv, &Widget{}, &WidgetList{})
	scheme.AddKnownTypeWithName(gv.WithKind("ConfigMap"), &corev1.ConfigMap{})
	scheme.AddKnownTypeWithName(gv.WithKind("ConfigMapList"), &corev1.ConfigMapList{})
	metav1.AddToGroupVersion(scheme, gv)
	return scheme
}

// k8sScope is the RequestScope kube-apiserver would serve the resource
// with: a CustomResourceDefinition's for widgets (its printer columns,
// protobuf left out of the standard serializers), a built-in type's for
// configmaps (protobuf, a CRD's default columns).
func k8sScope(t testing.TB, resource string) *handlers.RequestScope {
	t.Helper()
	scheme := testScheme(t)
	codecs := serializer.NewCodecFactory(scheme)
	scope := &handlers.RequestScope{
		Namer:            handlers.ContextBasedNaming{Namer: meta.NewAccessor(), ClusterScoped: false},
		Serializer:       codecs,
		ParameterCodec:   runtime.NewParameterCodec(scheme),
		Creater:          scheme,
		Convertor:        scheme,
		Defaulter:        scheme,
		Typer:            scheme,
		UnsafeConvertor:  runtime.UnsafeObjectConvertor(scheme),
		Resource:         gv.WithResource(resource),
		HubGroupVersion:  gv,
		MetaGroupVersion: metav1.SchemeGroupVersion,
	}
	cols := widgetColumns
	switch resource {
	case "widgets":
		scope.Kind = gv.WithKind("Widget")
		for _, info := range codecs.SupportedMediaTypes() {
			if info.MediaType != runtime.ContentTypeProtobuf {
				scope.StandardSerializers = append(scope.StandardSerializers, info)
			}
		}
	default:
		scope.Kind = gv.WithKind("ConfigMap")
		cols = []apiextensionsv1.CustomResourceColumnDefinition{{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp",
			Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}}
	}
	var err error
	scope.TableConvertor, err = tableconvertor.New(cols)
	require.NoError(t, err)
	return scope
}

// storage answers Kubernetes' handlers with a fixed object (get) or list.
type storage struct {
	rest.TableConvertor
	obj     func() runtime.Object
	watcher func() watch.Interface
}

func (s storage) Get(context.Context, string, *metav1.GetOptions) (runtime.Object, error) {
	return s.obj(), nil
}
func (s storage) NewList() runtime.Object { return s.obj() }
func (s storage) List(context.Context, *metainternalversion.ListOptions) (runtime.Object, error) {
	return s.obj(), nil
}
func (s storage) Watch(context.Context, *metainternalversion.ListOptions) (watch.Interface, error) {
	return s.watcher(), nil
}

// withInfo puts the request's RequestInfo in its context, as the chain does.
func withInfo(t testing.TB, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, err := requestinfo.New(r)
		require.NoError(t, err)
		h.ServeHTTP(w, r.WithContext(request.WithRequestInfo(r.Context(), info)))
	})
}

// serve serves one request with h and returns the recorded answer.
func serve(h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			r.Header.Set(header[i], header[i+1])
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// now is the tests' present: objects made twice have the same timestamps.
var now = time.Now()

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d).Truncate(time.Second)) }

func widget(name, color string, size int32) Widget {
	return Widget{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "ns", UID: "uid-" + "name", ResourceVersion: "7", Generation: 2,
			CreationTimestamp: ago(26 * time.Hour), Labels: map[string]string{"app": "demo"},
			Annotations: map[string]string{"note": "<&>"},
		},
		Spec: WidgetSpec{Color: color, Size: size, Tags: map[string]string{"b": "2", "a": "1"}},
	}
}

func configMap(name string) corev1.ConfigMap {
	return corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", ResourceVersion: "9", CreationTimestamp: ago(30 * time.Hour)},
		Data:       map[string]string{"k": "v"},
	}
}
