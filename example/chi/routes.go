package main

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/example/internal/demo"
	"github.com/aggauth/aggauth/middleware"
)

// routes is the whole API on a chi router. aggauth's chain is a chi
// middleware: /healthz, /livez and /readyz answer without authentication;
// every other request is authenticated, authorized with a SubjectAccessReview
// and, for a create, checked against the namespace lifecycle before it is
// routed.
func routes(chain *aggauth.Chain, store *demo.Store, metrics http.Handler) http.Handler {
	api := &widgets{store: store}
	r := chi.NewRouter()
	r.Use(chain.Handler)
	r.NotFound(demo.NotFound)
	r.MethodNotAllowed(demo.MethodNotAllowed)

	// Discovery: the aggregator marks the APIService Available once the
	// version answers 200.
	r.Get("/apis", demo.ServeAPIs)
	r.Get("/apis/demo.aggauth.io", discovery(demo.APIGroup))
	r.Route("/apis/demo.aggauth.io/v1", func(r chi.Router) {
		r.Get("/", discovery(demo.APIResourceList))
		r.Get("/widgets", api.list) // all namespaces
		r.Route("/namespaces/{namespace}/widgets", func(r chi.Router) {
			r.Get("/", api.list)
			r.Post("/", api.create)
			r.Get("/{name}", api.get)
			r.Delete("/{name}", api.delete)
		})
	})

	r.Method(http.MethodGet, "/metrics", metrics)
	return r
}

func discovery(doc any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		demo.WriteObject(w, http.StatusOK, doc)
	}
}

type widgets struct{ store *demo.Store }

func (a *widgets) list(w http.ResponseWriter, r *http.Request) {
	caller, _ := request.UserFrom(r.Context()) // the user kube-apiserver forwarded, as aggauth authenticated it
	slog.DebugContext(r.Context(), "list widgets", "user", demo.Username(caller))
	demo.WriteObject(w, http.StatusOK, a.store.List(chi.URLParam(r, "namespace")))
}

func (a *widgets) get(w http.ResponseWriter, r *http.Request) {
	caller, _ := request.UserFrom(r.Context())
	slog.DebugContext(r.Context(), "get widget", "user", demo.Username(caller))
	obj, err := a.store.Get(chi.URLParam(r, "namespace"), chi.URLParam(r, "name"))
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
	obj, err := a.store.Create(chi.URLParam(r, "namespace"), in, caller) // status.createdBy records the caller
	if err != nil {
		middleware.WriteStatus(w, err)
		return
	}
	demo.WriteObject(w, http.StatusCreated, obj)
}

func (a *widgets) delete(w http.ResponseWriter, r *http.Request) {
	caller, _ := request.UserFrom(r.Context())
	_, reason, _ := middleware.DecisionFrom(r.Context()) // why the authorizer allowed it
	slog.InfoContext(r.Context(), "delete widget", "user", demo.Username(caller), "reason", reason)
	status, err := a.store.Delete(chi.URLParam(r, "namespace"), chi.URLParam(r, "name"))
	if err != nil {
		middleware.WriteStatus(w, err)
		return
	}
	demo.WriteObject(w, http.StatusOK, status)
}
