package objects_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/handlers"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"

	"github.com/aggauth/aggauth/objects"
)

const (
	tableV1      = "application/json;as=Table;v=v1;g=meta.k8s.io"
	tableV1beta1 = "application/json;as=Table;v=v1beta1;g=meta.k8s.io"
	kubectlGet   = tableV1 + "," + tableV1beta1 + ",application/json"
	metadataList = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1," +
		"application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
	metadataObject = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1," +
		"application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
)

// accepts are the Accept headers of the corpus: what kubectl, client-go's
// typed, dynamic and metadata clients, curl and browsers send, each form of
// conversion in each media type, and what must be refused.
var accepts = []string{
	"", "*/*", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "application/*",
	"text/plain", "text/html", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
	"application/json;pretty=1", "application/yaml;pretty=1", "application/json;q=0.5,application/yaml",
	"application/json;q=0", "application/vnd.kubernetes.protobuf,application/json", "application/vnd.kubernetes.protobuf;q=0.9,application/json;q=0.8",
	kubectlGet, tableV1, tableV1beta1, tableV1 + ";pretty=1", "application/yaml;as=Table;v=v1;g=meta.k8s.io",
	"application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io", "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json",
	"application/json;as=Table;v=v2;g=meta.k8s.io", "application/json;as=Table;g=meta.k8s.io", "application/json;as=Table;v=v1;g=other.io",
	"*/*;as=Table;g=meta.k8s.io;v=v1", "application/json;as=Foo;g=meta.k8s.io;v=v1", "application/json;g=meta.k8s.io;v=v1",
	metadataList, metadataObject,
	"application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1", "application/yaml;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
	"application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1beta1", "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1beta1",
	"application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1",
	"application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1", "application/*;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
	"application/json;sv=v1", "application/json;sv=v2", "application/json;sv=v2,application/yaml", "application/json;stream=watch",
	"application/yaml;stream=watch", "application/yaml;stream=watch,application/json", "application/json;profile=x;export=1;unknown=2",
}

// queries are the query and User-Agent variations of each request.
var queries = []struct{ query, userAgent string }{
	{"", ""}, {"?pretty=true", ""}, {"", "curl/8.5.0"}, {"?pretty=0", "Mozilla/5.0 (X11)"}, {"?pretty=yes", ""},
	{"?includeObject=Object", ""}, {"?includeObject=None", ""}, {"?includeObject=Metadata&pretty=1", ""}, {"?includeObject=Bogus", ""},
}

// diffCase is one answer: an object or a list of a resource, as the handler
// writes it (ours) and as Kubernetes' storage returns it.
type diffCase struct {
	name, resource, path string
	list                 bool
	obj                  func() runtime.Object
}

func diffCases() []diffCase {
	widgets := func(items ...Widget) func() runtime.Object {
		return func() runtime.Object {
			l := &WidgetList{ListMeta: metav1.ListMeta{ResourceVersion: "10"}, Items: items}
			return l.DeepCopyObject()
		}
	}
	count := int64(5)
	return []diffCase{
		{"widget", "widgets", "namespaces/ns/widgets/a", false, func() runtime.Object { w := widget("a", "blue", 3); return &w }},
		{"bare widget", "widgets", "namespaces/ns/widgets/b", false, func() runtime.Object {
			return &Widget{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"}}
		}},
		{"widget list", "widgets", "namespaces/ns/widgets", true, widgets(widget("a", "blue", 3), widget("c", "", 0))},
		{"widget list across namespaces, continued", "widgets", "widgets", true, func() runtime.Object {
			return &WidgetList{ListMeta: metav1.ListMeta{ResourceVersion: "11", Continue: "abc", RemainingItemCount: &count}, Items: []Widget{widget("a", "red", 1)}}
		}},
		{"empty widget list", "widgets", "namespaces/ns/widgets", true, widgets()},
		{"configmap", "configmaps", "namespaces/ns/configmaps/x", false, func() runtime.Object { c := configMap("x"); return &c }},
		{"configmap list", "configmaps", "namespaces/ns/configmaps", true, func() runtime.Object {
			return &corev1.ConfigMapList{ListMeta: metav1.ListMeta{ResourceVersion: "12"}, Items: []corev1.ConfigMap{configMap("x"), configMap("y")}}
		}},
		{"empty configmap list", "configmaps", "namespaces/ns/configmaps", true, func() runtime.Object { return &corev1.ConfigMapList{} }},
	}
}

// TestWriteDifferential writes each object and list of the corpus with
// Write and with k8s.io/apiserver's get and list handlers
// (transformResponseObject) for every Accept header, query and User-Agent:
// the same status, Content-Type and bytes.
func TestWriteDifferential(t *testing.T) {
	d := declaration(t)
	for _, c := range diffCases() {
		t.Run(c.name, func(t *testing.T) {
			scope := k8sScope(t, c.resource)
			st := storage{TableConvertor: scope.TableConvertor, obj: c.obj}
			var theirs http.Handler = handlers.GetResource(st, scope)
			if c.list {
				theirs = handlers.ListResource(st, st, scope, false, 0)
			}
			theirs = withInfo(t, theirs)
			ours := withInfo(t, d.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				objects.Write(w, r, http.StatusOK, c.obj())
			})))
			for _, accept := range accepts {
				for _, q := range queries {
					target := "/apis/demo.aggauth.io/v1/" + c.path + q.query
					header := []string{"Accept", accept, "User-Agent", q.userAgent}
					want := serve(theirs, "GET", target, header...)
					got := serve(ours, "GET", target, header...)
					msg := "Accept %q, %s, User-Agent %q"
					if !assert.Equal(t, want.Code, got.Code, msg, accept, q.query, q.userAgent) ||
						!assert.Equal(t, want.Header().Get("Content-Type"), got.Header().Get("Content-Type"), msg, accept, q.query, q.userAgent) ||
						!assert.Equal(t, want.Body.String(), got.Body.String(), msg, accept, q.query, q.userAgent) {
						return
					}
				}
			}
		})
	}
}

// TestWriteErrorDifferential writes errors with WriteError and with
// responsewriters.ErrorNegotiated for every Accept header: the same status,
// Retry-After, Content-Type and bytes.
func TestWriteErrorDifferential(t *testing.T) {
	codecs := k8sScope(t, "widgets").Serializer
	for _, err := range []error{
		apierrors.NewNotFound(schema.GroupResource{Group: group, Resource: "widgets"}, "a"),
		apierrors.NewConflict(schema.GroupResource{Group: group, Resource: "widgets"}, "a", errors.New("the object has been modified")),
		apierrors.NewTooManyRequests("slow down", 3),
		apierrors.NewBadRequest(strings.Repeat("<long & odd> ", 20)),
		&apierrors.StatusError{ErrStatus: metav1.Status{Message: "no code"}},
		&apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusSuccess, Message: "success without a code"}},
		&apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusNoContent}},
		errors.New("a plain error"),
	} {
		t.Run(err.Error(), func(t *testing.T) {
			for _, accept := range accepts {
				for _, q := range queries[:5] {
					target := "/apis/demo.aggauth.io/v1/namespaces/ns/widgets/a" + q.query
					header := []string{"Accept", accept, "User-Agent", q.userAgent}
					want := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						responsewriters.ErrorNegotiated(err, codecs, gv, w, r)
					}), "GET", target, header...)
					got := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						objects.WriteError(w, r, err)
					}), "GET", target, header...)
					msg := "Accept %q, %s, User-Agent %q"
					require.Equal(t, want.Code, got.Code, msg, accept, q.query, q.userAgent)
					require.Equal(t, want.Header().Get("Retry-After"), got.Header().Get("Retry-After"), msg, accept, q.query, q.userAgent)
					require.Equal(t, want.Header().Get("Content-Type"), got.Header().Get("Content-Type"), msg, accept, q.query, q.userAgent)
					require.Equal(t, want.Body.String(), got.Body.String(), msg, accept, q.query, q.userAgent)
				}
			}
		})
	}
}
