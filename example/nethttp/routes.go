package main

import (
	"net/http"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/discovery"
	"github.com/aggauth/aggauth/example/internal/demo"
)

// routes is the whole API on an http.ServeMux, wrapped in aggauth's chain:
// /healthz, /livez and /readyz answer without authentication; every other
// request is authenticated, authorized with a SubjectAccessReview and, for a
// create, checked against the namespace lifecycle before it reaches the
// discovery documents (disc, which also refuses undeclared verbs with a 405)
// or the mux. The handlers are demo.API's, one per declared verb, given the
// namespace and name the mux read from the path.
func routes(chain *aggauth.Chain, disc *discovery.Discovery, store *demo.Store, metrics http.Handler) http.Handler {
	api := demo.API{Store: store}
	route := func(h demo.Handler) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { h(w, r, r.PathValue("namespace"), r.PathValue("name")) }
	}
	const widgets = "/apis/demo.aggauth.io/v1/namespaces/{namespace}/widgets"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /apis/demo.aggauth.io/v1/widgets", route(api.List)) // all namespaces
	mux.HandleFunc("GET "+widgets, route(api.List))                         // list and watch
	mux.HandleFunc("POST "+widgets, route(api.Create))
	mux.HandleFunc("DELETE "+widgets, route(api.DeleteCollection))
	mux.HandleFunc("GET "+widgets+"/{name}", route(api.Get))
	mux.HandleFunc("PUT "+widgets+"/{name}", route(api.Update))
	mux.HandleFunc("PATCH "+widgets+"/{name}", route(api.Patch))
	mux.HandleFunc("DELETE "+widgets+"/{name}", route(api.Delete))
	mux.HandleFunc("GET "+widgets+"/{name}/status", route(api.Get))

	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("/", demo.NotFound)

	return chain.Handler(disc.Handler(demo.NoDryRun(mux)))
}
