package bench

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/aggauth/aggauth/authz"
	"github.com/aggauth/aggauth/bench/load/fixture"
	"github.com/aggauth/aggauth/internal/fakekube"
)

// The storm: stormUsers distinct users send stormRepeats identical requests
// each, all at once, against empty caches and a kube-apiserver that answers a
// SubjectAccessReview in stormLatency.
const (
	stormUsers   = 1000
	stormRepeats = 10
	stormLatency = 5 * time.Millisecond
)

// init discards klog's output for the benchmarks of this package: client-go
// logs its client-side throttling waits (BenchmarkSARStorm, BenchmarkStorm)
// through klog, and a log line written while a benchmark's result line is
// being printed breaks that line for benchstat and bench/report. Benchmarks
// check their answers themselves.
func init() { fixture.DiscardKlog() }

// BenchmarkStorm sends 10,000 authorization requests from 1,000 distinct users
// (ten identical requests each, all released together) through a fresh
// authorizer with an empty cache: ours (authz.New) and Kubernetes' webhook
// authorizer (webhook.NewFromInterface), both with the client limits of
// Kubernetes' delegated authorization (200 QPS, burst 400). One iteration is
// the whole storm. sars/op is the number of reviews kube-apiserver received
// per storm; p50-ms and p99-ms are the latencies of the single Authorize calls,
// over every storm of the run.
func BenchmarkStorm(b *testing.B) {
	s := authzNewSARServer(b, stormLatency)
	attrs := stormAttributes()
	for _, impl := range []struct {
		name  string
		build func(*testing.B, *fakekube.Server) authorizer.UnconditionalAuthorizer
	}{{"aggauth", stormAggauth}, {"kubernetes", stormKubernetes}} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			var lat []time.Duration
			before := s.SARCounts().Received
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				a := impl.build(b, s) // an empty cache and a full client rate limiter
				b.StartTimer()
				lat = append(lat, stormRun(b, a, attrs)...)
			}
			b.ReportMetric(float64(s.SARCounts().Received-before)/float64(b.N), "sars/op")
			slices.Sort(lat)
			b.ReportMetric(stormPercentile(lat, 0.50), "p50-ms")
			b.ReportMetric(stormPercentile(lat, 0.99), "p99-ms")
		})
	}
}

// stormRun releases stormUsers×stormRepeats concurrent Authorize calls and
// returns the latency of each.
func stormRun(b *testing.B, a authorizer.UnconditionalAuthorizer, attrs []*authorizer.AttributesRecord) []time.Duration {
	lat := make([]time.Duration, stormUsers*stormRepeats)
	var wg sync.WaitGroup
	var failed atomic.Int64
	start := make(chan struct{})
	for i := range lat {
		wg.Go(func() {
			<-start
			t := time.Now()
			d, _, err := a.Authorize(context.Background(), attrs[i%stormUsers])
			lat[i] = time.Since(t)
			if err != nil || d != authorizer.DecisionAllow {
				failed.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d requests were not allowed", n, len(lat))
	}
	return lat
}

// stormAttributes are the requests of the storm: user-0000 ... user-0999, each
// listing widgets in team-a with a label selector.
func stormAttributes() []*authorizer.AttributesRecord {
	attrs := make([]*authorizer.AttributesRecord, stormUsers)
	for i := range attrs {
		attrs[i] = &authorizer.AttributesRecord{
			User: &user.DefaultInfo{Name: fmt.Sprintf("user-%04d", i), Groups: []string{"developers", "system:authenticated"}},
			Verb: "list", Namespace: "team-a", APIGroup: "widgets.example.com", APIVersion: "v1", Resource: "widgets",
			ResourceRequest: true, Path: "/apis/widgets.example.com/v1/namespaces/team-a/widgets",
		}
	}
	return attrs
}

func stormAggauth(b *testing.B, s *fakekube.Server) authorizer.UnconditionalAuthorizer {
	client, err := authz.NewReviewClient(authzRestConfig(s), authz.ReviewClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	a, err := authz.New(authz.Options{Client: client, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

func stormKubernetes(b *testing.B, s *fakekube.Server) authorizer.UnconditionalAuthorizer {
	a, err := fixture.KubernetesAuthorizer(authzRestConfig(s), authz.DefaultAllowTTL, authz.DefaultDenyTTL)
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// stormPercentile returns the p-th percentile of sorted, in milliseconds.
func stormPercentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / float64(time.Millisecond)
}
