package negotiation_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	k8s "k8s.io/apiserver/pkg/endpoints/handlers/negotiation"

	"github.com/aggauth/aggauth/internal/negotiation"
)

// tableRestrictions allows the conversions of an object endpoint: Table in
// JSON and YAML, metadata in anything.
type tableRestrictions struct{}

func (tableRestrictions) AllowsMediaTypeTransform(_, subType string, gvk *schema.GroupVersionKind) bool {
	if gvk == nil {
		return true
	}
	switch {
	case gvk.GroupVersion() != metav1.SchemeGroupVersion:
		return false
	case gvk.Kind == "Table":
		return subType == "json" || subType == "yaml"
	}
	return gvk.Kind == "PartialObjectMetadata"
}
func (tableRestrictions) AllowsServerVersion(v string) bool { return v == "v1" }
func (tableRestrictions) AllowsStreamSchema(s string) bool  { return s == "watch" }

func infos(t *testing.T) []runtime.SerializerInfo {
	scheme := runtime.NewScheme()
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	return serializer.NewCodecFactory(scheme).SupportedMediaTypes()
}

var headers = []string{
	"", "*/*", "application/*", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
	"text/html", "text/*", "application/json;pretty=1", "application/json;pretty=0", "application/yaml;pretty=1",
	"application/json;stream=watch", "application/json;stream=other", "application/yaml;stream=watch",
	"application/vnd.kubernetes.protobuf;stream=watch", "application/json;sv=v1", "application/json;sv=v2", "application/json;sv=",
	"application/json;as=Table;v=v1;g=meta.k8s.io", "application/yaml;as=Table;v=v1;g=meta.k8s.io",
	"application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json",
	"application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io;q=0.5,application/yaml;q=0.9",
	"application/json;as=Other;v=v1;g=meta.k8s.io", "application/json;g=meta.k8s.io",
	"application/json;profile=local;export=1;unknown=x", "text/html;q=0.9,application/yaml;q=0.1", "garbage", ";;;", "application/",
	"application/json;q=0", "application/json;q=abc,application/yaml",
}

// TestMediaTypeMatchesKubernetes: the negotiation picks what
// NegotiateMediaTypeOptions picks, with the same options.
func TestMediaTypeMatchesKubernetes(t *testing.T) {
	infos := infos(t)
	for name, r := range map[string]negotiation.Restrictions{"default": negotiation.Default{}, "table": tableRestrictions{}} {
		for _, h := range headers {
			want, wantOK := k8s.NegotiateMediaTypeOptions(h, infos, r)
			got, gotOK := negotiation.MediaType(h, infos, r)
			require.Equal(t, wantOK, gotOK, "%s restrictions, Accept %q", name, h)
			assert.Equal(t, want.Accepted.MediaType, got.Accepted.MediaType, "%s restrictions, Accept %q", name, h)
			if gotOK {
				assert.Equal(t, want.Accepted.MediaType, infos[got.Index].MediaType, "%s restrictions, Accept %q", name, h)
			}
			assert.Equal(t, want.Pretty, got.Pretty, "%s restrictions, Accept %q", name, h)
			assert.Equal(t, want.Convert, got.Convert, "%s restrictions, Accept %q", name, h)
		}
	}
}

// TestMediaTypeFirstClauses: only the first MaxClauses clauses count.
func TestMediaTypeFirstClauses(t *testing.T) {
	infos := infos(t)
	header := func(n int, last string) string {
		return strings.Repeat("text/html,", n) + last
	}
	_, ok := negotiation.MediaType(header(negotiation.MaxClauses-1, "application/json"), infos, negotiation.Default{})
	assert.True(t, ok, "the last of MaxClauses clauses counts")
	_, ok = negotiation.MediaType(header(negotiation.MaxClauses, "application/json"), infos, negotiation.Default{})
	assert.False(t, ok, "the clause after MaxClauses does not")
	_, ok = negotiation.MediaType(header(10_000, "application/json"), infos, negotiation.Default{})
	assert.False(t, ok)
}

func TestInputMatchesKubernetes(t *testing.T) {
	infos := infos(t)
	ns := serializer.NewCodecFactory(runtime.NewScheme())
	for _, ct := range []string{"", "application/json", "application/json; charset=utf-8", "APPLICATION/YAML", "application/vnd.kubernetes.protobuf",
		"text/plain", "application/merge-patch+json", "garbage;;", "application/json;stream=watch"} {
		want, wantErr := k8s.NegotiateInputSerializerForMediaType(ct, false, ns)
		i, ok := negotiation.Input(ct, infos)
		require.Equal(t, wantErr == nil, ok, "Content-Type %q", ct)
		if ok {
			assert.Equal(t, want.MediaType, infos[i].MediaType, "Content-Type %q", ct)
			continue
		}
		assert.Equal(t, statusOf(wantErr), negotiation.UnsupportedMediaType(negotiation.MediaTypes(infos)))
	}
}

func TestStatusesMatchKubernetes(t *testing.T) {
	infos := infos(t)
	ns := serializer.NewCodecFactory(runtime.NewScheme())
	types, streamTypes := k8s.MediaTypesForSerializer(ns)
	assert.Equal(t, types, negotiation.MediaTypes(infos))
	assert.Equal(t, streamTypes, negotiation.StreamMediaTypes(infos))
	assert.Equal(t, statusOf(k8s.NewNotAcceptableError(types)), negotiation.NotAcceptable(types))
	assert.Equal(t, statusOf(k8s.NewUnsupportedMediaTypeError(types)), negotiation.UnsupportedMediaType(types))
}

// statusOf completes an error's Status as responsewriters.ErrorToAPIStatus.
func statusOf(err error) *metav1.Status {
	s := err.(apierrors.APIStatus).Status()
	s.Kind, s.APIVersion = "Status", "v1"
	return &s
}
