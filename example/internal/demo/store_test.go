package demo_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/aggauth/aggauth/example/internal/demo"
	"github.com/aggauth/aggauth/requestinfo"
)

var all = requestinfo.Everything

var bob = &user.DefaultInfo{Name: "bob", UID: "42", Groups: []string{"devs"}, Extra: map[string][]string{"team": {"a"}}}

func widget(name string) *demo.Widget {
	return &demo.Widget{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: demo.WidgetSpec{Color: "blue", Size: 1}}
}

func TestStoreRoundTrip(t *testing.T) {
	s := demo.NewStore()
	in := widget("w")
	in.Labels = map[string]string{"app": "demo"}
	in.Finalizers = []string{"demo.aggauth.io/kept"}
	in.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "u-1"}}
	got, err := s.Create("ns", in, bob)
	require.NoError(t, err)
	assert.Equal(t, metav1.TypeMeta{APIVersion: demo.GroupVersion, Kind: demo.Kind}, got.TypeMeta)
	assert.Equal(t, "ns", got.Namespace)
	assert.Equal(t, map[string]string{"app": "demo"}, got.Labels)
	assert.Equal(t, in.Finalizers, got.Finalizers)
	assert.Equal(t, in.OwnerReferences, got.OwnerReferences)
	assert.Equal(t, int64(1), got.Generation)
	assert.NotEmpty(t, got.UID)
	assert.Equal(t, "1", got.ResourceVersion)
	assert.Equal(t, authenticationv1.UserInfo{Username: "bob", UID: "42", Groups: []string{"devs"},
		Extra: map[string]authenticationv1.ExtraValue{"team": {"a"}}}, got.Status.CreatedBy)

	_, err = s.Create("ns", widget("w"), bob)
	assert.True(t, apierrors.IsAlreadyExists(err), "got %v; want AlreadyExists", err)
	_, err = s.Create("other", widget("w"), bob)
	assert.NoError(t, err, "names are per namespace")

	// What the store hands out is a copy.
	got.Labels["app"] = "changed"
	got.Spec.Color = "changed"
	again, err := s.Get("ns", "w")
	require.NoError(t, err)
	assert.Equal(t, "demo", again.Labels["app"])
	assert.Equal(t, demo.WidgetSpec{Color: "blue", Size: 1}, again.Spec)
	in.Labels["app"] = "changed too"
	again, _ = s.Get("ns", "w")
	assert.Equal(t, "demo", again.Labels["app"], "the store keeps no reference to the created object")

	assert.Len(t, s.List("ns", all).Items, 1)
	assert.Len(t, s.List("", all).Items, 2)
	assert.Empty(t, s.List("none", all).Items)
	assert.NotNil(t, s.List("none", all).Items, "an empty list is [] in JSON, not null")

	deleted, gone, err := s.Delete("other", "w", &metav1.DeleteOptions{})
	require.NoError(t, err)
	assert.True(t, gone)
	assert.Equal(t, "3", deleted.ResourceVersion, "the deletion's resourceVersion")
	_, err = s.Get("other", "w")
	assert.True(t, apierrors.IsNotFound(err), "got %v; want NotFound", err)
	_, _, err = s.Delete("other", "w", &metav1.DeleteOptions{})
	assert.True(t, apierrors.IsNotFound(err), "got %v; want NotFound", err)
	assert.Equal(t, "3", s.List("", all).ResourceVersion, "two creates and a delete")
}

func TestStoreListSelectors(t *testing.T) {
	s := demo.NewStore()
	for _, w := range []struct{ ns, name, owner string }{
		{"team-a", "alice-widget", "alice"}, {"team-a", "bob-widget", "bob"}, {"team-b", "alice-widget", "alice"},
	} {
		in := widget(w.name)
		in.Labels = map[string]string{"owner": w.owner}
		_, err := s.Create(w.ns, in, bob)
		require.NoError(t, err)
	}
	tests := []struct {
		namespace, label, field string
		want                    []string // namespace/name
	}{
		{"team-a", "", "", []string{"team-a/alice-widget", "team-a/bob-widget"}},
		{"team-a", "", "metadata.name=alice-widget", []string{"team-a/alice-widget"}},
		{"", "", "metadata.name=alice-widget", []string{"team-a/alice-widget", "team-b/alice-widget"}},
		{"", "", "metadata.namespace=team-b", []string{"team-b/alice-widget"}},
		{"team-a", "", "metadata.name!=alice-widget", []string{"team-a/bob-widget"}},
		{"team-a", "owner=bob", "", []string{"team-a/bob-widget"}},
		{"", "owner in (alice)", "metadata.namespace=team-a", []string{"team-a/alice-widget"}},
		{"team-a", "owner=bob", "metadata.name=alice-widget", nil},
		{"team-a", "color", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.namespace+" "+tt.label+" "+tt.field, func(t *testing.T) {
			label, err := labels.Parse(tt.label)
			require.NoError(t, err)
			field, err := fields.ParseSelector(tt.field)
			require.NoError(t, err)
			sel, err := requestinfo.NewSelectors(label, field)
			require.NoError(t, err)
			var got []string
			for _, w := range s.List(tt.namespace, sel).Items {
				got = append(got, w.Namespace+"/"+w.Name)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestStoreGenerateName(t *testing.T) {
	s := demo.NewStore()
	names := map[string]bool{}
	for range 50 {
		w, err := s.Create("ns", &demo.Widget{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}, nil)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(w.Name, "gen-") && len(w.Name) == len("gen-")+5, "got %q", w.Name)
		names[w.Name] = true
	}
	assert.Len(t, names, 50)
}

func TestStoreConcurrent(t *testing.T) {
	s := demo.NewStore()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				name := fmt.Sprintf("w-%d-%d", i, j)
				_, err := s.Create("ns", widget(name), bob)
				assert.NoError(t, err)
				_ = s.List("ns", all)
				_, err = s.Get("ns", name)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.Len(t, s.List("ns", all).Items, 160)
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	rec := httptest.NewRecorder()
	demo.NotFound(rec, httptest.NewRequest(http.MethodGet, "/nothing", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.JSONEq(t, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
		"message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}`, rec.Body.String())

	rec = httptest.NewRecorder()
	demo.MethodNotAllowed(rec, httptest.NewRequest(http.MethodPut, "/", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

func TestWidgetJSON(t *testing.T) {
	w := widget("a")
	w.Status.CreatedBy = demo.UserInfo(bob)
	data, err := json.Marshal(w)
	require.NoError(t, err)
	var back demo.Widget
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, w, &back)

	data, err = json.Marshal(widget("a"))
	require.NoError(t, err)
	assert.NotContains(t, string(data), "status", "an empty status is left out")
}
