//go:build scale

package scale

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/aggauth/aggauth/bench/internal/machine"
	"github.com/aggauth/aggauth/bench/load/fixture"
)

var (
	outDir = flag.String("out", "", "directory to write scale.md and scale-data/*.csv into; empty: print only")
	quick  = flag.Bool("quick", false, "a small sweep: checks that the model runs, in seconds")
)

// The simulated traffic: SubjectAccessReviews answered in reviewLatency, the
// caches' TTLs those of Kubernetes' delegated authorization.
const (
	reviewLatency = 5 * time.Millisecond
	defaultTTL    = 10 * time.Second
	gridRate      = 500  // requests per second in the users × namespaces grid
	rollingRate   = 2000 // requests per second to the Service in the rolling restart
)

// cluster is a size of cluster for the cache size recommendation.
type cluster struct {
	name              string
	users, namespaces int
	rate              float64
}

func clusters() []cluster {
	return []cluster{
		{"small", 1_000, 100, 100},
		{"medium", 10_000, 1_000, 500},
		{"large", 100_000, 10_000, 2_000},
	}
}

func TestScale(t *testing.T) {
	fixture.DiscardKlog()
	rep := &report{started: time.Now(), loadStart: machine.LoadAvg(), quick: *quick}
	users := []int{100, 1_000, 10_000, 100_000}
	namespaces := []int{10, 100, 1_000, 10_000}
	sizes := []int{2_048, 8_192, 32_768, 131_072}
	ttls := []time.Duration{10 * time.Second, 60 * time.Second}
	warm, measure := 20*time.Second, 30*time.Second
	replicas := []int{2, 5, 10}
	type connPoint struct{ conns, perConn int }
	conns := []connPoint{{1, 1}, {1, 10}, {1, 100}, {10, 1}, {10, 10}, {10, 100}, {100, 1}, {100, 10}, {100, 100}, {1000, 1}, {1000, 10}}
	if *quick {
		users, namespaces, sizes, ttls = []int{100, 10_000}, []int{10, 1_000}, []int{2_048, 8_192}, []time.Duration{10 * time.Second}
		warm, measure, replicas = 5*time.Second, 10*time.Second, []int{2}
		conns = []connPoint{{1, 1}, {1, 10}, {10, 1}, {10, 10}}
	}

	t.Run("entry-bytes", func(t *testing.T) {
		for _, impl := range impls {
			rep.entryBytes = append(rep.entryBytes, entryBytesResult{impl.name, entryBytes(t, impl, 4096)})
		}
	})
	t.Run("users-namespaces", func(t *testing.T) {
		for _, ns := range namespaces {
			for _, u := range users {
				for _, impl := range impls {
					r := &authzRun{users: u, namespaces: ns, size: 8192, ttl: defaultTTL, rate: gridRate,
						latency: reviewLatency, warm: warm, measure: measure, seed: int64(u*31 + ns)}
					r.simulate(t, impl)
					t.Logf("%s users=%d namespaces=%d: hit %.3f, %.0f reviews/s, %d KiB, p99 %v (%v)",
						r.impl, u, ns, r.hitRate(), r.reviewsPerSecond(), r.memory>>10, r.p99, r.realTime.Round(time.Millisecond))
					rep.grid = append(rep.grid, r)
				}
			}
		}
	})
	t.Run("cache-size-ttl", func(t *testing.T) {
		for _, c := range clusters() {
			if *quick && c.name == "large" {
				continue
			}
			for _, ttl := range ttls {
				w, m := max(warm, ttl+10*time.Second), measure
				for _, impl := range impls {
					ss := sizes
					if impl.name == "kubernetes" {
						ss = []int{kubernetesCacheSize}
					}
					for _, size := range ss {
						r := &authzRun{users: c.users, namespaces: c.namespaces, size: size, ttl: ttl, rate: c.rate,
							latency: reviewLatency, warm: w, measure: m, seed: int64(c.users), unlimited: true}
						r.simulate(t, impl)
						t.Logf("%s %s size=%d ttl=%v: hit %.3f, %.0f reviews/s, %d KiB, p99 %v, refused %d (%v)",
							c.name, r.impl, size, ttl, r.hitRate(), r.reviewsPerSecond(), r.memory>>10, r.p99, r.refused, r.realTime.Round(time.Millisecond))
						rep.sizes = append(rep.sizes, sizeResult{cluster: c, run: r})
					}
				}
			}
		}
	})
	t.Run("rolling-restart", func(t *testing.T) {
		for _, n := range replicas {
			for _, impl := range impls {
				r := &rollingRun{replicas: n, users: 10_000, namespaces: 1_000, rate: rollingRate, latency: reviewLatency,
					warm: 15 * time.Second, interval: 10 * time.Second, window: 10 * time.Second}
				if *quick {
					r.warm, r.interval = 5*time.Second, 10*time.Second
				}
				r.simulate(t, impl)
				t.Logf("%s replicas=%d: %.0f reviews (%.0f distinct) per cold replica, peak %.0f per 100 ms, p99 %v (%v)",
					r.impl, n, r.reviews, r.distinct, r.peak, r.p99, r.realTime.Round(time.Millisecond))
				rep.rolling = append(rep.rolling, r)
			}
		}
	})
	t.Run("connections", func(t *testing.T) {
		env, err := fixture.New(fixture.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer env.Close()
		pair, err := env.NewTLSPair()
		if err != nil {
			t.Fatal(err)
		}
		maxConns := 0
		for _, p := range conns {
			maxConns = max(maxConns, p.conns)
		}
		certs := callers(env, maxConns)
		for _, p := range conns {
			// Each impl runs twice, in the order A B B A, and counts the sum
			// of its two runs: neither always runs first after the other.
			runs := map[string]*connRun{}
			for _, impl := range []string{"aggauth", "kubernetes", "kubernetes", "aggauth"} {
				settle()
				r, err := runConns(env, pair, impl, certs, p.conns, p.perConn)
				if err != nil {
					t.Fatalf("%s conns=%d: %v", impl, p.conns, err)
				}
				if prev := runs[impl]; prev != nil {
					r.add(prev)
				}
				runs[impl] = r
			}
			for _, impl := range []string{"aggauth", "kubernetes"} {
				r := runs[impl]
				t.Logf("%s conns=%d per-conn=%d: %d requests, %v CPU/request, %.0f requests/s, %d reviews",
					impl, p.conns, p.perConn, r.requests, r.cpuPerRequest().Round(100*time.Nanosecond), r.rps(), r.reviews)
				rep.conns = append(rep.conns, r)
			}
		}
	})
	rep.ended, rep.loadEnd = time.Now(), machine.LoadAvg()
	if *outDir == "" {
		return
	}
	if err := os.MkdirAll(filepath.Join(*outDir, "scale-data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := rep.write(*outDir); err != nil {
		t.Fatal(err)
	}
	fmt.Println("wrote", filepath.Join(*outDir, "scale.md"))
}

// settle lets the connections of the previous run close and collects its
// garbage, so that a run does not pay for the one before.
func settle() {
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
}
