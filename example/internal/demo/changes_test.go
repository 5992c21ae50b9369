package demo_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/aggauth/aggauth/example/internal/demo"
	"github.com/aggauth/aggauth/objects"
)

// created stores widget name in namespace ns of a new store, with
// finalizers.
func created(t *testing.T, name string, finalizers ...string) (*demo.Store, *demo.Widget) {
	t.Helper()
	s := demo.NewStore()
	in := widget(name)
	in.Finalizers = finalizers
	w, err := s.Create("ns", in, bob)
	require.NoError(t, err)
	return s, w
}

func TestStoreUpdate(t *testing.T) {
	s, w := created(t, "w")
	in := w.DeepCopy()
	in.Spec.Color = "red"
	in.Labels = map[string]string{"tier": "gold"}
	in.Status = demo.WidgetStatus{}                  // the server's: kept
	in.CreationTimestamp = metav1.Unix(1, 0)         // the server's: kept
	in.Finalizers = []string{"demo.aggauth.io/hold"} // kept
	got, err := s.Update("ns", "w", in)
	require.NoError(t, err)
	assert.Equal(t, "red", got.Spec.Color)
	assert.Equal(t, in.Labels, got.Labels)
	assert.Equal(t, in.Finalizers, got.Finalizers)
	assert.Equal(t, w.Status, got.Status)
	assert.Equal(t, w.CreationTimestamp, got.CreationTimestamp)
	assert.Equal(t, w.UID, got.UID)
	assert.Equal(t, "2", got.ResourceVersion)
	assert.Equal(t, int64(2), got.Generation, "the spec changed")

	same, err := s.Update("ns", "w", got.DeepCopy())
	require.NoError(t, err)
	assert.Equal(t, "2", same.ResourceVersion, "an update that changes nothing stores nothing")

	in.Spec.Color = "green" // from resourceVersion 1
	_, err = s.Update("ns", "w", in)
	assert.True(t, apierrors.IsConflict(err), "got %v; want Conflict", err)
	assert.Contains(t, err.Error(), "the object has been modified; please apply your changes to the latest version and try again")

	tests := []struct {
		name   string
		change func(w *demo.Widget)
		want   func(error) bool
	}{
		{"no resourceVersion", func(w *demo.Widget) { w.ResourceVersion = "" }, apierrors.IsInvalid},
		{"another name", func(w *demo.Widget) { w.Name = "v" }, apierrors.IsBadRequest},
		{"another namespace", func(w *demo.Widget) { w.Namespace = "other" }, apierrors.IsBadRequest},
		{"another uid", func(w *demo.Widget) { w.UID = "x" }, apierrors.IsInvalid},
		{"a deletionTimestamp", func(w *demo.Widget) { w.DeletionTimestamp = &w.CreationTimestamp }, apierrors.IsInvalid},
		{"a bad label", func(w *demo.Widget) { w.Labels = map[string]string{"a b": "c"} }, apierrors.IsInvalid},
		{"a bad finalizer", func(w *demo.Widget) { w.Finalizers = []string{"a b"} }, apierrors.IsInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := same.DeepCopy()
			tt.change(in)
			_, err := s.Update("ns", "w", in)
			assert.True(t, tt.want(err), "got %v", err)
		})
	}
	_, err = s.Update("ns", "missing", &demo.Widget{ObjectMeta: metav1.ObjectMeta{Name: "missing", ResourceVersion: "1"}})
	assert.True(t, apierrors.IsNotFound(err), "an update never creates: got %v", err)
}

// TestValidate: the metadata is validated as kube-apiserver validates it,
// and a widget cannot grow without bound.
func TestValidate(t *testing.T) {
	controller := func(name string) metav1.OwnerReference {
		return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: name, UID: types.UID(name), Controller: ptr.To(true)}
	}
	tests := []struct {
		name   string
		change func(w *demo.Widget)
		code   int32 // 0: valid
	}{
		{"valid", func(*demo.Widget) {}, 0},
		{"generateName", func(w *demo.Widget) { w.Name, w.GenerateName = "", "gen-" }, 0},
		{"neither name nor generateName", func(w *demo.Widget) { w.Name = "" }, 422},
		{"an invalid name", func(w *demo.Widget) { w.Name = "A_B" }, 422},
		{"a name with a slash", func(w *demo.Widget) { w.Name = "a/b" }, 422},
		{"an invalid generateName", func(w *demo.Widget) { w.Name, w.GenerateName = "", "A_" }, 422},
		{"another namespace", func(w *demo.Widget) { w.Namespace = "other" }, 400},
		{"annotations of 256 KiB", func(w *demo.Widget) { w.Annotations = map[string]string{"a": strings.Repeat("x", 256<<10-1)} }, 0},
		{"annotations over 256 KiB", func(w *demo.Widget) { w.Annotations = map[string]string{"a": strings.Repeat("x", 256<<10)} }, 422},
		{"two controllers", func(w *demo.Widget) { w.OwnerReferences = []metav1.OwnerReference{controller("a"), controller("b")} }, 422},
		{"an owner without uid", func(w *demo.Widget) {
			w.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "a"}}
		}, 422},
		{"orphan and foregroundDeletion", func(w *demo.Widget) {
			w.Finalizers = []string{metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents}
		}, 422},
		{"over MaxObjectBytes", func(w *demo.Widget) { w.Spec.Color = strings.Repeat("x", demo.MaxObjectBytes) }, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := widget("w")
			tt.change(in)
			_, err := demo.NewStore().Create("ns", in, bob)
			code, _ := statusOf(t, err)
			if tt.code == 0 {
				tt.code = 200
			}
			assert.Equal(t, tt.code, code, "got %v", err)
		})
	}
}

// TestStoreGrowth: labels added patch after patch stop at MaxObjectBytes.
func TestStoreGrowth(t *testing.T) {
	s := patchStore(t, 0)
	value := strings.Repeat("v", 63)
	var err error
	for i := 0; err == nil; i++ {
		require.Less(t, i, 100, "the widget grows without bound")
		labels := make([]string, 1000)
		for j := range labels {
			labels[j] = fmt.Sprintf("%q:%q", fmt.Sprintf("l-%d-%d", i, j), value)
		}
		_, err = patch(s, mergePatch, `{"metadata":{"labels":{`+strings.Join(labels, ",")+`}}}`)
	}
	assert.True(t, apierrors.IsRequestEntityTooLargeError(err), "got %v", err)
}

func TestStoreDeleteFinalizers(t *testing.T) {
	s, _ := created(t, "w", "demo.aggauth.io/hold")
	kept, gone, err := s.Delete("ns", "w", &metav1.DeleteOptions{})
	require.NoError(t, err)
	assert.False(t, gone, "a finalizer keeps the widget")
	require.NotNil(t, kept.DeletionTimestamp)
	assert.Equal(t, ptr.To[int64](0), kept.DeletionGracePeriodSeconds)
	assert.Equal(t, int64(2), kept.Generation)
	assert.Equal(t, "2", kept.ResourceVersion)

	again, gone, err := s.Delete("ns", "w", &metav1.DeleteOptions{})
	require.NoError(t, err)
	assert.False(t, gone)
	assert.Equal(t, kept, again, "deleting again changes nothing")

	in := kept.DeepCopy()
	in.Finalizers = append(in.Finalizers, "demo.aggauth.io/late")
	_, err = s.Update("ns", "w", in)
	assert.True(t, apierrors.IsInvalid(err), "no new finalizer once deleting: got %v", err)

	in = kept.DeepCopy()
	in.Labels = map[string]string{"still": "here"}
	kept, err = s.Update("ns", "w", in)
	require.NoError(t, err, "a widget being deleted may still change")
	assert.Equal(t, "3", kept.ResourceVersion)

	_, err = patch(s, mergePatch, `{"metadata":{"finalizers":null}}`)
	require.NoError(t, err)
	_, err = s.Get("ns", "w")
	assert.True(t, apierrors.IsNotFound(err), "removing the last finalizer deleted it: got %v", err)
	assert.Equal(t, "4", s.List("ns", all).ResourceVersion)

	_, _, err = s.Delete("ns", "w", &metav1.DeleteOptions{})
	assert.True(t, apierrors.IsNotFound(err))
}

func TestStoreDeleteOptions(t *testing.T) {
	tests := []struct {
		name       string
		finalizers []string
		opts       metav1.DeleteOptions
		gone       bool
		want       []string // finalizers left
	}{
		{"background", nil, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}, true, nil},
		{"foreground", nil, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}, false, []string{metav1.FinalizerDeleteDependents}},
		{"orphan", []string{"a.io/x"}, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan)}, false, []string{"a.io/x", metav1.FinalizerOrphanDependents}},
		//lint:ignore SA1019 deprecated, and still honoured by kube-apiserver
		{"orphanDependents", nil, metav1.DeleteOptions{OrphanDependents: ptr.To(true)}, false, []string{metav1.FinalizerOrphanDependents}},
		{"background removes orphan", []string{metav1.FinalizerOrphanDependents}, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}, true, nil},
		{"no policy keeps orphan", []string{metav1.FinalizerOrphanDependents}, metav1.DeleteOptions{}, false, []string{metav1.FinalizerOrphanDependents}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := created(t, "w", tt.finalizers...)
			got, gone, err := s.Delete("ns", "w", &tt.opts)
			require.NoError(t, err)
			assert.Equal(t, tt.gone, gone)
			if !gone {
				assert.Equal(t, tt.want, got.Finalizers)
			}
		})
	}

	s, w := created(t, "w")
	for _, p := range []metav1.Preconditions{{UID: ptr.To(types.UID("other"))}, {ResourceVersion: ptr.To("9")}} {
		_, _, err := s.Delete("ns", "w", &metav1.DeleteOptions{Preconditions: &p})
		assert.True(t, apierrors.IsConflict(err), "got %v; want Conflict", err)
	}
	_, gone, err := s.Delete("ns", "w", &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &w.UID, ResourceVersion: &w.ResourceVersion}})
	require.NoError(t, err)
	assert.True(t, gone)
}

func TestStoreDeleteCollection(t *testing.T) {
	s := demo.NewStore()
	for _, name := range []string{"a", "b", "c"} {
		in := widget(name)
		if name == "c" {
			in.Finalizers = []string{"demo.aggauth.io/hold"}
		}
		_, err := s.Create("ns", in, bob)
		require.NoError(t, err)
	}
	_, err := s.Create("other", widget("a"), bob)
	require.NoError(t, err)
	list, err := s.DeleteCollection("ns", all, &metav1.DeleteOptions{})
	require.NoError(t, err)
	assert.Len(t, list.Items, 3)
	left := s.List("", all).Items
	require.Len(t, left, 2)
	assert.Equal(t, "c", left[0].Name, "kept by its finalizer")
	assert.NotNil(t, left[0].DeletionTimestamp)
	assert.Equal(t, "other", left[1].Namespace)
}

// TestStoreWatch: each change is an event, with the resourceVersion a list
// reports.
func TestStoreWatch(t *testing.T) {
	s, _ := created(t, "w", "demo.aggauth.io/hold")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events, err := s.Watch(ctx, objects.WatchOptions{ResourceVersion: s.List("", all).ResourceVersion, Namespace: "ns", Selectors: all})
	require.NoError(t, err)

	_, err = s.Create("ns", widget("v"), bob)
	require.NoError(t, err)
	_, err = patch(s, mergePatch, `{"spec":{"size":2}}`)
	require.NoError(t, err)
	_, _, err = s.Delete("ns", "w", &metav1.DeleteOptions{})
	require.NoError(t, err)
	_, err = patch(s, mergePatch, `{"metadata":{"finalizers":null}}`)
	require.NoError(t, err)

	want := []struct {
		typ  watch.EventType
		name string
	}{{watch.Added, "v"}, {watch.Modified, "w"}, {watch.Modified, "w"}, {watch.Deleted, "w"}}
	for i, w := range want {
		select {
		case ev := <-events:
			obj := ev.Object.(*demo.Widget)
			assert.Equal(t, w.typ, ev.Type, "event %d", i)
			assert.Equal(t, w.name, obj.Name, "event %d", i)
			assert.Equal(t, string(rune('2'+i)), obj.ResourceVersion, "event %d", i)
		case <-ctx.Done():
			t.Fatalf("event %d: none", i)
		}
	}
	assert.Equal(t, "5", s.List("", all).ResourceVersion)
}
