package routing_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/internal/testutil"
	"github.com/aggauth/aggauth/middleware"
	"github.com/aggauth/aggauth/requestinfo"
)

// The routes every router serves, in ServeMux and chi syntax.
const (
	collection = "/apis/demo.aggauth.io/v1/namespaces/{namespace}/widgets"
	object     = collection + "/{name}"
)

// dispatch is what a router dispatched a request to, and the RequestInfo in
// the request's context at that point.
type dispatch struct {
	called          bool
	namespace, name string
	info            *request.RequestInfo
}

func (d *dispatch) record(r *http.Request, namespace, name string) {
	d.called, d.namespace, d.name = true, namespace, name
	d.info, _ = request.RequestInfoFrom(r.Context())
}

// A router is built around a middleware (RequestAttributes, or another step
// in the demonstrations) and records its dispatches in d.
type router func(mw func(http.Handler) http.Handler, d *dispatch) http.Handler

var routers = []struct {
	name  string
	build router
}{
	{"net/http ServeMux", serveMux},
	{"chi, r.Use", func(mw func(http.Handler) http.Handler, d *dispatch) http.Handler { return chiRouter(mw, d, true) }},
	{"chi, wrapped", func(mw func(http.Handler) http.Handler, d *dispatch) http.Handler { return chiRouter(mw, d, false) }},
	{"gin", func(mw func(http.Handler) http.Handler, d *dispatch) http.Handler { return ginEngine(mw, d, false) }},
	{"gin, UseRawPath", func(mw func(http.Handler) http.Handler, d *dispatch) http.Handler {
		return ginEngine(mw, d, false, func(e *gin.Engine) { e.UseRawPath = true })
	}},
}

func serveMux(mw func(http.Handler) http.Handler, d *dispatch) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+collection, func(w http.ResponseWriter, r *http.Request) { d.record(r, r.PathValue("namespace"), "") })
	mux.HandleFunc("GET "+object, func(w http.ResponseWriter, r *http.Request) {
		d.record(r, r.PathValue("namespace"), r.PathValue("name"))
	})
	return mw(mux)
}

// chiRouter uses mw as chi middleware (use) or wraps the router with it.
func chiRouter(mw func(http.Handler) http.Handler, d *dispatch, use bool) http.Handler {
	r := chi.NewRouter()
	if use {
		r.Use(mw)
	}
	r.Get(collection, func(w http.ResponseWriter, r *http.Request) { d.record(r, chi.URLParam(r, "namespace"), "") })
	r.Get(object, func(w http.ResponseWriter, r *http.Request) {
		d.record(r, chi.URLParam(r, "namespace"), chi.URLParam(r, "name"))
	})
	if use {
		return r
	}
	return mw(r)
}

// ginEngine is a gin engine wrapped with mw, with gin's redirects on or off.
func ginEngine(mw func(http.Handler) http.Handler, d *dispatch, redirects bool, opts ...func(*gin.Engine)) http.Handler {
	e := gin.New()
	e.RedirectTrailingSlash, e.RedirectFixedPath = redirects, redirects
	for _, o := range opts {
		o(e)
	}
	g := e.Group("/apis/demo.aggauth.io/v1/namespaces/:namespace/widgets")
	g.GET("", func(c *gin.Context) { d.record(c.Request, c.Param("namespace"), "") })
	g.GET("/:name", func(c *gin.Context) { d.record(c.Request, c.Param("namespace"), c.Param("name")) })
	return mw(e)
}

func init() { gin.SetMode(gin.TestMode) }

// parse reads target as Go's HTTP server reads a request line; ok is false
// when the server would refuse it before any handler runs.
func parse(target string) (*http.Request, bool) {
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: widgets\r\n\r\n")))
	return r, err == nil
}

func requestAttributes(t *testing.T) func(http.Handler) http.Handler {
	ra, err := middleware.NewRequestAttributes(middleware.RequestAttributesOptions{})
	require.NoError(t, err)
	return ra.Handler
}

// refuses reports whether RequestAttributes alone refuses target.
func refuses(ra func(http.Handler) http.Handler, target string) bool {
	r, _ := parse(target)
	passed := false
	ra(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { passed = true })).ServeHTTP(httptest.NewRecorder(), r)
	return !passed
}

// TestRoutersServeTheResolvedRequest: behind RequestAttributes, for every path
// of the corpus and every router, either RequestAttributes refused the
// request with a 400 Status, or the router dispatched it to the namespace and
// name of the RequestInfo that was resolved (what the chain authorizes and
// admits), or the router answered 404 or 405 without dispatching it: never a
// redirect, never another object.
func TestRoutersServeTheResolvedRequest(t *testing.T) {
	ra := requestAttributes(t)
	paths := validPaths(t)
	for _, rt := range routers {
		t.Run(rt.name, func(t *testing.T) {
			d := new(dispatch)
			h := rt.build(ra, d)
			var refused, equal, notRouted int
			for _, target := range paths {
				w := serve(h, d, target)
				switch {
				case refuses(ra, target):
					refused++
					assert.False(t, d.called, "%s: refused, yet dispatched", target)
					checkStatus(t, target, w, http.StatusBadRequest)
				case d.called:
					equal++
					checkResolved(t, target, d)
				default:
					notRouted++
					if w.Code != http.StatusNotFound && w.Code != http.StatusMethodNotAllowed {
						t.Errorf("%s: got %d, Location %q; want 404 or 405", target, w.Code, w.Header().Get("Location"))
					}
				}
			}
			t.Logf("%d paths: %d refused (400), %d dispatched to the resolved namespace and name, %d not routed (404/405)",
				len(paths), refused, equal, notRouted)
			assert.Positive(t, refused)
			assert.Positive(t, equal)
			assert.Positive(t, notRouted)
		})
	}
}

// TestWithoutRequestAttributes shows that the test above can fail: with the
// RequestInfo resolved but the URL left alone, chi routes on URL.RawPath and
// dispatches another namespace than the one Kubernetes resolved; and gin with
// its default redirect settings answers 3xx, which the aggregator turns into
// 502.
func TestWithoutRequestAttributes(t *testing.T) {
	paths := validPaths(t)
	t.Run("chi dispatches another namespace", func(t *testing.T) {
		d := new(dispatch)
		h := chiRouter(resolveOnly, d, true)
		serve(h, d, "/apis/demo.aggauth.io/v1/namespaces/%64efault/widgets/w1")
		require.True(t, d.called)
		assert.Equal(t, "%64efault", d.namespace, "chi's namespace")
		assert.Equal(t, "default", d.info.Namespace, "the namespace Kubernetes resolved")

		for _, rt := range routers {
			d := new(dispatch)
			h := rt.build(resolveOnly, d)
			mismatches := 0
			for _, target := range paths {
				serve(h, d, target)
				if d.called && (d.namespace != d.info.Namespace || d.name != d.info.Name) {
					mismatches++
				}
			}
			t.Logf("%s without RequestAttributes: %d of %d paths dispatched to another namespace or name than resolved", rt.name, mismatches, len(paths))
			if strings.HasPrefix(rt.name, "chi") {
				assert.Positive(t, mismatches, rt.name)
			}
		}
	})
	t.Run("gin redirects by default", func(t *testing.T) {
		d := new(dispatch)
		h := ginEngine(requestAttributes(t), d, true)
		w := serve(h, d, "/apis/demo.aggauth.io/v1/namespaces/default/widgets/")
		assert.Equal(t, http.StatusMovedPermanently, w.Code)
		redirects := 0
		for _, target := range paths {
			if w := serve(h, d, target); w.Code >= 300 && w.Code < 400 {
				redirects++
			}
		}
		t.Logf("gin with RedirectTrailingSlash and RedirectFixedPath: %d of %d paths redirected", redirects, len(paths))
		assert.Positive(t, redirects)
	})
}

// validPaths is the corpus without the paths Go's server refuses itself.
func validPaths(t *testing.T) []string {
	all := corpus()
	var out []string
	for _, p := range all {
		if _, ok := parse(p); ok {
			out = append(out, p)
		}
	}
	t.Logf("corpus: %d paths, %d that Go's HTTP server parses", len(all), len(out))
	return out
}

// serve sends GET target to h, with d reset.
func serve(h http.Handler, d *dispatch, target string) *httptest.ResponseRecorder {
	r, _ := parse(target)
	*d = dispatch{}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// checkResolved: the router dispatched target to the widget (or widgets) the
// RequestInfo names.
func checkResolved(t *testing.T, target string, d *dispatch) {
	t.Helper()
	info := d.info
	if !assert.NotNil(t, info, "%s: no RequestInfo", target) {
		return
	}
	got := [...]string{d.namespace, d.name, "widgets", "demo.aggauth.io", "v1", ""}
	want := [...]string{info.Namespace, info.Name, info.Resource, info.APIGroup, info.APIVersion, info.Subresource}
	assert.Equal(t, want, got, "%s: dispatched (namespace, name, resource, group, version, subresource); want the RequestInfo's", target)
	assert.True(t, info.IsResourceRequest, "%s", target)
}

// checkStatus: w is a Status with code.
func checkStatus(t *testing.T, target string, w *httptest.ResponseRecorder, code int) {
	t.Helper()
	if assert.Equal(t, code, w.Code, "%s: %s", target, w.Body) {
		testutil.RecordedStatus(t, w) // kind Status, code code
	}
}

// resolveOnly puts the RequestInfo Kubernetes resolves into the context, as a
// filter that authorizes it would, and passes the request on unchanged.
func resolveOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, err := requestinfo.New(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		next.ServeHTTP(w, r.WithContext(request.WithRequestInfo(r.Context(), info)))
	})
}

// TestGinUseEscapedPath: gin's UseEscapedPath unescapes path values with
// url.QueryUnescape, which reads "+" as a space, so behind RequestAttributes
// too gin dispatches /namespaces/default+ to "default ". "+" is a valid path
// character, so RequestAttributes cannot refuse it: do not turn
// UseEscapedPath on (the example uses gin's default, URL.Path).
func TestGinUseEscapedPath(t *testing.T) {
	d := new(dispatch)
	h := ginEngine(requestAttributes(t), d, false, func(e *gin.Engine) { e.UseEscapedPath = true })
	serve(h, d, "/apis/demo.aggauth.io/v1/namespaces/default+/widgets/w1")
	require.True(t, d.called)
	assert.Equal(t, "default ", d.namespace, "gin's namespace")
	assert.Equal(t, "default+", d.info.Namespace, "the namespace Kubernetes resolved")

	mismatches := 0
	for _, target := range validPaths(t) {
		serve(h, d, target)
		if d.called && (d.namespace != d.info.Namespace || d.name != d.info.Name) {
			mismatches++
			assert.Contains(t, target, "+", "the only divergence is the plus sign")
		}
	}
	t.Logf("gin with UseEscapedPath behind RequestAttributes: %d paths dispatched to another namespace or name than resolved, all with a +", mismatches)
}
