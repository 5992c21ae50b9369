package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// descriptions say what each benchmark of bench/ (and authz) measures.
var descriptions = map[string]string{
	"BenchmarkAdmitNamespace":        "A create into an existing namespace, answered from the synced informer: our NamespaceLifecycle against k8s.io/apiserver's NamespaceLifecycle plugin.",
	"BenchmarkAdmitNamespaceMissing": "Creates into a namespace that does not exist. Ours answers from its negative cache after one live GET; Kubernetes' plugin waits 50 ms on purpose and makes a live GET on every create. The time ratio would measure that wait: it is not shown.",
	"BenchmarkAdmitMiddleware":       "The Admission step with NamespaceLifecycle on a create, against the bare handler.",
	"BenchmarkAuthnFrontProxy":       "One warm request through the front-proxy authenticator (certificate verification, then the identity headers), with ECDSA and RSA front-proxy certificates. Every case pays for rebuilding the headers (baseline=headers-only).",
	"BenchmarkAuthnFrontProxyCold":   "The paths the verification cache cannot shorten: the aggregator's certificate on a connection not seen before (new certificate objects each request: ours hashes the chain and finds it by content) and a different self-signed certificate each request, refused by both.",
	"BenchmarkAuthzCacheHit":         "One authorization decision answered from the cache: our Authorizer against Kubernetes' delegated authorizer as an extension apiserver gets it (DelegatingAuthorizationOptions.ApplyTo: the always-allow groups and paths, then the webhook authorizer).",
	"BenchmarkSARStorm":              "1,000 concurrent identical requests against an empty cache and a kube-apiserver answering in 5 ms; sars/op is how many SubjectAccessReviews kube-apiserver received per storm.",
	"BenchmarkRequestAttributes":     "A request turned into its RequestInfo and authorizer attributes, selectors parsed (the handler reads them, so our lazy parsing pays too): the RequestAttributes step against Kubernetes' WithRequestInfo and GetAuthorizerAttributes.",
	"BenchmarkChain":                 "One warm request through the whole request path (authentication of the front proxy and its user, request attributes, authorization from the warm cache, and NamespaceLifecycle for the create): a bare handler (none), aggauth's middleware.NewChain, and k8s.io/apiserver's WithRequestInfo, WithAuthentication, WithAuthorization and NamespaceLifecycle plugin. The SubjectAccessReview server gets no request during the timed loops. Every impl, none included, pays for putting back the identity headers the chains remove.",
	"BenchmarkChainNewGoroutine":     "BenchmarkChain's list request served on a new goroutine, as net/http's HTTP/2 server serves every request: the cost includes the goroutine and the stack growth caused by the chain's call depth.",
	"BenchmarkStorm":                 "10,000 requests from 1,000 distinct users (ten identical requests each, all released together) through a fresh authorizer with an empty cache, against a kube-apiserver answering a review in 5 ms; both clients limited to 200 QPS, burst 400, as Kubernetes' delegated authorization. One op is the whole storm; p50-ms and p99-ms are the latencies of single requests.",
	"BenchmarkKey":                   "authz: the cache key of a review (package-internal benchmark).",
	"BenchmarkAuthnToken":            "One request with a bearer token answered from the cache (Prometheus scraping /metrics after its first scrape): our authn.Token in a Union against Kubernetes' delegating authenticator (bearertoken and the cached webhook token authenticator). Both hash the token (HMAC-SHA256) to find the cached answer.",
	"BenchmarkTokenStorm":            "1,000 concurrent requests with the same new bearer token against a kube-apiserver answering in 5 ms; reviews/op is how many TokenReviews it received per storm. Both coalesce.",
	"BenchmarkFilters":               "serving: the Server's request filters around a handler, in process (audit ID, metrics, panic recovery, shutdown answers, Cache-Control, in-flight tracking, timeout on a goroutine of its own, warnings) against the bare handler (impl=none), the bare handler handed to another goroutine that is already running (impl=handoff: the least a timeout that answers 504 while the handler blocks can cost) and Kubernetes' same filters. A watch is long-running: no timeout goroutine. Every case pays for an httptest.ResponseRecorder.",
	"BenchmarkHTTP2":                 "serving: requests over HTTP/2 and TLS on loopback, 8 at a time over one connection, through a Server and through a bare http.Server with the same HTTP/2 settings (impl=none): what the filters cost a real server.",
	"BenchmarkOperate":               "serving: one step at a time behind the RequestInfo, in process: Kubernetes' request metrics (apiserver_request_total and the histograms), the in-flight limits (400/200) and the body limit, against Kubernetes' same code (its handlers' instrumentation, WithMaxInFlightLimit); filter=requestinfo is the base both stand on.",
	"BenchmarkAudit":                 "audit: one request through the audit at Metadata level (RequestReceived and ResponseComplete written as JSON lines to a discarded log), blocking and batch, against k8s.io/apiserver's audit filter, policy evaluator and log backend; audit=off is the chain with no audit configured (nothing to pay).",
}

var standardUnits = []string{"ns/op", "B/op", "allocs/op"}

func render(b *strings.Builder, s *set, resultsPath, load, scale, profile string) {
	fmt.Fprintf(b, "# Benchmarks\n\n")
	fmt.Fprintf(b, "Written by `make bench` (`go run ./bench/report`) from [`%s`](%s), the raw `go test -bench` output;\n", baseName(resultsPath), baseName(resultsPath))
	fmt.Fprintf(b, "do not edit by hand. Every number is the median of %d runs; ± is the largest distance of a run from the median.\n\n", runs(s))
	if len(s.malformed) > 0 {
		fmt.Fprintf(b, "%d result lines of the file could not be read and are left out (see `go run ./bench/report`).\n\n", len(s.malformed))
	}
	renderMachine(b, s)
	renderTargets(b, evaluate(s, load))
	fmt.Fprintf(b, "## Results\n\n")
	for _, top := range s.tops() {
		renderBenchmark(b, s, top)
	}
	renderLoad(b, load)
	renderIncluded(b, profile, "## Where the time goes (profiles)", "`bench/profile.md`, the summary of the load test's profiles, is missing.")
	renderIncluded(b, scale, "## Scale model (`make scale`)", "Not run yet: `make scale` writes `bench/scale.md`, which the next `make bench` includes here.")
	renderReproduce(b, resultsPath)
}

func renderMachine(b *strings.Builder, s *set) {
	c := s.config
	cpu := c["cpu-model"]
	if cpu == "" {
		cpu = c["cpu"]
	}
	fmt.Fprintf(b, "## Machine\n\n| | |\n| --- | --- |\n")
	fmt.Fprintf(b, "| CPU | %s |\n| cores | %s (GOMAXPROCS %s) |\n| Go | %s %s/%s |\n", cpu, c["cores"], c["gomaxprocs"], c["go-version"], c["goos"], c["goarch"])
	fmt.Fprintf(b, "| run | %s to %s |\n", c["date"], c["date-end"])
	fmt.Fprintf(b, "| commit | %s |\n", c["commit"])
	fmt.Fprintf(b, "| load average (1, 5, 15 min) | %s at the start, %s at the end |\n\n", c["loadavg-start"], c["loadavg-end"])
	if c["commit"] != c["commit-end"] {
		fmt.Fprintf(b, "**The checked-out code changed during the run** (%s at the start, %s at the end): the results may mix versions.\n\n", c["commit"], c["commit-end"])
	}
	if busy(c["loadavg-start"], c["cores"]) || busy(c["loadavg-end"], c["cores"]) {
		fmt.Fprintf(b, "The load average was above the number of cores: other builds and tests shared the CPU during the run,\n")
		fmt.Fprintf(b, "so absolute times are inflated and noisy. The ratios between impls, measured in the same run and\n")
		fmt.Fprintf(b, "interleaved with the same background work, are the numbers to read.\n\n")
	}
}

// busy reports whether the 1-minute load average exceeds the core count.
func busy(loadavg, cores string) bool {
	f := strings.Fields(loadavg)
	n, err := strconv.Atoi(cores)
	if len(f) == 0 || err != nil {
		return false
	}
	l, err := strconv.ParseFloat(f[0], 64)
	return err == nil && l > float64(n)
}

func renderBenchmark(b *strings.Builder, s *set, top string) {
	fmt.Fprintf(b, "### %s\n\n", top)
	if d := descriptions[top]; d != "" {
		fmt.Fprintf(b, "%s\n\n", d)
	}
	var rs []*result
	var custom []string
	for _, r := range s.results {
		if r.top != top {
			continue
		}
		rs = append(rs, r)
		for _, u := range r.units {
			if !slices.Contains(standardUnits, u) && !slices.Contains(custom, u) {
				custom = append(custom, u)
			}
		}
	}
	fmt.Fprintf(b, "| sub-benchmark | impl | time/op | ± | B/op | allocs/op |")
	for _, u := range custom {
		fmt.Fprintf(b, " %s |", u)
	}
	fmt.Fprintf(b, " comparison |\n|%s\n", strings.Repeat(" --- |", 7+len(custom)))
	for _, r := range groupRows(rs) {
		ns, _ := r.median("ns/op")
		fmt.Fprintf(b, "| %s | %s | %s | %.0f%% | %s | %s |", orDash(r.row), orDash(r.impl), fmtNs(ns), 100*r.spread("ns/op"),
			fmtMedian(r, "B/op"), fmtMedian(r, "allocs/op"))
		for _, u := range custom {
			fmt.Fprintf(b, " %s |", fmtMedian(r, u))
		}
		fmt.Fprintf(b, " %s |\n", compare(s, r, custom))
	}
	fmt.Fprintln(b)
}

// groupRows orders results by sub-benchmark (first appearance), then impl.
func groupRows(rs []*result) []*result {
	var rows []string
	for _, r := range rs {
		if !slices.Contains(rows, r.row) {
			rows = append(rows, r.row)
		}
	}
	out := make([]*result, 0, len(rs))
	for _, row := range rows {
		for _, r := range rs {
			if r.row == row {
				out = append(out, r)
			}
		}
	}
	return out
}

// notSpeedups are the benchmarks whose kubernetes/aggauth time ratio measures
// a wait Kubernetes makes on purpose, not a cost ours avoids.
var notSpeedups = map[string]string{
	"BenchmarkAdmitNamespaceMissing": "time: Kubernetes' deliberate 50 ms wait, not compared",
}

// compare describes r against the other impls of its sub-benchmark: for
// kubernetes the ratio kubernetes/aggauth, for aggauth the overhead over the
// bare handler (none, or baseline).
func compare(s *set, r *result, custom []string) string {
	switch r.impl {
	case "kubernetes":
		ours := s.get(r.top, r.row, "aggauth")
		if ours == nil {
			return ""
		}
		parts := []string{}
		units := append([]string{"ns/op", "allocs/op"}, custom...)
		if note, ok := notSpeedups[r.top]; ok {
			parts, units = append(parts, note), units[1:]
		}
		for _, u := range units {
			k, ok1 := r.median(u)
			a, ok2 := ours.median(u)
			if !ok1 || !ok2 {
				continue
			}
			label := map[string]string{"ns/op": "time", "allocs/op": "allocs"}[u]
			if label == "" {
				label = u
			}
			if a == 0 {
				parts = append(parts, fmt.Sprintf("%s %s vs 0", label, fmtNum(k)))
				continue
			}
			ratio := fmtRatio(k / a)
			if u == "ns/op" {
				ratio = "**" + ratio + "**"
			}
			parts = append(parts, label+" "+ratio)
		}
		return "kubernetes/aggauth: " + strings.Join(parts, ", ")
	case "aggauth":
		for _, base := range []string{"none", "baseline"} {
			bare := s.get(r.top, r.row, base)
			if bare == nil {
				continue
			}
			a, _ := r.median("ns/op")
			n, _ := bare.median("ns/op")
			return fmt.Sprintf("overhead over %s: +%s", base, fmtNs(a-n))
		}
	}
	return ""
}

func renderLoad(b *strings.Builder, load string) {
	fmt.Fprintf(b, "## HTTP/2 load test (`make load`)\n\n")
	if strings.TrimSpace(load) == "" {
		fmt.Fprintf(b, "Not run yet: `make load` writes `bench/load.txt`, which the next `make bench` includes here.\n\n")
		return
	}
	fmt.Fprintf(b, "The last `make load` (`bench/load.txt`): client and server in one process on loopback, sharing the machine's cores, "+
		"each impl behind an http.Server with package serving's HTTP/2 settings (impl=serving: the bare handler behind serving.New, its filters included). "+
		"The impls are measured in rounds taken in turn; the share of the bare handler's requests per second is the median of the rounds' shares.\n\n")
	fmt.Fprintf(b, "```\n%s\n```\n\n", strings.TrimRight(load, "\n"))
}

// renderIncluded writes a Markdown file written elsewhere (make scale's
// scale.md, the profile summary), whose first line is its own heading, or a
// note when it is missing.
func renderIncluded(b *strings.Builder, text, heading, missing string) {
	if strings.TrimSpace(text) == "" {
		fmt.Fprintf(b, "%s\n\n%s\n\n", heading, missing)
		return
	}
	fmt.Fprintf(b, "%s\n", strings.TrimRight(text, "\n"))
	fmt.Fprintln(b)
}

func renderReproduce(b *strings.Builder, resultsPath string) {
	fmt.Fprintf(b, "## Reproduce\n\n```sh\n")
	fmt.Fprintf(b, "make bench              # every benchmark of bench/, authz's, serving's and audit's, BENCH_COUNT=6 runs each,\n")
	fmt.Fprintf(b, "                        # into %s, then this file\n", resultsPath)
	fmt.Fprintf(b, "make load               # the HTTP/2 load test, 64 streams over 1 connection, then 1,000 over 4, into bench/load.txt\n")
	fmt.Fprintf(b, "make scale              # the scale model, into bench/scale.md, bench/scale-data/ and the charts in bench/img/\n")
	fmt.Fprintf(b, "go run golang.org/x/perf/cmd/benchstat@latest %s             # medians and confidence intervals\n", resultsPath)
	fmt.Fprintf(b, "go run golang.org/x/perf/cmd/benchstat@latest -col /impl %s  # impls side by side\n", resultsPath)
	fmt.Fprintf(b, "go test -run '^$' -bench 'BenchmarkChainNewGoroutine/.*/impl=aggauth' -cpuprofile cpu.out ./bench/  # a profile\n")
	fmt.Fprintf(b, "go run ./bench/load -impls none,aggauth -cpuprofile cpu.out -memprofile mem.out  # profiles of the load test\n")
	fmt.Fprintf(b, "```\n")
}

func runs(s *set) int {
	n := 0
	for _, r := range s.results {
		n = max(n, len(r.samples["ns/op"]))
	}
	return n
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtMedian(r *result, unit string) string {
	v, ok := r.median(unit)
	if !ok {
		return ""
	}
	return fmtNum(v)
}

// fmtRatio formats a ratio with one decimal, or none from 100 on.
func fmtRatio(r float64) string {
	if r >= 100 {
		return fmtNum(r) + "×"
	}
	return fmt.Sprintf("%.1f×", r)
}

// fmtNs formats nanoseconds with a unit that keeps three significant digits.
func fmtNs(ns float64) string {
	switch a := math.Abs(ns); {
	case a < 1e3:
		return fmt.Sprintf("%.0f ns", ns)
	case a < 1e6:
		return fmt.Sprintf("%.3g µs", ns/1e3)
	case a < 1e9:
		return fmt.Sprintf("%.3g ms", ns/1e6)
	default:
		return fmt.Sprintf("%.3g s", ns/1e9)
	}
}

// fmtNum formats v with thousands separators, and up to three significant
// decimals below 100.
func fmtNum(v float64) string {
	if math.Abs(v) < 100 && v != math.Trunc(v) {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
