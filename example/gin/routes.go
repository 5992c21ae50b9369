package main

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/example/internal/demo"
	"github.com/aggauth/aggauth/middleware"
)

// routes is the whole API on a gin engine, wrapped in aggauth's chain (an
// http.Handler middleware, so it wraps the engine): /healthz, /livez and
// /readyz answer without authentication; every other request is
// authenticated, authorized with a SubjectAccessReview and, for a create,
// checked against the namespace lifecycle before gin routes it.
func routes(chain *aggauth.Chain, store *demo.Store, metrics http.Handler) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	api := &widgets{store: store}
	r := gin.New() // no gin.Logger: the server logs with log/slog
	r.Use(gin.Recovery())
	r.NoRoute(gin.WrapF(demo.NotFound))

	// Discovery: the aggregator marks the APIService Available once the
	// version answers 200.
	r.GET("/apis", gin.WrapF(demo.ServeAPIs))
	r.GET("/apis/demo.aggauth.io", discovery(demo.APIGroup))
	v1 := r.Group("/apis/demo.aggauth.io/v1")
	v1.GET("", discovery(demo.APIResourceList))
	v1.GET("/widgets", api.list) // all namespaces
	v1.GET("/namespaces/:namespace/widgets", api.list)
	v1.POST("/namespaces/:namespace/widgets", api.create)
	v1.GET("/namespaces/:namespace/widgets/:name", api.get)
	v1.DELETE("/namespaces/:namespace/widgets/:name", api.delete)

	r.GET("/metrics", gin.WrapH(metrics))
	return chain.Handler(r)
}

func discovery(doc any) gin.HandlerFunc {
	return func(c *gin.Context) {
		demo.WriteObject(c.Writer, http.StatusOK, doc)
	}
}

type widgets struct{ store *demo.Store }

func (a *widgets) list(c *gin.Context) {
	caller, _ := request.UserFrom(c.Request.Context()) // the user kube-apiserver forwarded, as aggauth authenticated it
	slog.DebugContext(c.Request.Context(), "list widgets", "user", demo.Username(caller))
	demo.WriteObject(c.Writer, http.StatusOK, a.store.List(c.Param("namespace")))
}

func (a *widgets) get(c *gin.Context) {
	caller, _ := request.UserFrom(c.Request.Context())
	slog.DebugContext(c.Request.Context(), "get widget", "user", demo.Username(caller))
	obj, err := a.store.Get(c.Param("namespace"), c.Param("name"))
	if err != nil {
		middleware.WriteStatus(c.Writer, err) // a NotFound Status, as kube-apiserver writes it
		return
	}
	demo.WriteObject(c.Writer, http.StatusOK, obj)
}

func (a *widgets) create(c *gin.Context) {
	caller, _ := request.UserFrom(c.Request.Context())
	in, err := demo.DecodeWidget(c.Writer, c.Request)
	if err != nil {
		middleware.WriteStatus(c.Writer, err)
		return
	}
	obj, err := a.store.Create(c.Param("namespace"), in, caller) // status.createdBy records the caller
	if err != nil {
		middleware.WriteStatus(c.Writer, err)
		return
	}
	demo.WriteObject(c.Writer, http.StatusCreated, obj)
}

func (a *widgets) delete(c *gin.Context) {
	caller, _ := request.UserFrom(c.Request.Context())
	_, reason, _ := middleware.DecisionFrom(c.Request.Context()) // why the authorizer allowed it
	slog.InfoContext(c.Request.Context(), "delete widget", "user", demo.Username(caller), "reason", reason)
	status, err := a.store.Delete(c.Param("namespace"), c.Param("name"))
	if err != nil {
		middleware.WriteStatus(c.Writer, err)
		return
	}
	demo.WriteObject(c.Writer, http.StatusOK, status)
}
