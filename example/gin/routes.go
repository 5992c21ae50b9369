package main

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/discovery"
	"github.com/aggauth/aggauth/example/internal/demo"
	"github.com/aggauth/aggauth/middleware"
	"github.com/aggauth/aggauth/serving"
)

// routes is the whole API on a gin engine, wrapped in aggauth's chain and the
// discovery documents (disc), which are http.Handler middlewares and so wrap
// the engine: /healthz, /livez and /readyz answer without authentication;
// every other request is authenticated, authorized with a SubjectAccessReview
// and, for a create, checked against the namespace lifecycle before discovery
// answers it or gin routes it.
func routes(chain *aggauth.Chain, disc *discovery.Discovery, store *demo.Store, metrics http.Handler) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	api := &widgets{store: store}
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
	v1.GET("/widgets", api.list) // all namespaces
	v1.GET("/namespaces/:namespace/widgets", api.list)
	v1.POST("/namespaces/:namespace/widgets", api.create)
	v1.GET("/namespaces/:namespace/widgets/:name", api.get)
	v1.PATCH("/namespaces/:namespace/widgets/:name", api.patch)
	v1.DELETE("/namespaces/:namespace/widgets/:name", api.delete)

	r.GET("/metrics", gin.WrapH(metrics))
	return chain.Handler(disc.Handler(demo.NoDryRun(r)))
}

type widgets struct{ store *demo.Store }

func (a *widgets) list(c *gin.Context) {
	caller, _ := request.UserFrom(c.Request.Context()) // the user kube-apiserver forwarded, as aggauth authenticated it
	slog.DebugContext(c.Request.Context(), "list widgets", "user", demo.Username(caller))
	// The selectors are part of what was authorized: a list with
	// ?fieldSelector=metadata.name=x may be allowed for x alone.
	sel, err := middleware.SelectorsFrom(c.Request.Context())
	if err != nil {
		middleware.WriteStatus(c.Writer, err) // a 400 Status for a bad or unsupported selector
		return
	}
	demo.WriteObject(c.Writer, http.StatusOK, a.store.List(c.Param("namespace"), sel))
}

func (a *widgets) get(c *gin.Context) {
	name := c.Param("name")
	if demo.Demonstrate(c.Request.Context(), name) { // demo-panic panics, demo-slow waits: serving answers 500 or 504
		return
	}
	caller, _ := request.UserFrom(c.Request.Context())
	auditID, _ := serving.AuditIDFrom(c.Request.Context()) // kube-apiserver's, forwarded by its aggregator
	slog.DebugContext(c.Request.Context(), "get widget", "user", demo.Username(caller), "auditID", auditID)
	obj, err := a.store.Get(c.Param("namespace"), name)
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
	// spec.color defaults to gray, with a warning kubectl prints.
	demo.Default(c.Request.Context(), in)
	obj, err := a.store.Create(c.Param("namespace"), in, caller) // status.createdBy records the caller
	if err != nil {
		middleware.WriteStatus(c.Writer, err)
		return
	}
	// The audit ID is kube-apiserver's for this request, as its audit log records it.
	auditID, _ := serving.AuditIDFrom(c.Request.Context())
	slog.InfoContext(c.Request.Context(), "created widget", "namespace", obj.Namespace, "name", obj.Name,
		"user", demo.Username(caller), "auditID", auditID)
	demo.WriteObject(c.Writer, http.StatusCreated, obj)
}

func (a *widgets) patch(c *gin.Context) {
	obj, err := a.store.Patch(c.Writer, c.Request, c.Param("namespace"), c.Param("name"))
	if err != nil {
		middleware.WriteStatus(c.Writer, err)
		return
	}
	demo.WriteObject(c.Writer, http.StatusOK, obj)
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
