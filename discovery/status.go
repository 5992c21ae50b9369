package discovery

import (
	"encoding/json"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/internal/negotiation"
)

// noCache is the Cache-Control kube-apiserver's WithCacheControl filter sets
// on every answer that does not set its own.
const noCache = "no-cache, private"

// notFound is the Status kube-apiserver's go-restful container answers for a
// path under a group it serves that has no route (serviceErrorHandler).
func notFound() *metav1.Status {
	return statusOf(apierrors.NewGenericServerResponse(http.StatusNotFound, "", schema.GroupResource{}, "", "", 0, false))
}

// methodNotAllowed is its Status for a method without a route.
func methodNotAllowed() *metav1.Status {
	return statusOf(apierrors.NewGenericServerResponse(http.StatusMethodNotAllowed, "", schema.GroupResource{}, "", "", 0, false))
}

// methodNotSupported is the Status kube-apiserver's CustomResourceDefinition
// handler answers a verb it does not serve with (serveResource, serveStatus,
// serveScale), as handlers.ListResource answers a watch on a storage that
// cannot watch.
func methodNotSupported(info *request.RequestInfo) *metav1.Status {
	gr := schema.GroupResource{Group: info.APIGroup, Resource: info.Resource}
	return statusOf(apierrors.NewMethodNotSupported(gr, info.Verb))
}

// statusOf completes err's Status as responsewriters.ErrorToAPIStatus does.
func statusOf(err apierrors.APIStatus) *metav1.Status {
	s := err.Status()
	if s.Status == "" {
		s.Status = metav1.StatusFailure
	}
	if s.Code == 0 {
		s.Code = http.StatusInternalServerError
	}
	s.Kind = "Status"
	s.APIVersion = "v1"
	return &s
}

// writeStatus writes status in the media type r asks for, as
// responsewriters.ErrorNegotiated does: indented JSON when none suits.
func (m *media) writeStatus(w http.ResponseWriter, r *http.Request, status *metav1.Status) {
	_, i, pretty, ok := m.negotiate(r, negotiation.Default{})
	if !ok {
		writeRawJSON(w, status)
		return
	}
	s := m.infos[i].Serializer
	if pretty {
		s = m.infos[i].PrettySerializer
	}
	body, err := runtime.Encode(s, status)
	if err != nil {
		writeRawJSON(w, status)
		return
	}
	h := w.Header()
	h.Set("Content-Type", m.infos[i].MediaType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", noCache)
	w.WriteHeader(int(status.Code))
	_, _ = w.Write(body)
}

// writeRawJSON is responsewriters.WriteRawJSON for a Status: indented JSON.
func writeRawJSON(w http.ResponseWriter, status *metav1.Status) {
	body, err := json.MarshalIndent(status, "", "  ")
	if err != nil {
		// A metav1.Status always marshals; this is defensive only.
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", noCache)
	w.WriteHeader(int(status.Code))
	_, _ = w.Write(body)
}
