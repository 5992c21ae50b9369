package fakekube

import (
	"encoding/json"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

// collection is a fixed set of objects of one resource, served with get, list
// and watch.
type collection struct {
	resource string
	items    []runtime.Object
	// list wraps items in the resource's list type.
	list func(items []runtime.Object) runtime.Object
	// bookmark is the object of the bookmark that ends a watch list's initial
	// events.
	bookmark runtime.Object
}

// serveObject answers GET of one object by {namespace} (empty for
// cluster-scoped resources) and {name}.
func (c collection) serveObject(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	for _, o := range c.items {
		m, _ := meta.Accessor(o)
		if m.GetNamespace() == ns && m.GetName() == name {
			writeObject(w, http.StatusOK, o)
			return
		}
	}
	writeError(w, apierrors.NewNotFound(schema.GroupResource{Resource: c.resource}, name))
}

// serveCollection answers a list, or with ?watch=true a watch, of the objects
// in {namespace} (every namespace when absent) matching ?fieldSelector. A
// watch list (?sendInitialEvents=true) streams the objects as ADDED events and
// the bookmark that ends them; then, as for any watch, the connection is held
// open without events until the client goes away or s is closed.
func (c collection) serveCollection(s *Server) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		sel, err := fields.ParseSelector(q.Get("fieldSelector"))
		if err != nil {
			writeError(w, apierrors.NewBadRequest(err.Error()))
			return
		}
		ns := r.PathValue("namespace")
		var items []runtime.Object
		for _, o := range c.items {
			m, _ := meta.Accessor(o)
			set := fields.Set{"metadata.name": m.GetName(), "metadata.namespace": m.GetNamespace()}
			if (ns == "" || m.GetNamespace() == ns) && sel.Matches(set) {
				items = append(items, o)
			}
		}
		if watching, _ := strconv.ParseBool(q.Get("watch")); !watching {
			writeObject(w, http.StatusOK, c.list(items))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if initial, _ := strconv.ParseBool(q.Get("sendInitialEvents")); initial {
			for _, o := range items {
				writeEvent(w, watch.Added, o)
			}
			writeEvent(w, watch.Bookmark, c.bookmark)
		}
		_ = http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
	}
}

func writeEvent(w http.ResponseWriter, typ watch.EventType, o runtime.Object) {
	raw, _ := json.Marshal(o)
	ev, _ := json.Marshal(metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: raw}})
	_, _ = w.Write(append(ev, '\n'))
}

func writeObject(w http.ResponseWriter, code int, o any) {
	body, err := json.Marshal(o)
	if err != nil {
		writeError(w, apierrors.NewInternalError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, err *apierrors.StatusError) { writeStatus(w, err.Status()) }

// writeStatus writes st as kube-apiserver writes an API error: a Status, as
// JSON, with its code (500 when it has none).
func writeStatus(w http.ResponseWriter, st metav1.Status) {
	st.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	writeObject(w, int(st.Code), &st)
}
