package admission

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var errBackend = errors.New("etcd is unavailable")

// watch streams events. With sendInitialEvents=true (client-go's watch-list) it
// first sends every namespace as ADDED and the initial-events-end bookmark;
// otherwise it replays the events after the requested resourceVersion.
func (s *fakeAPIServer) watch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flush := func() { w.(http.Flusher).Flush() }

	s.mu.Lock()
	next := len(s.events)
	var initial []metav1.WatchEvent
	if q.Get("sendInitialEvents") == "true" {
		for _, ns := range s.objs {
			raw, _ := json.Marshal(ns)
			initial = append(initial, metav1.WatchEvent{Type: "ADDED", Object: runtime.RawExtension{Raw: raw}})
		}
		initial = append(initial, bookmark(s.rv))
	} else if since, err := strconv.Atoi(q.Get("resourceVersion")); err == nil {
		next = min(since, len(s.events)) // event i has resourceVersion i+1
	}
	s.mu.Unlock()
	for _, ev := range initial {
		_ = enc.Encode(ev)
	}
	flush()
	for {
		s.mu.Lock()
		pending := s.events[next:]
		next = len(s.events)
		changed := s.changed
		s.mu.Unlock()
		for _, ev := range pending {
			_ = enc.Encode(ev)
		}
		flush()
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}

// bookmark is the BOOKMARK event that ends a watch-list's initial events.
func bookmark(rv int) metav1.WatchEvent {
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{Kind: "Namespace", APIVersion: "v1"}}
	ns.ResourceVersion = strconv.Itoa(rv)
	ns.Annotations = map[string]string{metav1.InitialEventsAnnotationKey: "true"}
	raw, _ := json.Marshal(ns)
	return metav1.WatchEvent{Type: "BOOKMARK", Object: runtime.RawExtension{Raw: raw}}
}

func notFoundStatus(resource, name string) metav1.Status {
	return apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name).ErrStatus
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	if st, ok := v.(metav1.Status); ok {
		st.Kind, st.APIVersion = "Status", "v1"
		v = st
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
