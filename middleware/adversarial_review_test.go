package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/middleware"
)

// allowAll allows everything, impersonation included.
var allowAll = authorizer.AuthorizerFunc(func(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
	return authorizer.DecisionAllow, "", nil
})

// advStack is the steps composed one by one, as the middleware doc allows,
// with the user's filter between authentication and impersonation (where
// Kubernetes puts its audit filter, DefaultBuildHandlerChain):
// Authentication -> filter -> RequestAttributes -> Impersonation ->
// Authorization -> h. The caller is alice; she impersonates bob.
func advStack(t *testing.T, filter func(http.Handler) http.Handler, h http.Handler) http.Handler {
	t.Helper()
	an, err := middleware.NewAuthentication(middleware.AuthenticationOptions{Authenticator: authenticator.RequestFunc(
		func(*http.Request) (*authenticator.Response, bool, error) {
			return &authenticator.Response{User: &user.DefaultInfo{Name: "alice", Groups: []string{user.AllAuthenticated}}}, true, nil
		})})
	require.NoError(t, err)
	im, err := middleware.NewImpersonation(middleware.ImpersonationOptions{Authorizer: allowAll})
	require.NoError(t, err)
	return an.Handler(filter(requestAttributes(im.Handler(authorize(t, allowAll, middleware.AuthorizationOptions{})(h)))))
}

func advRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/apis/demo.aggauth.io/v1/namespaces/default/widgets", nil)
	r.Header.Set("Impersonate-User", "bob")
	return r
}

// Attack on the request state being the request's context (state.go): a
// filter between Authentication and Impersonation (an access log or audit
// filter, in Kubernetes' own place for it) reads the user from its request's
// context after the handler returned, to record who made the request. It
// must read alice, who called, not bob, whom she impersonated: what a context
// answers never changes once a filter holds it (impersonation publishes its
// user in a layer of its own).
func TestAdversarialOuterContextUserRewrittenAfterTheFact(t *testing.T) {
	var before, after string
	logFilter := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			u, _ := request.UserFrom(ctx)
			before = u.GetName()
			next.ServeHTTP(w, r)
			u, _ = request.UserFrom(ctx)
			after = u.GetName()
		})
	}
	rec := httptest.NewRecorder()
	advStack(t, logFilter, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := request.UserFrom(r.Context())
		require.Equal(t, "bob", u.GetName(), "the handler runs as the impersonated user")
	})).ServeHTTP(rec, advRequest())
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "alice", before)
	if after != "alice" {
		t.Fatalf("the filter's own context says the user is %q after the request; want %q, the caller (it was %q before)", after, "alice", before)
	}
}

// The same attack with -race: contexts are for use by several goroutines at
// once. A filter between steps hands its context to a goroutine (a tracing
// span, a context.AfterFunc that logs the user, a watchdog) while the later
// steps change the state: what the context reads must not be what they write.
func TestAdversarialContextDataRace(t *testing.T) {
	var wg sync.WaitGroup
	watch := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			stop := make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if u, ok := request.UserFrom(ctx); ok {
						_ = u.GetName()
					}
					request.RequestInfoFrom(ctx)
				}
			}()
			next.ServeHTTP(w, r)
			close(stop)
		})
	}
	for range 20 {
		advStack(t, watch, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(httptest.NewRecorder(), advRequest())
	}
	wg.Wait()
}
