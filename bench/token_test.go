package bench

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"k8s.io/client-go/rest"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/fakekube"
)

// newTokenServer starts a fake kube-apiserver that authenticates every token
// as Prometheus' service account after latency, and counts the reviews it
// receives.
func newTokenServer(b *testing.B, latency time.Duration) *fakekube.Server {
	s, err := fakekube.Start(fakekube.Options{
		Latency: latency, DiscardReviews: true,
		Authenticate: func(authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
			return authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{
				Username: "system:serviceaccount:monitoring:prometheus", UID: "3f6c2a8e-0b1d-4c5e-9f7a-2d4b6c8e0a1f",
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:monitoring", "system:authenticated"},
				Extra: map[string]authenticationv1.ExtraValue{
					"authentication.kubernetes.io/pod-name": {"prometheus-0"},
					"authentication.kubernetes.io/pod-uid":  {"8a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"},
				}}}, nil
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return s
}

// tokenRestConfig has the client limits of Kubernetes' delegated
// authentication (200 QPS, burst 400, 10 s timeout) for both implementations.
func tokenRestConfig(s *fakekube.Server) *rest.Config {
	c := s.RestConfig()
	c.QPS, c.Burst, c.Timeout = authn.DefaultReviewClientQPS, authn.DefaultReviewClientBurst, authn.DefaultReviewClientTimeout
	return c
}

// tokenImpls builds both authenticators against s, as an extension apiserver
// runs them: ours, an authn.Union with an authn.Token; Kubernetes',
// authenticatorfactory.DelegatingAuthenticatorConfig with a TokenReview client
// (bearertoken in front of the cached webhook token authenticator, in the
// union and the AuthenticatedGroupAdder). Both cache for an hour, so that a
// long run never misses.
func tokenImpls(b *testing.B, s *fakekube.Server) map[string]authenticator.Request {
	backoff := authn.DefaultTokenRetryBackoff()
	client, err := authn.NewReviewClient(tokenRestConfig(s), authn.ReviewClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := authn.NewToken(authn.TokenOptions{Client: client, CacheTTL: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ours, err := authn.NewUnion(authn.UnionOptions{Token: tok})
	if err != nil {
		b.Fatal(err)
	}
	kubeClient, err := authenticationv1client.NewForConfig(tokenRestConfig(s))
	if err != nil {
		b.Fatal(err)
	}
	kube, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:               &apiserver.AnonymousAuthConfig{Enabled: false},
		TokenAccessReviewClient: kubeClient, WebhookRetryBackoff: &backoff,
		TokenAccessReviewTimeout: 10 * time.Second, CacheTTL: time.Hour,
	}.New()
	if err != nil {
		b.Fatal(err)
	}
	return map[string]authenticator.Request{"aggauth": ours, "kubernetes": kube}
}

// serviceAccountToken is shaped like a projected service-account token (a
// 1 KiB RS256 JWT) valid for the next hour; seq makes it unique.
func serviceAccountToken(seq int) string {
	enc := base64.RawURLEncoding.EncodeToString
	now := time.Now()
	claims := fmt.Sprintf(`{"aud":["https://kubernetes.default.svc.cluster.local"],"exp":%d,"iat":%d,`+
		`"iss":"https://kubernetes.default.svc.cluster.local","jti":"b7e5c0d2-%08d-4f0e-9a3b-6c1d2e3f4a5b",`+
		`"kubernetes.io":{"namespace":"monitoring","node":{"name":"worker-1","uid":"0d4e8f2a-6b1c-4a3d-8e5f-7a9b1c3d5e7f"},`+
		`"pod":{"name":"prometheus-0","uid":"8a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"},`+
		`"serviceaccount":{"name":"prometheus","uid":"3f6c2a8e-0b1d-4c5e-9f7a-2d4b6c8e0a1f"},"warnafter":%d},`+
		`"nbf":%d,"sub":"system:serviceaccount:monitoring:prometheus"}`,
		now.Add(time.Hour).Unix(), now.Unix(), seq, now.Add(50*time.Minute).Unix(), now.Unix())
	return enc([]byte(`{"alg":"RS256","kid":"Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"}`)) + "." +
		enc([]byte(claims)) + "." + enc([]byte(strings.Repeat("\x5a", 256)))
}

// BenchmarkAuthnToken: one request with a bearer token answered from the
// cache (what Prometheus scraping /metrics costs after its first scrape),
// ours and Kubernetes', same token and headers. The header is set again each
// iteration: both authenticators delete it on success.
func BenchmarkAuthnToken(b *testing.B) {
	s := newTokenServer(b, 0)
	impls := tokenImpls(b, s)
	for _, tc := range []struct{ name, token string }{
		{"jwt-1KiB", serviceAccountToken(0)},
		{"opaque-40B", "8c5d1f0e7b2a4c6e9d3f1a0b5c7e2d4f6a8b0c1d"},
	} {
		for _, name := range []string{"aggauth", "kubernetes"} {
			benchmarkAuthnToken(b, "token="+tc.name+"/impl="+name, impls[name], tc.token, s)
		}
	}
}

func benchmarkAuthnToken(b *testing.B, name string, auth authenticator.Request, token string, s *fakekube.Server) {
	authorization := []string{"Bearer " + token}
	{
		b.Run(name, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, "https://ext.example/metrics", nil)
			req.Header = http.Header{"Accept": {"text/plain"}, "User-Agent": {"Prometheus/3.5.0"}}
			check := func() {
				req.Header["Authorization"] = authorization
				resp, ok, err := auth.AuthenticateRequest(req)
				if !ok || err != nil || resp.User.GetName() != "system:serviceaccount:monitoring:prometheus" {
					b.Fatalf("not authenticated: %v", err)
				}
			}
			check() // the review
			before := s.TokenReviewCounts().Received
			b.ReportAllocs()
			for b.Loop() {
				check()
			}
			if n := s.TokenReviewCounts().Received - before; n != 0 {
				b.Fatalf("%d reviews during a warm run", n)
			}
		})
	}
}

// BenchmarkTokenStorm sends 1,000 concurrent requests with the same new token
// (identical cache misses) against a kube-apiserver answering in 5 ms;
// reviews/op is how many TokenReviews kube-apiserver received for them. Both
// coalesce (Kubernetes with singleflight).
func BenchmarkTokenStorm(b *testing.B) {
	const concurrent = 1000
	for _, name := range []string{"aggauth", "kubernetes"} {
		b.Run("impl="+name, func(b *testing.B) {
			s := newTokenServer(b, 5*time.Millisecond)
			auth := tokenImpls(b, s)[name]
			b.ReportAllocs()
			seq := 0
			for b.Loop() {
				seq++
				authorization := []string{"Bearer " + serviceAccountToken(seq)} // a miss each round
				var wg sync.WaitGroup
				start := make(chan struct{})
				for range concurrent {
					req, _ := http.NewRequest(http.MethodGet, "https://ext.example/metrics", nil)
					req.Header["Authorization"] = authorization
					wg.Go(func() {
						<-start
						if _, ok, err := auth.AuthenticateRequest(req); !ok || err != nil {
							b.Errorf("not authenticated: %v", err)
						}
					})
				}
				close(start)
				wg.Wait()
			}
			b.ReportMetric(float64(s.TokenReviewCounts().Received)/float64(b.N), "reviews/op")
		})
	}
}
