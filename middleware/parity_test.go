package middleware_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/aggauth/aggauth/admission"
	"github.com/aggauth/aggauth/authz"
	"github.com/aggauth/aggauth/internal/testpki"
	"github.com/aggauth/aggauth/middleware"
	"github.com/aggauth/aggauth/serving"
)

// policyReviewer answers SubjectAccessReviews in memory: alice may do
// anything to widgets and impersonate bob and the group devs; bob may list
// widgets named w1; nothing else is allowed.
type policyReviewer struct{}

func (policyReviewer) Create(_ context.Context, sar *authorizationv1.SubjectAccessReview, _ metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	out := sar.DeepCopy()
	ra, u := sar.Spec.ResourceAttributes, sar.Spec.User
	switch {
	case ra == nil:
	case ra.Verb == "impersonate":
		out.Status.Allowed = u == "alice" && (ra.Resource == "users" && ra.Name == "bob" || ra.Resource == "groups" && ra.Name == "devs")
	case u == "alice":
		out.Status.Allowed = ra.Resource == "widgets"
	case u == "bob":
		out.Status.Allowed = ra.Resource == "widgets" && ra.Verb == "list" && ra.Name == "w1"
	}
	if !out.Status.Allowed {
		out.Status.Reason = "no rule allows it"
	}
	return out, nil
}

// parityCase is one request of the parity corpus.
type parityCase struct {
	method, target, body string
	header               http.Header
	certs                []*testpki.Cert
}

func parityCorpus(f *authnFixture) []parityCase {
	proxy := []*testpki.Cert{f.proxy}
	targets := []string{
		"/apis/demo.aggauth.io/v1/namespaces/default/widgets",
		"/apis/demo.aggauth.io/v1/namespaces/default/widgets?fieldSelector=metadata.name%3Dw1",
		"/apis/demo.aggauth.io/v1/namespaces/default/widgets?labelSelector=app%3D%3D",
		"/apis/demo.aggauth.io/v1/namespaces/default/widgets/w1",
		"/apis/demo.aggauth.io/v1/namespaces/%64efault/widgets",
		"/apis/demo.aggauth.io/v1/namespaces/a%2Fb/widgets",
		"/apis/demo.aggauth.io/v1/namespaces/default/../kube-system/widgets",
		"/apis/demo.aggauth.io/v1/namespaces/leaving/widgets",
		"/apis/demo.aggauth.io/v1/namespaces/nowhere/widgets",
		"/api/v1/watch",
		"/metrics",
	}
	identities := []struct {
		header http.Header
		certs  []*testpki.Cert
	}{
		{nil, nil},
		{http.Header{"X-Remote-User": {"alice"}, "X-Remote-Group": {"g"}}, proxy},
		{http.Header{"X-Remote-User": {"bob"}}, proxy},
		{http.Header{"X-Remote-User": {"alice"}, "Impersonate-User": {"bob"}}, proxy},
		{http.Header{"X-Remote-User": {"alice"}, "Impersonate-User": {"bob"}, "Impersonate-Group": {"devs"}}, proxy},
		{http.Header{"X-Remote-User": {"alice"}, "Impersonate-User": {"carol"}}, proxy},
		{http.Header{"X-Remote-User": {"alice"}, "Impersonate-Group": {"devs"}}, proxy},
		{http.Header{"X-Remote-User": {"mallory"}}, nil},
		{nil, []*testpki.Cert{f.alice}},
	}
	var out []parityCase
	for _, target := range targets {
		for _, id := range identities {
			for _, method := range []string{"GET", "POST", "DELETE"} {
				out = append(out, parityCase{method: method, target: target, body: `{"metadata":{"name":"w9"}}`,
					header: id.header, certs: id.certs})
			}
		}
	}
	return out
}

// TestChainMatchesComposedSteps runs the same corpus through the Chain and
// through the steps composed by hand with their Handler methods: the
// responses, and what the handler finds in the request, must be identical.
func TestChainMatchesComposedSteps(t *testing.T) {
	f := newAuthnFixture(t, false)
	az, err := authz.New(authz.Options{Client: policyReviewer{}})
	require.NoError(t, err)
	client := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "leaving"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
	)
	nl, err := admission.NewNamespaceLifecycle(admission.NamespaceLifecycleOptions{Client: client})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nl.Start(ctx)
	require.Eventually(t, func() bool { return nl.Ready() == nil }, 10*time.Second, time.Millisecond)

	opts := middleware.ChainOptions{
		Authentication:    middleware.AuthenticationOptions{Authenticator: f.union},
		Authorization:     middleware.AuthorizationOptions{Authorizer: az},
		Admission:         middleware.AdmissionOptions{Admission: nl},
		NoHealthEndpoints: true,
	}
	chain, err := middleware.NewChain(opts)
	require.NoError(t, err)
	authentication, err := middleware.NewAuthentication(opts.Authentication)
	require.NoError(t, err)
	attributes, err := middleware.NewRequestAttributes(middleware.RequestAttributesOptions{})
	require.NoError(t, err)
	impersonation, err := middleware.NewImpersonation(middleware.ImpersonationOptions{Authorizer: az})
	require.NoError(t, err)
	authorization, err := middleware.NewAuthorization(opts.Authorization)
	require.NoError(t, err)
	admit, err := middleware.NewAdmission(opts.Admission)
	require.NoError(t, err)
	composed := authentication.Handler(attributes.Handler(impersonation.Handler(authorization.Handler(admit.Handler(describe())))))
	chained := chain.Handler(describe())

	corpus := parityCorpus(f)
	codes := map[int]int{}
	for i, c := range corpus {
		got, want := serveCase(chained, c), serveCase(composed, c)
		require.Equal(t, want, got, "#%d %s %s %v", i, c.method, c.target, c.header)
		codes[got.Code]++
	}
	t.Logf("%d requests answered alike, by code: %v", len(corpus), codes)
	for _, code := range []int{200, 400, 401, 403, 404} {
		require.Positive(t, codes[code], "the corpus must reach code %d", code)
	}
}

// describe is a handler that writes everything it finds in the request: the
// user, the RequestInfo, the attributes, the decision, the selectors, the path
// as routers read it, and the headers left.
func describe() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var b strings.Builder
		u, _ := request.UserFrom(ctx)
		fmt.Fprintf(&b, "user %q %q %q %v\n", u.GetName(), u.GetUID(), u.GetGroups(), u.GetExtra())
		info, _ := request.RequestInfoFrom(ctx)
		fmt.Fprintf(&b, "info %+v\n", *info)
		a, ok := middleware.AttributesFrom(ctx)
		fmt.Fprintf(&b, "attrs %v %s %s %s %s %s\n", ok, a.GetUser().GetName(), a.GetVerb(), a.GetNamespace(), a.GetResource(), a.GetName())
		d, reason, ok := middleware.DecisionFrom(ctx)
		fmt.Fprintf(&b, "decision %v %v %q\n", ok, d, reason)
		sel, err := middleware.SelectorsFrom(ctx)
		fmt.Fprintf(&b, "selectors %v %v\n", sel, err)
		fmt.Fprintf(&b, "path %q %q %q\n", r.URL.Path, r.URL.RawPath, r.URL.EscapedPath())
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range r.Header {
				if !yield(k) {
					return
				}
			}
		})
		fmt.Fprintf(&b, "headers %v\n", keys)
		_, _ = w.Write([]byte(b.String()))
	})
}

type parityResult struct {
	Code   int
	Header http.Header
	Body   string
}

func serveCase(h http.Handler, c parityCase) parityResult {
	req := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
	for k, v := range c.header {
		req.Header[k] = slices.Clone(v)
	}
	if c.certs != nil {
		req.TLS = &tls.ConnectionState{}
		for _, cert := range c.certs {
			req.TLS.PeerCertificates = append(req.TLS.PeerCertificates, cert.Cert)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return parityResult{Code: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

// TestServerPipelineMatchesComposedSteps is the parity test of the whole
// pipeline users deploy: serving.New's steps and the chain's, one pipeline,
// against serving's exported filters and the chain's steps composed one by
// one, each a middleware of its own. On the corpus (with the aggregator's
// Audit-ID, so that both echo the same), the responses, and what the handler
// finds in the request, must be identical.
func TestServerPipelineMatchesComposedSteps(t *testing.T) {
	f := newAuthnFixture(t, false)
	az, err := authz.New(authz.Options{Client: policyReviewer{}})
	require.NoError(t, err)
	opts := middleware.ChainOptions{
		Authentication:    middleware.AuthenticationOptions{Authenticator: f.union},
		Authorization:     middleware.AuthorizationOptions{Authorizer: az},
		NoHealthEndpoints: true,
	}
	chain, err := middleware.NewChain(opts)
	require.NoError(t, err)
	ca := testpki.NewCA("serving-ca", testpki.ECDSA)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	servingCert := ca.Issue(testpki.Spec{CommonName: "localhost", DNSNames: []string{"localhost"}})
	require.NoError(t, os.WriteFile(certFile, servingCert.PEM(), 0o600))
	require.NoError(t, os.WriteFile(keyFile, servingCert.KeyPEM(), 0o600))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	quiet := slog.New(slog.DiscardHandler)
	srv, err := serving.New(serving.Options{Listener: ln, CertFile: certFile, KeyFile: keyFile, Logger: quiet}, nil, chain.Handler(describe()))
	require.NoError(t, err)
	defer srv.Close()

	authentication, err := middleware.NewAuthentication(opts.Authentication)
	require.NoError(t, err)
	attributes, err := middleware.NewRequestAttributes(middleware.RequestAttributesOptions{})
	require.NoError(t, err)
	impersonation, err := middleware.NewImpersonation(middleware.ImpersonationOptions{Authorizer: az})
	require.NoError(t, err)
	authorization, err := middleware.NewAuthorization(opts.Authorization)
	require.NoError(t, err)
	steps := authentication.Handler(attributes.Handler(impersonation.Handler(authorization.Handler(describe()))))
	composed := serving.AuditID()(serving.Recover(quiet)(serving.CacheControl()(serving.Warnings()(
		serving.Timeout(serving.DefaultRequestTimeout, nil, quiet)(steps)))))

	corpus := parityCorpus(f)
	for i := range corpus {
		corpus[i].header = cloneHeader(corpus[i].header)
		corpus[i].header.Set("Audit-ID", fmt.Sprintf("parity-%d", i))
	}
	codes := map[int]int{}
	for i, c := range corpus {
		got, want := serveCase(srv.Handler(), c), serveCase(composed, c)
		require.Equal(t, want, got, "#%d %s %s %v", i, c.method, c.target, c.header)
		codes[got.Code]++
	}
	t.Logf("%d requests answered alike, by code: %v", len(corpus), codes)
	for _, code := range []int{200, 400, 401, 403} {
		require.Positive(t, codes[code], "the corpus must reach code %d", code)
	}
}

func cloneHeader(h http.Header) http.Header {
	if h == nil {
		return http.Header{}
	}
	return h.Clone()
}
