package middleware_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/middleware"
)

// gatedReviewer authenticates "good-*" tokens as alice; while its gate is
// set, every review waits for it (or for its context).
type gatedReviewer struct {
	mu   sync.Mutex
	gate chan struct{}
}

func (g *gatedReviewer) Create(ctx context.Context, tr *authenticationv1.TokenReview, _ metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	out := tr.DeepCopy()
	if strings.HasPrefix(tr.Spec.Token, "good-") {
		out.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "alice", Groups: []string{"devs"}}}
	}
	return out, nil
}

// tokenFixture is the Authentication step over a union of the front proxy,
// the client certificate and a token authenticator bounded to one review in
// flight.
type tokenFixture struct {
	*authnFixture
	reviewer *gatedReviewer
	token    *authn.Token
	step     *middleware.Authentication
}

func newTokenFixture(t *testing.T) *tokenFixture {
	f := &tokenFixture{authnFixture: newAuthnFixture(t, false), reviewer: &gatedReviewer{}}
	var err error
	quiet := slog.New(slog.DiscardHandler)
	f.token, err = authn.NewToken(authn.TokenOptions{Client: f.reviewer, MaxInFlight: 1, RetryBackoff: wait.Backoff{Steps: 1}, Logger: quiet})
	require.NoError(t, err)
	fp, err := authn.NewFrontProxy(authn.FrontProxyOptions{Config: f.holder})
	require.NoError(t, err)
	union, err := authn.NewUnion(authn.UnionOptions{FrontProxy: fp, Token: f.token})
	require.NoError(t, err)
	f.step, err = middleware.NewAuthentication(middleware.AuthenticationOptions{Authenticator: union, RetryAfter: 3 * time.Second, Logger: quiet})
	require.NoError(t, err)
	f.handler = f.step.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.seenUser, _ = request.UserFrom(r.Context())
		f.seenHeader = r.Header.Clone()
	}))
	return f
}

func (f *tokenFixture) serve(r *http.Request) *httptest.ResponseRecorder {
	f.seenUser, f.seenHeader = nil, nil
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, r)
	return rec
}

func tokenRequest(authorization string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/apis/demo.aggauth.io/v1/widgets", nil)
	r.Header.Set("Authorization", authorization)
	r.Header.Set("Accept", "application/json")
	return r
}

// TestAuthenticateToken: a valid token reaches the handler as its user,
// without the Authorization header; an invalid one is Kubernetes' 401; a
// front-proxy request carrying a token too never reaches the handler with it.
func TestAuthenticateToken(t *testing.T) {
	f := newTokenFixture(t)
	rec := f.serve(tokenRequest("Bearer good-1"))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "alice", f.seenUser.GetName())
	assert.Equal(t, []string{"devs", "system:authenticated"}, f.seenUser.GetGroups())
	assert.Equal(t, http.Header{"Accept": {"application/json"}}, f.seenHeader)

	rec = f.serve(tokenRequest("Bearer bad-1"))
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.JSONEq(t, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`, rec.Body.String())
	assert.Nil(t, f.seenUser)

	proxied := tokenRequest("Bearer good-1")
	proxied.Header.Set("X-Remote-User", "bob")
	proxied.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{f.proxy.Cert}}
	rec = f.serve(proxied)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "bob", f.seenUser.GetName(), "the front proxy comes first")
	assert.Equal(t, http.Header{"Accept": {"application/json"}}, f.seenHeader, "Authorization removed all the same")

	assert.Equal(t, 1.0, testutil.ToFloat64(failures(f.step).WithLabelValues(authn.ReasonTokenInvalid)))
}

// TestAuthenticateTokenTooManyInFlight: a token that would need one review
// more than the authenticator allows is answered 429 with Retry-After (and,
// over HTTP/2, a closed connection), never 401 and never the handler.
func TestAuthenticateTokenTooManyInFlight(t *testing.T) {
	f := newTokenFixture(t)
	gate := make(chan struct{})
	f.reviewer.mu.Lock()
	f.reviewer.gate = gate
	f.reviewer.mu.Unlock()
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		f.step.Handler(http.NotFoundHandler()).ServeHTTP(rec, tokenRequest("Bearer good-held"))
		done <- rec.Code
	}()
	// Once its review is in flight, the bound (1) is reached.
	require.Eventually(t, func() bool { return f.token.InFlight() == 1 }, 10*time.Second, time.Millisecond)

	r := tokenRequest("Bearer good-2")
	r.ProtoMajor, r.ProtoMinor, r.Proto = 2, 0, "HTTP/2.0"
	rec := f.serve(r)
	require.Equal(t, http.StatusTooManyRequests, rec.Code, rec.Body.String())
	assert.Equal(t, "3", rec.Header().Get("Retry-After"))
	assert.Equal(t, "close", rec.Header().Get("Connection"))
	assert.Contains(t, rec.Body.String(), `"reason":"TooManyRequests"`)
	assert.Contains(t, rec.Body.String(), `"retryAfterSeconds":3`)
	assert.Nil(t, f.seenUser)
	assert.Equal(t, 1.0, testutil.ToFloat64(failures(f.step).WithLabelValues(authn.ReasonTokenTooManyInFlight)))

	close(gate)
	assert.Equal(t, http.StatusNotFound, <-done, "the request in flight is answered")
}

// failures is the step's aggauth_authn_failures_total.
func failures(step *middleware.Authentication) *prometheus.CounterVec {
	return step.Collectors()[0].(*prometheus.CounterVec)
}
