package middleware_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/aggauth/aggauth/admission"
	"github.com/aggauth/aggauth/authz"
	"github.com/aggauth/aggauth/internal/fakekube"
	"github.com/aggauth/aggauth/internal/testpki"
	"github.com/aggauth/aggauth/internal/testutil"
	"github.com/aggauth/aggauth/middleware"
)

// sarServer starts a fake kube-apiserver whose SubjectAccessReviews allow
// alice to get, list and create widgets in any namespace, and nothing else.
func sarServer(t *testing.T) *fakekube.Server {
	srv, err := fakekube.Start(fakekube.Options{
		DiscardReviews: true,
		Authorize: func(spec authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
			var st authorizationv1.SubjectAccessReviewStatus
			ra := spec.ResourceAttributes
			st.Allowed = spec.User == "alice" && ra != nil && ra.Resource == "widgets" &&
				(ra.Verb == "get" || ra.Verb == "list" || ra.Verb == "create")
			if !st.Allowed {
				st.Reason = "no RBAC rule matched"
			}
			return st, nil
		},
	})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv
}

type chainFixture struct {
	*authnFixture
	handler http.Handler
	kube    *fakekube.Server
	seen    atomic.Pointer[string]
}

func newChainFixture(t *testing.T) *chainFixture {
	f := &chainFixture{authnFixture: newAuthnFixture(t, false)}
	f.kube = sarServer(t)
	sar, err := authz.NewReviewClient(f.kube.RestConfig(), authz.ReviewClientOptions{})
	require.NoError(t, err)
	az, err := authz.New(authz.Options{Client: sar})
	require.NoError(t, err)
	client := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "leaving"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
	)
	nl, err := admission.NewNamespaceLifecycle(admission.NamespaceLifecycleOptions{Client: client})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	nl.Start(ctx)
	chain, err := middleware.NewChain(middleware.ChainOptions{
		Authentication: middleware.AuthenticationOptions{Authenticator: f.union},
		Authorization:  middleware.AuthorizationOptions{Authorizer: az},
		Admission:      middleware.AdmissionOptions{Admission: nl},
		ReadyChecks:    []middleware.ReadyCheck{{Name: "namespaces", Check: nl.Ready}},
	})
	require.NoError(t, err)
	f.handler = chain.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := request.UserFrom(r.Context())
		info, _ := request.RequestInfoFrom(r.Context())
		_, reason, ok := middleware.DecisionFrom(r.Context())
		require.True(t, ok)
		s := u.GetName() + " " + info.Verb + " " + info.Resource + " " + reason
		f.seen.Store(&s)
		w.WriteHeader(http.StatusOK)
	}))
	return f
}

func TestChain(t *testing.T) {
	f := newChainFixture(t)
	require.Eventually(t, func() bool {
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code == http.StatusOK
	}, 10e9, 1e6, "/readyz must turn 200 once the namespace informer synced")

	proxy := []*testpki.Cert{f.proxy}
	tests := []struct {
		name, method, path string
		certs              []*testpki.Cert
		user, group        string
		wantCode           int
		wantInBody         string
		wantSeen           string
		body               string
	}{
		{name: "healthz without credentials", method: "GET", path: "/healthz", wantCode: 200, wantInBody: "ok"},
		{name: "livez without credentials", method: "GET", path: "/livez", wantCode: 200, wantInBody: "ok"},
		{name: "API without credentials", method: "GET", path: "/apis/demo.aggauth.io/v1/namespaces/default/widgets", wantCode: 401, wantInBody: `"reason":"Unauthorized"`},
		{name: "spoofed headers without certificate", method: "GET", path: "/apis/demo.aggauth.io/v1/namespaces/default/widgets",
			user: "alice", group: "system:masters", wantCode: 401},
		{name: "allowed list", method: "GET", path: "/apis/demo.aggauth.io/v1/namespaces/default/widgets", certs: proxy, user: "alice",
			wantCode: 200, wantSeen: "alice list widgets"},
		{name: "denied list", method: "GET", path: "/apis/demo.aggauth.io/v1/namespaces/default/widgets", certs: proxy, user: "bob", wantCode: 403,
			wantInBody: `User \"bob\" cannot list resource \"widgets\" in API group \"demo.aggauth.io\" in the namespace \"default\": no RBAC rule matched`},
		{name: "denied delete", method: "DELETE", path: "/apis/demo.aggauth.io/v1/namespaces/default/widgets/w1", certs: proxy, user: "alice", wantCode: 403},
		{name: "system:masters always allowed", method: "GET", path: "/apis/demo.aggauth.io/v1", certs: proxy, user: "system:kube-aggregator",
			group: "system:masters", wantCode: 200, wantSeen: "system:kube-aggregator get "},
		{name: "create in existing namespace", method: "POST", path: "/apis/demo.aggauth.io/v1/namespaces/default/widgets", certs: proxy, user: "alice",
			wantCode: 200, wantSeen: "alice create widgets"},
		{name: "create in terminating namespace", method: "POST", path: "/apis/demo.aggauth.io/v1/namespaces/leaving/widgets", certs: proxy, user: "alice",
			body: `{"metadata":{"name":"w1"}}`, wantCode: 403,
			wantInBody: `widgets.demo.aggauth.io \"w1\" is forbidden: unable to create new content in namespace leaving because it is being terminated`},
		{name: "create in terminating namespace, generateName", method: "POST", path: "/apis/demo.aggauth.io/v1/namespaces/leaving/widgets", certs: proxy,
			user: "alice", body: `{"metadata":{"generateName":"w-"}}`, wantCode: 403, wantInBody: `"details":{"name":"w-"`},
		{name: "create in terminating namespace, no name", method: "POST", path: "/apis/demo.aggauth.io/v1/namespaces/leaving/widgets", certs: proxy,
			user: "alice", body: `not json`, wantCode: 403, wantInBody: `widgets.demo.aggauth.io \"Unknown\" is forbidden`},
		{name: "create in missing namespace", method: "POST", path: "/apis/demo.aggauth.io/v1/namespaces/nowhere/widgets", certs: proxy, user: "alice",
			wantCode: 404, wantInBody: `namespaces \"nowhere\" not found`},
		{name: "client certificate user", method: "GET", path: "/apis/demo.aggauth.io/v1/namespaces/default/widgets", certs: []*testpki.Cert{f.alice},
			wantCode: 200, wantSeen: "alice list widgets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.seen.Store(nil)
			body := tt.body
			if body == "" {
				body = "{}"
			}
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(body))
			if tt.user != "" {
				req.Header.Set("X-Remote-User", tt.user)
			}
			if tt.group != "" {
				req.Header.Set("X-Remote-Group", tt.group)
			}
			if tt.certs != nil {
				req.TLS = &tls.ConnectionState{}
				for _, c := range tt.certs {
					req.TLS.PeerCertificates = append(req.TLS.PeerCertificates, c.Cert)
				}
			}
			rec := httptest.NewRecorder()
			f.handler.ServeHTTP(rec, req)
			require.Equal(t, tt.wantCode, rec.Code, rec.Body.String())
			assert.Contains(t, rec.Body.String(), tt.wantInBody)
			if tt.wantCode != 200 || strings.HasSuffix(tt.path, "z") {
				assert.Nil(t, f.seen.Load(), "the handler must not run")
				if tt.wantCode != 200 {
					st := testutil.RecordedStatus(t, rec)
					assert.Equal(t, int32(tt.wantCode), st.Code)
				}
				return
			}
			require.NotNil(t, f.seen.Load())
			assert.True(t, strings.HasPrefix(*f.seen.Load(), tt.wantSeen), "got %q; want prefix %q", *f.seen.Load(), tt.wantSeen)
		})
	}

	// The decisions were cached: the same requests again send no review.
	before := f.kube.SARCounts().Received
	req := httptest.NewRequest("GET", "/apis/demo.aggauth.io/v1/namespaces/default/widgets", nil)
	req.Header.Set("X-Remote-User", "alice")
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{f.proxy.Cert}}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, before, f.kube.SARCounts().Received, "a cached decision must not send a review")
}
