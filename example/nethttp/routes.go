package main

import (
	"log/slog"
	"net/http"

	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/discovery"
	"github.com/aggauth/aggauth/example/internal/demo"
	"github.com/aggauth/aggauth/middleware"
	"github.com/aggauth/aggauth/serving"
)

// routes is the whole API on an http.ServeMux, wrapped in aggauth's chain:
// /healthz, /livez and /readyz answer without authentication; every other
// request is authenticated, authorized with a SubjectAccessReview and, for a
// create, checked against the namespace lifecycle before it reaches the
// discovery documents (disc) or the mux.
func routes(chain *aggauth.Chain, disc *discovery.Discovery, store *demo.Store, metrics http.Handler) http.Handler {
	api := &widgets{store: store}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /apis/demo.aggauth.io/v1/widgets", api.list) // all namespaces
	mux.HandleFunc("GET /apis/demo.aggauth.io/v1/namespaces/{namespace}/widgets", api.list)
	mux.HandleFunc("POST /apis/demo.aggauth.io/v1/namespaces/{namespace}/widgets", api.create)
	mux.HandleFunc("GET /apis/demo.aggauth.io/v1/namespaces/{namespace}/widgets/{name}", api.get)
	mux.HandleFunc("PATCH /apis/demo.aggauth.io/v1/namespaces/{namespace}/widgets/{name}", api.patch)
	mux.HandleFunc("DELETE /apis/demo.aggauth.io/v1/namespaces/{namespace}/widgets/{name}", api.delete)

	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("/", demo.NotFound)

	return chain.Handler(disc.Handler(demo.NoDryRun(mux)))
}

type widgets struct{ store *demo.Store }

func (a *widgets) list(w http.ResponseWriter, r *http.Request) {
	caller, _ := request.UserFrom(r.Context()) // the user kube-apiserver forwarded, as aggauth authenticated it
	slog.DebugContext(r.Context(), "list widgets", "user", demo.Username(caller))
	// The selectors are part of what was authorized: a list with
	// ?fieldSelector=metadata.name=x may be allowed for x alone.
	sel, err := middleware.SelectorsFrom(r.Context())
	if err != nil {
		middleware.WriteStatus(w, err) // a 400 Status for a bad or unsupported selector
		return
	}
	demo.WriteObject(w, http.StatusOK, a.store.List(r.PathValue("namespace"), sel))
}

func (a *widgets) get(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if demo.Demonstrate(r.Context(), name) { // demo-panic panics, demo-slow waits: serving answers 500 or 504
		return
	}
	caller, _ := request.UserFrom(r.Context())
	auditID, _ := serving.AuditIDFrom(r.Context()) // kube-apiserver's, forwarded by its aggregator
	slog.DebugContext(r.Context(), "get widget", "user", demo.Username(caller), "auditID", auditID)
	obj, err := a.store.Get(r.PathValue("namespace"), name)
	if err != nil {
		middleware.WriteStatus(w, err) // a NotFound Status, as kube-apiserver writes it
		return
	}
	demo.WriteObject(w, http.StatusOK, obj)
}

func (a *widgets) create(w http.ResponseWriter, r *http.Request) {
	caller, _ := request.UserFrom(r.Context())
	in, err := demo.DecodeWidget(w, r)
	if err != nil {
		middleware.WriteStatus(w, err)
		return
	}
	// spec.color defaults to gray, with a warning kubectl prints.
	demo.Default(r.Context(), in)
	obj, err := a.store.Create(r.PathValue("namespace"), in, caller) // status.createdBy records the caller
	if err != nil {
		middleware.WriteStatus(w, err)
		return
	}
	// The audit ID is kube-apiserver's for this request, as its audit log records it.
	auditID, _ := serving.AuditIDFrom(r.Context())
	slog.InfoContext(r.Context(), "created widget", "namespace", obj.Namespace, "name", obj.Name,
		"user", demo.Username(caller), "auditID", auditID)
	demo.WriteObject(w, http.StatusCreated, obj)
}

func (a *widgets) patch(w http.ResponseWriter, r *http.Request) {
	obj, err := a.store.Patch(w, r, r.PathValue("namespace"), r.PathValue("name"))
	if err != nil {
		middleware.WriteStatus(w, err)
		return
	}
	demo.WriteObject(w, http.StatusOK, obj)
}

func (a *widgets) delete(w http.ResponseWriter, r *http.Request) {
	caller, _ := request.UserFrom(r.Context())
	_, reason, _ := middleware.DecisionFrom(r.Context()) // why the authorizer allowed it
	slog.InfoContext(r.Context(), "delete widget", "user", demo.Username(caller), "reason", reason)
	status, err := a.store.Delete(r.PathValue("namespace"), r.PathValue("name"))
	if err != nil {
		middleware.WriteStatus(w, err)
		return
	}
	demo.WriteObject(w, http.StatusOK, status)
}
