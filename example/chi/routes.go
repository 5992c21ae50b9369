package main

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/discovery"
	"github.com/aggauth/aggauth/example/internal/demo"
)

// routes is the whole API on a chi router. aggauth's chain and the discovery
// documents (disc, which also refuses undeclared verbs with a 405) are chi
// middlewares, in that order: /healthz, /livez and /readyz answer without
// authentication; every other request is authenticated, authorized with a
// SubjectAccessReview and, for a create, checked against the namespace
// lifecycle before discovery answers it or it is routed. chi routes on
// URL.RawPath when it is set; the chain clears it, so chi.URLParam is the
// namespace that was authorized. The handlers are demo.API's, one per
// declared verb.
func routes(chain *aggauth.Chain, disc *discovery.Discovery, store *demo.Store, metrics http.Handler) http.Handler {
	api := demo.API{Store: store}
	route := func(h demo.Handler) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			h(w, r, chi.URLParam(r, "namespace"), chi.URLParam(r, "name"))
		}
	}
	r := chi.NewRouter()
	r.Use(chain.Handler, disc.Handler, demo.NoDryRun)
	r.NotFound(demo.NotFound)
	r.MethodNotAllowed(demo.MethodNotAllowed)

	r.Route("/apis/demo.aggauth.io/v1", func(r chi.Router) {
		r.Get("/widgets", route(api.List)) // all namespaces
		r.Route("/namespaces/{namespace}/widgets", func(r chi.Router) {
			r.Get("/", route(api.List)) // list and watch
			r.Post("/", route(api.Create))
			r.Delete("/", route(api.DeleteCollection))
			r.Get("/{name}", route(api.Get))
			r.Put("/{name}", route(api.Update))
			r.Patch("/{name}", route(api.Patch))
			r.Delete("/{name}", route(api.Delete))
			r.Get("/{name}/status", route(api.Get))
		})
	})

	r.Method(http.MethodGet, "/metrics", metrics)
	return r
}
