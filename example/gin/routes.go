package main

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/discovery"
	"github.com/aggauth/aggauth/example/internal/demo"
)

// routes is the whole API on a gin engine, wrapped in aggauth's chain and the
// discovery documents (disc, which also refuses undeclared verbs with a 405),
// which are http.Handler middlewares and so wrap the engine: /healthz,
// /livez and /readyz answer without authentication; every other request is
// authenticated, authorized with a SubjectAccessReview and, for a create,
// checked against the namespace lifecycle before discovery answers it or gin
// routes it. The handlers are demo.API's, one per declared verb.
func routes(chain *aggauth.Chain, disc *discovery.Discovery, store *demo.Store, metrics http.Handler) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	api := demo.API{Store: store}
	route := func(h demo.Handler) gin.HandlerFunc {
		return func(c *gin.Context) { h(c.Writer, c.Request, c.Param("namespace"), c.Param("name")) }
	}
	r := gin.New() // no gin.Logger: the server logs with log/slog
	// No redirects: kube-apiserver's aggregator answers 502 to any 3xx with a
	// Location from an extension apiserver (--aggregator-reject-forwarding-redirect,
	// default true), so a trailing slash or a wrong case would make kubectl
	// print "the backend attempted to redirect this request, which is not
	// permitted" instead of a 404 users can act on.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	// No gin.Recovery: serving's Recover, around the chain, turns a panic into
	// the 500 InternalError Status kube-apiserver writes; gin's would answer
	// an empty 500 first.
	r.NoRoute(gin.WrapF(demo.NotFound))

	v1 := r.Group("/apis/demo.aggauth.io/v1")
	v1.GET("/widgets", route(api.List)) // all namespaces
	widgets := v1.Group("/namespaces/:namespace/widgets")
	widgets.GET("", route(api.List)) // list and watch
	widgets.POST("", route(api.Create))
	widgets.DELETE("", route(api.DeleteCollection))
	widgets.GET("/:name", route(api.Get))
	widgets.PUT("/:name", route(api.Update))
	widgets.PATCH("/:name", route(api.Patch))
	widgets.DELETE("/:name", route(api.Delete))
	widgets.GET("/:name/status", route(api.Get))

	r.GET("/metrics", gin.WrapH(metrics))
	return chain.Handler(disc.Handler(demo.NoDryRun(r)))
}
