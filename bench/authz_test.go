package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/options"
	"k8s.io/client-go/rest"

	"github.com/aggauth/aggauth/authz"
	"github.com/aggauth/aggauth/internal/fakekube"
	"github.com/aggauth/aggauth/middleware"
)

// authzNewSARServer starts a fake kube-apiserver that allows every review
// after latency and counts the reviews it receives.
func authzNewSARServer(b *testing.B, latency time.Duration) *fakekube.Server {
	s, err := fakekube.Start(fakekube.Options{
		Latency: latency, DiscardReviews: true,
		Authorize: func(authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
			return authorizationv1.SubjectAccessReviewStatus{Allowed: true}, nil
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return s
}

// authzRestConfig is a client configuration for s with Kubernetes' delegated
// authorization limits (200 QPS, burst 400, 10 s timeout) for both implementations.
func authzRestConfig(s *fakekube.Server) *rest.Config {
	c := s.RestConfig()
	c.QPS, c.Burst, c.Timeout = authz.DefaultReviewClientQPS, authz.DefaultReviewClientBurst, authz.DefaultReviewClientTimeout
	return c
}

// authzImpls builds both authorizers against s: ours, and Kubernetes'
// delegated authorizer exactly as an extension apiserver gets it
// (options.DelegatingAuthorizationOptions.ApplyTo: the union of the
// always-allow groups, the always-allow paths and the webhook authorizer,
// with its client's limits), from a kubeconfig for s.
func authzImpls(b *testing.B, s *fakekube.Server) (ours *authz.Authorizer, kube authorizer.Authorizer) {
	ourClient, err := authz.NewReviewClient(authzRestConfig(s), authz.ReviewClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ours, err = authz.New(authz.Options{Client: ourClient, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	opts := options.NewDelegatingAuthorizationOptions()
	opts.RemoteKubeConfigFile = filepath.Join(b.TempDir(), "kubeconfig")
	if err := s.WriteKubeconfig(opts.RemoteKubeConfigFile); err != nil {
		b.Fatal(err)
	}
	var info server.AuthorizationInfo
	if err := opts.ApplyTo(&info); err != nil {
		b.Fatal(err)
	}
	return ours, info.Authorizer
}

// authzAttrs is what kube-apiserver forwards for "kubectl get pod": a user with
// groups and a per-credential extra, and a namespaced get.
func authzAttrs(name string) *authorizer.AttributesRecord {
	return &authorizer.AttributesRecord{
		User: &user.DefaultInfo{Name: "alice@example.com", UID: "6f1c5a3e-5c0e-4d6b-9d0a-3c1d2e4f5a6b",
			Groups: []string{"developers", "system:authenticated"},
			Extra:  map[string][]string{"authentication.kubernetes.io/credential-id": {"JTI=7c2f8e9a-1b3d-4e5f-8a9b-0c1d2e3f4a5b"}}},
		Verb: "get", Namespace: "team-a", APIGroup: "widgets.example.com", APIVersion: "v1", Resource: "widgets",
		Name: name, ResourceRequest: true, Path: "/apis/widgets.example.com/v1/namespaces/team-a/widgets/" + name,
	}
}

// BenchmarkAuthzCacheHit measures one authorization decision answered from the
// cache, for the same user and attributes.
func BenchmarkAuthzCacheHit(b *testing.B) {
	s := authzNewSARServer(b, 0)
	ours, kube := authzImpls(b, s)
	attrs := authzAttrs("w1")
	for _, impl := range []struct {
		name string
		a    authorizer.UnconditionalAuthorizer
	}{{"aggauth", ours}, {"kubernetes", kube}} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			ctx := context.Background()
			if d, _, err := impl.a.Authorize(ctx, attrs); err != nil || d != authorizer.DecisionAllow {
				b.Fatalf("warm-up: %v %v", d, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if d, _, _ := impl.a.Authorize(ctx, attrs); d != authorizer.DecisionAllow {
					b.Fatal("not allowed")
				}
			}
		})
	}
}

// BenchmarkSARStorm sends 1,000 concurrent identical requests against an empty
// cache and a kube-apiserver answering in 5 ms; sars/op is how many reviews
// kube-apiserver received for them.
func BenchmarkSARStorm(b *testing.B) {
	const concurrent = 1000
	for _, name := range []string{"aggauth", "kubernetes"} {
		b.Run("impl="+name, func(b *testing.B) {
			s := authzNewSARServer(b, 5*time.Millisecond)
			ours, kube := authzImpls(b, s)
			a := authorizer.UnconditionalAuthorizer(ours)
			if name == "kubernetes" {
				a = kube
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				attrs := authzAttrs(fmt.Sprintf("storm-%d", i)) // a new review each round
				i++
				var wg sync.WaitGroup
				start := make(chan struct{})
				for range concurrent {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						if d, _, err := a.Authorize(context.Background(), attrs); err != nil || d != authorizer.DecisionAllow {
							b.Errorf("got %v, %v", d, err)
						}
					}()
				}
				close(start)
				wg.Wait()
			}
			b.ReportMetric(float64(s.SARCounts().Received)/float64(b.N), "sars/op")
		})
	}
}

// authzRequests are the requests BenchmarkRequestAttributes resolves.
var authzRequests = []struct{ name, method, path, query string }{
	{"list-labelselector", http.MethodGet, "/apis/widgets.example.com/v1/namespaces/team-a/widgets", "labelSelector=app%3Dweb%2Ctier%20in%20%28a%2Cb%29&limit=500"},
	{"create", http.MethodPost, "/apis/widgets.example.com/v1/namespaces/team-a/widgets", ""},
	{"nonresource-get", http.MethodGet, "/openapi/v3", ""},
}

// BenchmarkRequestAttributes turns a request into its RequestInfo (stored in the
// context) and authorizer attributes, selectors parsed: Kubernetes'
// WithRequestInfo filter and GetAuthorizerAttributes (which parses the
// selectors at once), against the RequestAttributes step (which parses them
// on first use: the handler reads them, so both parse).
func BenchmarkRequestAttributes(b *testing.B) {
	resolver := &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}
	u := &user.DefaultInfo{Name: "alice", Groups: []string{"system:authenticated"}}
	var sink authorizer.Attributes
	useSelectors := func(a authorizer.Attributes) {
		_, _ = a.GetFieldSelector()
		_, _ = a.GetLabelSelector()
		sink = a
	}
	attributes, err := middleware.NewRequestAttributes(middleware.RequestAttributesOptions{})
	if err != nil {
		b.Fatal(err)
	}
	impls := []struct {
		name    string
		handler http.Handler
	}{
		{"baseline", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})},
		{"aggauth", attributes.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			a, _ := middleware.AttributesFrom(r.Context())
			useSelectors(a)
		}))},
		{"kubernetes", filters.WithRequestInfo(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			a, _ := filters.GetAuthorizerAttributes(r.Context())
			useSelectors(a)
		}), resolver)},
	}
	for _, rq := range authzRequests {
		for _, impl := range impls {
			b.Run("req="+rq.name+"/impl="+impl.name, func(b *testing.B) {
				req := (&http.Request{Method: rq.method, URL: &url.URL{Path: rq.path, RawQuery: rq.query}, Header: http.Header{}}).
					WithContext(request.WithUser(context.Background(), u))
				w := httptest.NewRecorder()
				b.ReportAllocs()
				for b.Loop() {
					impl.handler.ServeHTTP(w, req)
				}
			})
		}
	}
	_ = sink
}
