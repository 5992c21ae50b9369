package objects_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/endpoints/handlers"

	"github.com/aggauth/aggauth/objects"
)

// fakeSource is a Source of fixed events, ended after them.
type fakeSource struct {
	events   func() []watch.Event
	protobuf bool
}

func (f fakeSource) Watch(context.Context, objects.WatchOptions) (<-chan objects.Event, error) {
	events := f.events()
	ch := make(chan objects.Event, len(events))
	for _, ev := range events {
		ch <- objects.Event{Type: ev.Type, Object: ev.Object}
	}
	close(ch)
	return ch, nil
}

func (f fakeSource) Protobuf() bool { return f.protobuf }

// fakeWatcher is the same events for Kubernetes' handler.
func fakeWatcher(events []watch.Event) watch.Interface {
	w := watch.NewFakeWithChanSize(len(events), false)
	for _, ev := range events {
		w.Action(ev.Type, ev.Object)
	}
	w.Stop()
	return w
}

// watchAccepts are the Accept headers of watches: kubectl get -w (Table),
// informers (JSON or protobuf), metadata informers, and refusals.
var watchAccepts = []string{
	"", "application/json", "application/vnd.kubernetes.protobuf", "application/vnd.kubernetes.protobuf,application/json",
	"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch", "*/*",
	kubectlGet, tableV1, tableV1beta1, "application/yaml;as=Table;v=v1;g=meta.k8s.io",
	metadataList, metadataObject, "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1",
	"application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1", "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
	"application/yaml", "application/yaml,application/json", "text/plain", "application/json;pretty=1",
}

var watchQueries = []string{
	"?watch=true", "?watch=1&resourceVersion=5&allowWatchBookmarks=true&timeoutSeconds=300", "?watch=true&includeObject=Object",
	"?watch=true&includeObject=None", "?watch=true&includeObject=Bogus", "?watch=true&pretty=true",
	"?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
	"?watch=true&resourceVersionMatch=NotOlderThan", "?watch=true&fieldSelector=spec.color%3Dblue", "?watch=true&labelSelector=a%20in%20(",
	"?watch=true&fieldSelector=metadata.name%3Da&labelSelector=app%3Ddemo", "?watch=true&timeoutSeconds=x",
}

// TestWatchDifferential serves the same events with ServeWatch and with
// k8s.io/apiserver's list handler for ?watch=true (handleWatch,
// WatchServer.HandleHTTP), for every Accept header and query: the same
// status, Content-Type and bytes, the stream included.
func TestWatchDifferential(t *testing.T) {
	d := declaration(t)
	widgetEvents := func() []watch.Event {
		a, b := widget("a", "blue", 3), widget("b", "red", 1)
		a2 := *a.DeepCopyObject().(*Widget)
		a2.Spec.Color, a2.ResourceVersion = "green", "8"
		gone := apierrors.NewResourceExpired("too old resource version: 1 (5)")
		return []watch.Event{
			{Type: watch.Added, Object: &a}, {Type: watch.Added, Object: &b}, {Type: watch.Modified, Object: &a2},
			{Type: watch.Bookmark, Object: &Widget{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "9"}}},
			{Type: watch.Deleted, Object: &b}, {Type: watch.Error, Object: &gone.ErrStatus},
		}
	}
	configMapEvents := func() []watch.Event {
		x, y := configMap("x"), configMap("y")
		return []watch.Event{
			{Type: watch.Added, Object: &x}, {Type: watch.Modified, Object: &y},
			{Type: watch.Bookmark, Object: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "10"}}},
			{Type: watch.Deleted, Object: &x},
		}
	}
	for _, c := range []struct {
		name, resource, path string
		events               func() []watch.Event
		protobuf             bool
	}{
		{"widgets", "widgets", "namespaces/ns/widgets", widgetEvents, false},
		{"widgets across namespaces", "widgets", "widgets", widgetEvents, false},
		{"configmaps", "configmaps", "namespaces/ns/configmaps", configMapEvents, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			scope := k8sScope(t, c.resource)
			st := storage{TableConvertor: scope.TableConvertor, obj: func() runtime.Object { return nil },
				watcher: func() watch.Interface { return fakeWatcher(c.events()) }}
			theirs := withInfo(t, handlers.ListResource(st, st, scope, false, 0))
			ours := withInfo(t, d.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				objects.ServeWatch(w, r, fakeSource{events: c.events, protobuf: c.protobuf})
			})))
			for _, accept := range watchAccepts {
				for _, q := range watchQueries {
					target := "/apis/demo.aggauth.io/v1/" + c.path + q
					want := serve(theirs, "GET", target, "Accept", accept)
					got := serve(ours, "GET", target, "Accept", accept)
					msg := "Accept %q, %s"
					if !assert.Equal(t, want.Code, got.Code, msg, accept, q) ||
						!assert.Equal(t, want.Header().Get("Content-Type"), got.Header().Get("Content-Type"), msg, accept, q) ||
						!assert.Equal(t, want.Header().Get("Transfer-Encoding"), got.Header().Get("Transfer-Encoding"), msg, accept, q) ||
						!assert.Equal(t, want.Body.String(), got.Body.String(), msg, accept, q) {
						return
					}
				}
			}
		})
	}
}
