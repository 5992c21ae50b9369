//go:build scale

package scale

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

type entryBytesResult struct {
	impl  string
	bytes float64
}

type sizeResult struct {
	cluster cluster
	run     *authzRun
}

// report is what TestScale measured, written as scale.md and CSV files.
type report struct {
	started, ended     time.Time
	loadStart, loadEnd string
	quick              bool
	entryBytes         []entryBytesResult
	grid               []*authzRun
	sizes              []sizeResult
	rolling            []*rollingRun
	conns              []*connRun
}

const command = "make scale"

func (rep *report) write(dir string) error {
	var b strings.Builder
	rep.markdown(&b)
	if err := os.WriteFile(filepath.Join(dir, "scale.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	for name, rows := range map[string][]string{
		"users.csv":    rep.gridCSV(),
		"sizes.csv":    rep.sizesCSV(),
		"rolling.csv":  rep.rollingCSV(),
		"conns.csv":    rep.connsCSV(),
		"conncost.csv": rep.connCostCSV(),
	} {
		if err := os.WriteFile(filepath.Join(dir, "scale-data", name), []byte(strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (rep *report) markdown(b *strings.Builder) {
	fmt.Fprintf(b, "## Scale model (`make scale`)\n\n")
	fmt.Fprintf(b, "Written by `%s` (`go test -tags scale -run '^TestScale$' ./bench/scale/`, then `bench/charts` for the charts) "+
		"from %s to %s (%s real time, Go %s, %d cores); load average %s at the start, %s at the end.\n\n",
		command, rep.started.UTC().Format(time.RFC3339), rep.ended.UTC().Format(time.RFC3339),
		rep.ended.Sub(rep.started).Round(time.Second), runtime.Version(), runtime.NumCPU(), rep.loadStart, rep.loadEnd)
	if rep.quick {
		fmt.Fprintf(b, "**A quick run (`-quick`): a reduced sweep, to check the model runs; not the published figures.**\n\n")
	}
	fmt.Fprintf(b, "The authorization simulations run in virtual time (`testing/synctest`): a minute of traffic costs the CPU time of its requests, "+
		"and the TTLs are those of production. Both implementations are the real code: aggauth's `authz.Authorizer` and k8s.io/apiserver's "+
		"webhook authorizer (`webhook.NewFromInterface`, the one Kubernetes' delegated authorization builds), each with a client-go client "+
		"with Kubernetes' budget (200 QPS, burst 400) asking an in-process kube-apiserver that allows every SubjectAccessReview after %v "+
		"and counts them (the `internal/fakekube` behaviour, without a network: a socket would stop virtual time). Requests arrive as a Poisson "+
		"process, each on its own goroutine. The workload (`bench/scale/workload.go`): users Zipf-distributed (s = 1.1); each user has a "+
		"home namespace that gets 90%% of its requests, the rest Zipf-distributed over the namespaces (s = 1.1); 4 resources (Zipf, s = 2); "+
		"list 60%%, get of one of 10 objects (Zipf, s = 2) 20%%, watch 15%%, create 5%%; each user forwarded with two groups and a "+
		"credential-id extra. "+
		"Latencies are virtual: the time waiting for kube-apiserver and for the client budget, not the CPU time of a cache hit "+
		"(BenchmarkAuthzCacheHit has that).\n\n", reviewLatency)
	rep.markdownGrid(b)
	rep.markdownEntryBytes(b)
	rep.markdownSizes(b)
	rep.markdownRolling(b)
	rep.markdownConns(b)
	rep.markdownRecommendations(b)
}

func (rep *report) markdownGrid(b *strings.Builder) {
	fmt.Fprintf(b, "### Authorization: users × namespaces\n\n")
	fmt.Fprintf(b, "`%s` (TestScale/users-namespaces): %d requests/s, TTL %v, a cache of 8,192 entries for both (Kubernetes' size; aggauth's default), "+
		"Kubernetes' client budget (200 QPS, burst 400), %v of warm-up, then %v measured. Hit rate: the share of requests answered at once "+
		"from the cache (one that waits, for its own review or for one in flight, is a miss). Memory: the heap the authorizer held at the "+
		"end (its cache, mostly). **Saturated**: the cache leaves more reviews than the budget lets through; the misses wait for it "+
		"(Kubernetes: as long as it takes; aggauth: until its retries give up, then the request gets 503, or at once 429 beyond its "+
		"bounds on reviews in flight: the errors).\n\n",
		command, gridRate, defaultTTL, firstOr(rep.grid, func(r *authzRun) time.Duration { return r.warm }), firstOr(rep.grid, func(r *authzRun) time.Duration { return r.measure }))
	fmt.Fprintf(b, "![hit rate against users](img/scale-hitrate.svg) ![reviews per second against users](img/scale-reviews.svg) ![memory against users](img/scale-memory.svg)\n\n")
	fmt.Fprintf(b, "| namespaces | users | impl | hit rate | reviews/s | memory | p50 | p99 | errors | budget (200/s) |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rep.grid {
		state := "within"
		if saturated(r) {
			state = "**saturated**"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %.1f%% | %.0f | %s | %s | %s | %d | %s |\n", num(r.namespaces), num(r.users), r.impl, 100*r.hitRate(),
			r.reviewsPerSecond(), mib(r.memory), ms(r.p50), ms(r.p99), r.refused, state)
	}
	fmt.Fprintln(b)
}

func (rep *report) markdownEntryBytes(b *strings.Builder) {
	fmt.Fprintf(b, "### Memory per cached decision\n\n")
	fmt.Fprintf(b, "`%s` (TestScale/entry-bytes): the heap taken by 4,096 cached decisions (distinct gets of one user, forwarded with two groups "+
		"and a credential-id extra), divided by 4,096. aggauth's byte bound counts %d bytes per entry plus its key and reason "+
		"(authz: entryOverhead); Kubernetes' cache has no byte bound, only its 8,192 entries.\n\n", command, 192)
	fmt.Fprintf(b, "| impl | bytes per entry |\n| --- | --- |\n")
	for _, e := range rep.entryBytes {
		fmt.Fprintf(b, "| %s | %.0f |\n", e.impl, e.bytes)
	}
	fmt.Fprintln(b)
}

func (rep *report) markdownSizes(b *strings.Builder) {
	fmt.Fprintf(b, "### Cache size and TTL per cluster size\n\n")
	fmt.Fprintf(b, "`%s` (TestScale/cache-size-ttl): three clusters; for each TTL, a sweep of aggauth's cache size (MaxEntries, with "+
		"MaxBytes = 1 KiB per entry) and Kubernetes' fixed 8,192 entries; warm-up of the TTL plus 10 s (20 s at least), then %v measured. "+
		"**Without a client budget**: every review is sent at once, so reviews/s is what the cache leaves to kube-apiserver (its demand), "+
		"to be read against the budget of 200 per second that Kubernetes' delegated authorization gives its client (and aggauth by "+
		"default); above it (**over budget**), reviews wait for the budget, as the users × namespaces table shows.\n\n",
		command, firstOr(rep.grid, func(r *authzRun) time.Duration { return r.measure }))
	fmt.Fprintf(b, "![reviews per second against cache size](img/scale-sizes.svg)\n\n")
	fmt.Fprintf(b, "| cluster | TTL | impl | cache entries | hit rate | reviews/s | memory | budget (200/s) |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, s := range rep.sizes {
		r := s.run
		fmt.Fprintf(b, "| %s (%s users, %s namespaces, %s req/s) | %v | %s | %s | %.1f%% | %.0f | %s | %s |\n",
			s.cluster.name, num(s.cluster.users), num(s.cluster.namespaces), num(int(s.cluster.rate)), r.ttl, r.impl, num(r.size),
			100*r.hitRate(), r.reviewsPerSecond(), mib(r.memory), budget(r))
	}
	fmt.Fprintln(b)
	fmt.Fprintf(b, "Saturation, per cluster and implementation: the smallest cache and TTL whose reviews fit the default client budget "+
		"(200 per second).\n\n")
	fmt.Fprintf(b, "| cluster | impl | within 200 reviews/s from |\n| --- | --- | --- |\n")
	for _, c := range clusters() {
		for _, impl := range []string{"aggauth", "kubernetes"} {
			var found *authzRun
			seen := false
			for _, s := range rep.sizes {
				if s.cluster.name != c.name || s.run.impl != impl {
					continue
				}
				seen = true
				if !overBudget(s.run) && (found == nil || s.run.ttl < found.ttl || s.run.ttl == found.ttl && s.run.size < found.size) {
					found = s.run
				}
			}
			switch {
			case !seen:
			case found == nil:
				fmt.Fprintf(b, "| %s | %s | over budget at every size and TTL measured |\n", c.name, impl)
			default:
				fmt.Fprintf(b, "| %s | %s | %s entries, TTL %v (%.0f reviews/s) |\n", c.name, impl, num(found.size), found.ttl, found.reviewsPerSecond())
			}
		}
	}
	fmt.Fprintln(b)
}

// overBudget: the cache leaves more reviews than the default client budget.
func overBudget(r *authzRun) bool { return r.reviewsPerSecond() > 200 }

// saturated: a run with the budget that hit it: reviews wait for it, or fail.
func saturated(r *authzRun) bool {
	return r.reviewsPerSecond() >= 190 || r.p99 > time.Second || r.refused > 0
}

func budget(r *authzRun) string {
	if overBudget(r) {
		return fmt.Sprintf("**over budget** (%.1f×)", r.reviewsPerSecond()/200)
	}
	return fmt.Sprintf("%.0f%% used", r.reviewsPerSecond()/2)
}

func (rep *report) markdownRolling(b *strings.Builder) {
	fmt.Fprintf(b, "### Rolling restart\n\n")
	fmt.Fprintf(b, "`%s` (TestScale/rolling-restart): replicas behind one Service share %d requests/s round-robin (10,000 users, "+
		"1,000 namespaces, TTL 10 s, 8,192 entries); after a warm-up, each replica in turn is replaced by a new one with an empty cache, "+
		"every 15 s. Per restart, over the new replica's first 10 s: the reviews it sent, how many distinct reviews they were, the most "+
		"sent in 100 ms, and the p99 latency of its requests (medians over the restarts: each replica has its own client budget, "+
		"so the burst is capped at 400 then 200/s).\n\n", command, gridRate)
	fmt.Fprintf(b, "![reviews per cold replica](img/scale-rolling.svg)\n\n")
	fmt.Fprintf(b, "| replicas | impl | reviews (first 10 s) | distinct | duplicates | most in 100 ms | p99 |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rep.rolling {
		fmt.Fprintf(b, "| %d | %s | %.0f | %.0f | %.0f | %.0f | %s |\n", r.replicas, r.impl, r.reviews, r.distinct, r.reviews-r.distinct, r.peak, ms(r.p99))
	}
	fmt.Fprintln(b)
}

func (rep *report) markdownConns(b *strings.Builder) {
	fmt.Fprintf(b, "### Connections\n\n")
	fmt.Fprintf(b, "`%s` (TestScale/connections), in real time over HTTP/2 and TLS on loopback: callers, each with a client certificate of its "+
		"own (a user of its own) on a connection of its own, all at once, each sending its requests one after the other to the "+
		"list request through a fresh chain (empty caches: each caller's first request is a TLS handshake, a certificate "+
		"verification and a SubjectAccessReview). Each point runs twice per impl, in the order aggauth, Kubernetes, Kubernetes, "+
		"aggauth, and counts both runs. CPU is the whole process's (clients and server) per request. The first request's "+
		"cost is that of the runs with one request per connection; a further request's is the difference between the runs with "+
		"more and with one, per extra request. x509 verifications: Kubernetes' x509 authenticator verifies every request; "+
		"aggauth once per certificate (its verification cache, by connection and by the chain's content).\n\n", command)
	fmt.Fprintf(b, "![CPU per request against connections](img/scale-conns.svg)\n\n")
	fmt.Fprintf(b, "| connections | requests per connection | impl | requests | CPU/request | requests/s | x509 verifications | reviews |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rep.conns {
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %.0f | %s | %d |\n", num(r.conns), r.perConn, r.impl, num(r.requests),
			us(r.cpuPerRequest()), r.rps(), num(r.verifications), r.reviews)
	}
	fmt.Fprintln(b)
	fmt.Fprintf(b, "| connections | impl | first request on a connection (CPU) | each further request (CPU) |\n| --- | --- | --- | --- |\n")
	for _, row := range rep.connCosts() {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", num(row.conns), row.impl, us(row.first), us(row.rest))
	}
	fmt.Fprintln(b)
}

type connCost struct {
	conns       int
	impl        string
	first, rest time.Duration
}

// connCosts derives, per connections and impl, the CPU of a first request
// (runs with one request per connection) and of a further one (the run with
// the most requests per connection against the run with one).
func (rep *report) connCosts() []connCost {
	var out []connCost
	for _, one := range rep.conns {
		if one.perConn != 1 {
			continue
		}
		var most *connRun
		for _, r := range rep.conns {
			if r.impl == one.impl && r.conns == one.conns && r.perConn > 1 && (most == nil || r.perConn > most.perConn) {
				most = r
			}
		}
		c := connCost{conns: one.conns, impl: one.impl, first: one.cpu / time.Duration(max(1, one.requests))}
		if most != nil {
			c.rest = (most.cpu - one.cpu) / time.Duration(max(1, most.requests-one.requests))
		}
		out = append(out, c)
	}
	return out
}

// recommendation is the cache size advised for a cluster at a TTL.
type recommendation struct {
	c    cluster
	ttl  time.Duration
	best *authzRun // aggauth's run with the advised size
	k8s  *authzRun // Kubernetes' run at that TTL
}

// recommendations picks, per cluster and TTL, aggauth's smallest cache size
// whose reviews per second are within 5% of the fewest any size reached:
// beyond it, more entries do not save reviews (the TTL, not the size,
// expires the entries).
func (rep *report) recommendations() []recommendation {
	var out []recommendation
	for _, c := range clusters() {
		var ttls []time.Duration
		for _, s := range rep.sizes {
			if s.cluster.name == c.name && !slices.Contains(ttls, s.run.ttl) {
				ttls = append(ttls, s.run.ttl)
			}
		}
		for _, ttl := range ttls {
			var runs []*authzRun
			var k8s *authzRun
			for _, s := range rep.sizes {
				if s.cluster.name != c.name || s.run.ttl != ttl {
					continue
				}
				if s.run.impl == "kubernetes" {
					k8s = s.run
				} else {
					runs = append(runs, s.run)
				}
			}
			if len(runs) == 0 {
				continue
			}
			fewest := runs[0].reviewsPerSecond()
			for _, r := range runs {
				fewest = min(fewest, r.reviewsPerSecond())
			}
			var best *authzRun
			for _, r := range runs {
				if r.reviewsPerSecond() <= fewest*1.05+1 && (best == nil || r.size < best.size) {
					best = r
				}
			}
			out = append(out, recommendation{c: c, ttl: ttl, best: best, k8s: k8s})
		}
	}
	return out
}

func (rep *report) markdownRecommendations(b *strings.Builder) {
	fmt.Fprintf(b, "### Recommended cache sizes\n\n")
	fmt.Fprintf(b, "From the sweep above: per cluster and TTL, aggauth's smallest cache whose reviews per second are within 5%% of the "+
		"fewest any size reached. A decision lives at most one TTL, so a cache needs about as many entries as there are distinct "+
		"requests in a TTL (at most the request rate × the TTL); beyond that, entries expire before they are evicted, and more "+
		"entries only cost memory. MaxBytes at 1 KiB per entry (the default ratio) leaves room for keys several times the measured "+
		"size before the byte bound binds. A longer TTL trades reviews for a longer delay before a revoked permission takes "+
		"effect (Kubernetes' default is 10 s); where the reviews exceed the budget of 200 per second, raise the TTL or the client's "+
		"QPS (aggauth.Options.QPS) with kube-apiserver's capacity in mind.\n\n")
	fmt.Fprintf(b, "The defaults stay at 8,192 entries and 8 MiB (authz.DefaultMaxEntries, DefaultMaxBytes): Kubernetes' size, "+
		"enough for every cluster above at the default TTL and for the medium one at a TTL of a minute. A cache larger than its "+
		"cluster needs costs nothing: its memory grows with the entries stored (about 600 bytes each, measured above), not with "+
		"the bound. Raise MaxEntries (and MaxBytes with it) only with a longer TTL on a large cluster.\n\n")
	fmt.Fprintf(b, "| cluster | users | namespaces | requests/s | TTL | MaxEntries | MaxBytes | hit rate | reviews/s | memory | Kubernetes (8,192 entries): hit rate, reviews/s |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rep.recommendations() {
		k := "-"
		if r.k8s != nil {
			k = fmt.Sprintf("%.1f%%, %.0f", 100*r.k8s.hitRate(), r.k8s.reviewsPerSecond())
		}
		reviews := fmt.Sprintf("%.0f", r.best.reviewsPerSecond())
		if overBudget(r.best) {
			reviews += " (over budget)"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %v | %s | %s | %.1f%% | %s | %s | %s |\n", r.c.name, num(r.c.users), num(r.c.namespaces), num(int(r.c.rate)),
			r.ttl, num(r.best.size), mib(int64(r.best.size)*bytesPerEntry), 100*r.best.hitRate(), reviews, mib(r.best.memory), k)
	}
	fmt.Fprintln(b)
}

func (rep *report) gridCSV() []string {
	rows := []string{"impl,users,namespaces,hit_rate,reviews_per_s,memory_bytes,p50_ms,p99_ms,errors"}
	for _, r := range rep.grid {
		rows = append(rows, fmt.Sprintf("%s,%d,%d,%.4f,%.2f,%d,%.3f,%.3f,%d", r.impl, r.users, r.namespaces, r.hitRate(), r.reviewsPerSecond(),
			r.memory, msf(r.p50), msf(r.p99), r.refused))
	}
	return rows
}

func (rep *report) sizesCSV() []string {
	rows := []string{"cluster,impl,size,ttl_s,hit_rate,reviews_per_s,memory_bytes,p99_ms,errors"}
	for _, s := range rep.sizes {
		r := s.run
		rows = append(rows, fmt.Sprintf("%s,%s,%d,%.0f,%.4f,%.2f,%d,%.3f,%d", s.cluster.name, r.impl, r.size, r.ttl.Seconds(), r.hitRate(),
			r.reviewsPerSecond(), r.memory, msf(r.p99), r.refused))
	}
	return rows
}

func (rep *report) rollingCSV() []string {
	rows := []string{"impl,replicas,reviews,distinct,peak_per_100ms,p99_ms"}
	for _, r := range rep.rolling {
		rows = append(rows, fmt.Sprintf("%s,%d,%.1f,%.1f,%.1f,%.3f", r.impl, r.replicas, r.reviews, r.distinct, r.peak, msf(r.p99)))
	}
	return rows
}

func (rep *report) connsCSV() []string {
	rows := []string{"impl,conns,per_conn,requests,cpu_per_request_us,requests_per_s,verifications,reviews"}
	for _, r := range rep.conns {
		rows = append(rows, fmt.Sprintf("%s,%d,%d,%d,%.2f,%.1f,%d,%d", r.impl, r.conns, r.perConn, r.requests,
			float64(r.cpuPerRequest())/1e3, r.rps(), r.verifications, r.reviews))
	}
	return rows
}

func (rep *report) connCostCSV() []string {
	rows := []string{"impl,conns,first_us,rest_us"}
	for _, c := range rep.connCosts() {
		rows = append(rows, fmt.Sprintf("%s,%d,%.2f,%.2f", c.impl, c.conns, float64(c.first)/1e3, float64(c.rest)/1e3))
	}
	return rows
}

func firstOr(rs []*authzRun, f func(*authzRun) time.Duration) time.Duration {
	if len(rs) == 0 {
		return 0
	}
	return f(rs[0])
}

func num(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func mib(b int64) string {
	if b < 1<<20 {
		return fmt.Sprintf("%d KiB", b>>10)
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

func msf(d time.Duration) float64 { return float64(d) / 1e6 }

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.2f ms", msf(d))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", msf(d))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/1e3) }
