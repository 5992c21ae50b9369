package middleware_test

import (
	"context"
	"errors"
	"fmt"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/request"

	"k8s.io/client-go/kubernetes/scheme"

	"github.com/aggauth/aggauth/authz"
	"github.com/aggauth/aggauth/internal/testutil"
	"github.com/aggauth/aggauth/middleware"
	"github.com/aggauth/aggauth/status"
)

// testCodecs is what kube-apiserver's filters negotiate the Status with.
var testCodecs = scheme.Codecs

// fixedAuthorizer answers every request the same way and records what it saw.
type fixedAuthorizer struct {
	decision authorizer.Decision
	reason   string
	err      error
	calls    int
	last     authorizer.Attributes
}

func (f *fixedAuthorizer) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	f.calls++
	f.last = a
	return f.decision, f.reason, f.err
}

var alice = &user.DefaultInfo{Name: "alice", Groups: []string{"system:authenticated"}}

func TestAuthorize(t *testing.T) {
	boom := errors.New("kube-apiserver unreachable")
	tests := []struct {
		name, method, target string
		authz                fixedAuthorizer
		opts                 middleware.AuthorizationOptions
		wantCode             int
		wantMessage          string
		wantRetryAfter       string
		wantDetails          *metav1.StatusDetails
	}{
		{name: "allow", method: "GET", target: "/apis/apps/v1/namespaces/ns/deployments/web",
			authz: fixedAuthorizer{decision: authorizer.DecisionAllow, reason: "RBAC: allowed"}, wantCode: http.StatusNoContent},
		{name: "allow with error is allowed, as in Kubernetes", method: "GET", target: "/healthz",
			authz: fixedAuthorizer{decision: authorizer.DecisionAllow, err: boom}, wantCode: http.StatusNoContent},
		{name: "deny", method: "GET", target: "/apis/apps/v1/namespaces/ns/deployments/web",
			authz: fixedAuthorizer{decision: authorizer.DecisionDeny, reason: "denied by policy"}, wantCode: http.StatusForbidden,
			wantMessage: `deployments.apps "web" is forbidden: User "alice" cannot get resource "deployments" in API group "apps" in the namespace "ns": denied by policy`,
			wantDetails: &metav1.StatusDetails{Name: "web", Group: "apps", Kind: "deployments"}},
		{name: "no opinion", method: "POST", target: "/api/v1/namespaces",
			authz: fixedAuthorizer{decision: authorizer.DecisionNoOpinion}, wantCode: http.StatusForbidden,
			wantMessage: `namespaces is forbidden: User "alice" cannot create resource "namespaces" in API group "" at the cluster scope`,
			wantDetails: &metav1.StatusDetails{Kind: "namespaces"}},
		{name: "subresource", method: "PUT", target: "/api/v1/namespaces/ns/pods/p/status",
			authz: fixedAuthorizer{decision: authorizer.DecisionNoOpinion, reason: "r"}, wantCode: http.StatusForbidden,
			wantMessage: `pods "p" is forbidden: User "alice" cannot update resource "pods/status" in API group "" in the namespace "ns": r`,
			wantDetails: &metav1.StatusDetails{Name: "p", Kind: "pods"}},
		{name: "non-resource", method: "GET", target: "/metrics",
			authz: fixedAuthorizer{decision: authorizer.DecisionNoOpinion}, wantCode: http.StatusForbidden,
			wantMessage: `forbidden: User "alice" cannot get path "/metrics"`, wantDetails: &metav1.StatusDetails{}},
		{name: "deny with error is a denial", method: "GET", target: "/metrics",
			authz: fixedAuthorizer{decision: authorizer.DecisionDeny, err: boom}, wantCode: http.StatusForbidden,
			wantMessage: `forbidden: User "alice" cannot get path "/metrics"`, wantDetails: &metav1.StatusDetails{}},
		{name: "error", method: "GET", target: "/api/v1/pods",
			authz: fixedAuthorizer{decision: authorizer.DecisionNoOpinion, err: boom}, wantCode: http.StatusServiceUnavailable,
			wantMessage:    "the authorization check for this request could not be completed; retry later",
			wantRetryAfter: "1", wantDetails: &metav1.StatusDetails{RetryAfterSeconds: 1}},
		{name: "error, retry after rounded up", method: "GET", target: "/api/v1/pods", opts: middleware.AuthorizationOptions{RetryAfter: 2500 * time.Millisecond},
			authz: fixedAuthorizer{decision: authorizer.DecisionNoOpinion, err: boom}, wantCode: http.StatusServiceUnavailable,
			wantMessage:    "the authorization check for this request could not be completed; retry later",
			wantRetryAfter: "3", wantDetails: &metav1.StatusDetails{RetryAfterSeconds: 3}},
		{name: "too many checks in flight", method: "GET", target: "/api/v1/pods",
			authz: fixedAuthorizer{decision: authorizer.DecisionNoOpinion, err: authzTooMany}, wantCode: http.StatusTooManyRequests,
			wantMessage:    "too many requests are waiting for their authorization check; retry later",
			wantRetryAfter: "1", wantDetails: &metav1.StatusDetails{RetryAfterSeconds: 1}},
		{name: "the review client panicked", method: "GET", target: "/api/v1/pods",
			authz: fixedAuthorizer{decision: authorizer.DecisionNoOpinion, err: authzPanicked}, wantCode: http.StatusInternalServerError,
			wantMessage: "Internal error occurred: the authorization check for this request failed unexpectedly",
			wantDetails: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Message: "the authorization check for this request failed unexpectedly"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, withAttributes := range []bool{true, false} {
				var s seen
				a := tt.authz
				h := authorize(t, &a, tt.opts)(s.handler())
				if withAttributes {
					h = requestAttributes(h)
				}
				req := withUser(httptest.NewRequest(tt.method, tt.target, nil), alice)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)

				require.Equal(t, tt.wantCode, rec.Code)
				require.Equal(t, 1, a.calls)
				assert.Equal(t, alice, a.last.GetUser())
				if tt.wantCode == http.StatusNoContent {
					require.True(t, s.called)
					assert.True(t, s.hasDec)
					assert.Equal(t, a.decision, s.dec)
					assert.Equal(t, a.reason, s.reason)
					assert.Same(t, a.last, s.attrs, "handlers see the attributes that were authorized")
					want, _ := kubeResolver.NewRequestInfo(req)
					assert.Equal(t, want, s.info)
					continue
				}
				assert.False(t, s.called, "a refused request must not reach the handler")
				st := testutil.RecordedStatus(t, rec)
				assert.Equal(t, tt.wantMessage, st.Message)
				assert.Equal(t, tt.wantDetails, st.Details)
				assert.Equal(t, tt.wantRetryAfter, rec.Header().Get("Retry-After"))
				assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
			}
		})
	}
}

// TestAuthorizeForbiddenMatchesKubernetes compares the 403 Status with the one
// kube-apiserver's authorization filter writes.
func TestAuthorizeForbiddenMatchesKubernetes(t *testing.T) {
	deny := authorizer.AuthorizerFunc(func(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
		return authorizer.DecisionDeny, "nope", nil
	})
	for _, target := range []string{"/apis/apps/v1/namespaces/ns/deployments/web", "/api/v1/nodes", "/version", "/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Dp"} {
		t.Run(target, func(t *testing.T) {
			req := withUser(httptest.NewRequest("GET", target, nil), alice)
			ours := httptest.NewRecorder()
			requestAttributes(authorize(t, deny, middleware.AuthorizationOptions{})(http.NotFoundHandler())).ServeHTTP(ours, req)
			kube := httptest.NewRecorder()
			filters.WithRequestInfo(filters.WithAuthorization(http.NotFoundHandler(), deny, testCodecs), kubeResolver).ServeHTTP(kube, req)

			require.Equal(t, kube.Code, ours.Code)
			assert.Equal(t, testutil.RecordedStatus(t, kube), testutil.RecordedStatus(t, ours))
		})
	}
}

func TestAuthorizeWithoutUser(t *testing.T) {
	var s seen
	a := &fixedAuthorizer{decision: authorizer.DecisionAllow}
	rec := httptest.NewRecorder()
	authorize(t, a, middleware.AuthorizationOptions{})(s.handler()).ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.False(t, s.called)
	assert.Zero(t, a.calls)
	testutil.RecordedStatus(t, rec)
}

// TestAuthorizeUsesTheCurrentUser runs RequestAttributes before the user is
// known, as Kubernetes resolves RequestInfo before authentication.
func TestAuthorizeUsesTheCurrentUser(t *testing.T) {
	var s seen
	a := &fixedAuthorizer{decision: authorizer.DecisionAllow}
	authenticate := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { next.ServeHTTP(w, withUser(r, alice)) })
	}
	h := requestAttributes(authenticate(authorize(t, a, middleware.AuthorizationOptions{})(s.handler())))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/pods", nil))
	require.Equal(t, http.StatusNoContent, rec.Code)
	assert.Equal(t, alice, a.last.GetUser())
}

// TestAuthorizeUsesAnExistingRequestInfo keeps a RequestInfo stored by
// another middleware.
func TestAuthorizeUsesAnExistingRequestInfo(t *testing.T) {
	var s seen
	a := &fixedAuthorizer{decision: authorizer.DecisionAllow}
	info := &request.RequestInfo{IsResourceRequest: true, Verb: "get", Resource: "custom", Path: "/x"}
	req := httptest.NewRequest("GET", "/x", nil)
	req = req.WithContext(request.WithRequestInfo(request.WithUser(req.Context(), alice), info))
	authorize(t, a, middleware.AuthorizationOptions{})(s.handler()).ServeHTTP(httptest.NewRecorder(), req)
	assert.Equal(t, "custom", a.last.GetResource())
	assert.Same(t, info, s.info)
}

func TestAuthorizeUnresolvable(t *testing.T) {
	a := &fixedAuthorizer{decision: authorizer.DecisionAllow}
	rec := httptest.NewRecorder()
	authorize(t, a, middleware.AuthorizationOptions{})(http.NotFoundHandler()).ServeHTTP(rec, withUser(httptest.NewRequest("GET", "/apis/g/v1/proxy", nil), alice))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Zero(t, a.calls)
}

func TestAuthorizationNeedsAnAuthorizer(t *testing.T) {
	_, err := middleware.NewAuthorization(middleware.AuthorizationOptions{})
	assert.ErrorContains(t, err, "Authorizer is required")
}

// failingReviewer is a kube-apiserver that cannot be reached.
type failingReviewer struct{}

func (failingReviewer) Create(context.Context, *authorizationv1.SubjectAccessReview, metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	return nil, errors.New("dial tcp 10.0.0.1:443: connect: connection refused")
}

// TestAuthorizeNeverAllowsOnSARError wires the SubjectAccessReview authorizer:
// a failed review is a 503, never an allow.
func TestAuthorizeNeverAllowsOnSARError(t *testing.T) {
	a, err := authz.New(authz.Options{Client: failingReviewer{}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	var s seen
	h := requestAttributes(authorize(t, a, middleware.AuthorizationOptions{})(s.handler()))
	for _, target := range []string{"/api/v1/pods", "/metrics"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, withUser(httptest.NewRequest("GET", target, nil), alice))
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code, target)
		assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, withUser(httptest.NewRequest("GET", "/healthz", nil), alice))
	assert.Equal(t, http.StatusNoContent, rec.Code, "always-allowed paths need no review")
	assert.Equal(t, uint64(2), a.ReviewsSent())
}

func ExampleAuthorization() {
	// Any authorizer.Authorizer works; an *authz.Authorizer asks kube-apiserver.
	readOnly := authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if a.IsReadOnly() {
			return authorizer.DecisionAllow, "read-only", nil
		}
		return authorizer.DecisionNoOpinion, "", nil
	})
	// Stands in for the authentication middleware, which stores the user.
	authenticate := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(request.WithUser(r.Context(), &user.DefaultInfo{Name: "alice"})))
		})
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, _ := request.RequestInfoFrom(r.Context())
		_, reason, _ := middleware.DecisionFrom(r.Context())
		fmt.Fprintf(w, "%s %s (%s)", info.Verb, info.Resource, reason)
	})
	attributes, err := middleware.NewRequestAttributes(middleware.RequestAttributesOptions{})
	if err != nil {
		panic(err)
	}
	authorization, err := middleware.NewAuthorization(middleware.AuthorizationOptions{Authorizer: readOnly})
	if err != nil {
		panic(err)
	}
	h := authenticate(attributes.Handler(authorization.Handler(handler)))

	for _, r := range []*http.Request{
		httptest.NewRequest("GET", "/apis/widgets.example.com/v1/namespaces/team-a/widgets", nil),
		httptest.NewRequest("DELETE", "/apis/widgets.example.com/v1/namespaces/team-a/widgets/w1", nil),
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 200 list widgets (read-only)
	// 403 {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"widgets.widgets.example.com \"w1\" is forbidden: User \"alice\" cannot delete resource \"widgets\" in API group \"widgets.example.com\" in the namespace \"team-a\"","reason":"Forbidden","details":{"name":"w1","group":"widgets.example.com","kind":"widgets"},"code":403}
}

// The refusals authz.Authorizer returns (see authz/review.go).
var (
	authzTooMany = &status.Refusal{Err: fmt.Errorf("authz: %w", authz.ErrTooManyInFlight),
		Status: status.TooManyRequests("too many requests are waiting for their authorization check; retry later", 0)}
	authzPanicked = &status.Refusal{Err: fmt.Errorf("authz: %w", authz.ErrReviewPanicked),
		Status: apierrors.NewInternalError(errors.New("the authorization check for this request failed unexpectedly"))}
)
