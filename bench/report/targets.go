package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// target is one line of DESIGN.md's performance targets, measured.
type target struct {
	path, want, measured, status string
}

const (
	met      = "met"
	notMet   = "**NOT met**"
	notRun   = "not measured"
	reported = "reported"
)

// evaluate checks the targets of DESIGN.md (and reports the storm of issue 7)
// against the medians in s and the load test output.
func evaluate(s *set, load string) []target {
	ts := []target{
		authnTarget(s, "ecdsa", "ECDSA"),
		authnTarget(s, "rsa", "RSA"),
		coldTarget(s, "new-connection", "new connection"),
		coldTarget(s, "rejected", "rejected certificate"),
		authzTarget(s),
		tokenTarget(s, "jwt-1KiB", "1 KiB JWT"),
		tokenTarget(s, "opaque-40B", "40-byte opaque token"),
		chainTarget(s),
	}
	ts = append(ts, chainOverheadTargets(s)...)
	ts = append(ts, sarStormTarget(s), stormTarget(s))
	ts = append(ts, loadTargets(load)...)
	return append(ts, servingTargets(s, load)...)
}

func renderTargets(b *strings.Builder, ts []target) {
	fmt.Fprintf(b, "## Targets (DESIGN.md)\n\n| path | target | measured (medians) | status |\n| --- | --- | --- | --- |\n")
	for _, t := range ts {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", t.path, t.want, t.measured, t.status)
	}
	fmt.Fprintln(b)
}

// ratios returns kubernetes/aggauth of ns/op and both allocs/op.
func ratios(s *set, top, row string) (speed, allocsOurs, allocsTheirs float64, ok bool) {
	k, ok1 := s.median(top, row, "kubernetes", "ns/op")
	a, ok2 := s.median(top, row, "aggauth", "ns/op")
	ka, ok3 := s.median(top, row, "kubernetes", "allocs/op")
	aa, ok4 := s.median(top, row, "aggauth", "allocs/op")
	if !ok1 || !ok2 || !ok3 || !ok4 || a == 0 {
		return 0, 0, 0, false
	}
	return k / a, aa, ka, true
}

func authnTarget(s *set, key, label string) target {
	t := target{path: "front-proxy authn, warm, " + label + " proxy certificate (BenchmarkAuthnFrontProxy)",
		want: "≥ 20× faster than k8s.io/apiserver, ≤ 1/3 of its allocations", status: notRun}
	speed, ours, theirs, ok := ratios(s, "BenchmarkAuthnFrontProxy", "key="+key)
	if !ok {
		return t
	}
	t.measured = fmt.Sprintf("%.1f× faster; %s allocs vs %s (%.2f)", speed, fmtNum(ours), fmtNum(theirs), ours/theirs)
	t.status = verdict(speed >= 20 && ours <= theirs/3)
	return t
}

func authzTarget(s *set) target {
	t := target{path: "authz decision, cache hit (BenchmarkAuthzCacheHit)",
		want: "≥ 3× faster than the webhook authorizer's cache hit, ≤ 2 allocations", status: notRun}
	speed, ours, theirs, ok := ratios(s, "BenchmarkAuthzCacheHit", "")
	if !ok {
		return t
	}
	t.measured = fmt.Sprintf("%.1f× faster; %s allocs vs %s", speed, fmtNum(ours), fmtNum(theirs))
	t.status = verdict(speed >= 3 && ours <= 2)
	return t
}

func chainTarget(s *set) target {
	t := target{path: "whole chain, warm, in-process (BenchmarkChain)",
		want: "≥ 10× faster than the k8s filter chain; overhead over a bare handler reported", status: notRun}
	var parts []string
	all := true
	for _, r := range s.results {
		if r.top != "BenchmarkChain" || r.impl != "aggauth" {
			continue
		}
		speed, _, _, ok := ratios(s, r.top, r.row)
		a, _ := r.median("ns/op")
		n, okNone := s.median(r.top, r.row, "none", "ns/op")
		if !ok || !okNone {
			return t
		}
		parts = append(parts, fmt.Sprintf("%s: %.1f×, +%s over none", r.row, speed, fmtNs(a-n)))
		all = all && speed >= 10
	}
	if len(parts) == 0 {
		return t
	}
	t.measured, t.status = strings.Join(parts, "; "), verdict(all)
	return t
}

func sarStormTarget(s *set) target {
	t := target{path: "1,000 concurrent identical cache misses (BenchmarkSARStorm)",
		want: "exactly 1 SAR (Kubernetes: one per request)", status: notRun}
	ours := s.get("BenchmarkSARStorm", "", "aggauth")
	if ours == nil || len(ours.samples["sars/op"]) == 0 {
		return t
	}
	exact := true
	for _, v := range ours.samples["sars/op"] {
		exact = exact && v == 1
	}
	k, _ := s.median("BenchmarkSARStorm", "", "kubernetes", "sars/op")
	t.measured = fmt.Sprintf("aggauth %s SAR per storm in every run; kubernetes %s", fmtNum(median(ours.samples["sars/op"])), fmtNum(k))
	t.status = verdict(exact)
	return t
}

func stormTarget(s *set) target {
	t := target{path: "10,000 requests from 1,000 users, cold caches, 5 ms SARs (BenchmarkStorm, issue 7)",
		want: "SARs sent and p99 latency reported for both", status: notRun}
	var parts []string
	for _, impl := range []string{"aggauth", "kubernetes"} {
		sars, ok1 := s.median("BenchmarkStorm", "", impl, "sars/op")
		p99, ok2 := s.median("BenchmarkStorm", "", impl, "p99-ms")
		if !ok1 || !ok2 {
			return t
		}
		parts = append(parts, fmt.Sprintf("%s %s SARs, p99 %s", impl, fmtNum(sars), fmtNs(p99*1e6)))
	}
	t.measured, t.status = strings.Join(parts, "; "), reported
	return t
}

// loadShare is the share of the bare handler's requests per second that
// aggauth's chain must keep over HTTP/2 (issue 15; DESIGN.md asks 90%).
const loadShare = 95

var (
	loadRun    = regexp.MustCompile(`(?m)^date: `)
	loadShape  = regexp.MustCompile(`(?m)^streams: (\d+) over (\d+) `)
	loadRounds = regexp.MustCompile(`(?m)^(\S+)/none: ([0-9.]+)% of the bare handler's requests per second \(median of (\d+) rounds, spread ([0-9.]+)% to ([0-9.]+)%; whole run ([0-9.]+)%\); by CPU time per request: ([0-9.]+)%`)
	loadRatio  = regexp.MustCompile(`(?m)^aggauth/none: ([0-9.]+)% of the bare handler's requests per second(?:; by CPU time per request: ([0-9.]+)%)?`)
)

// loadRuns splits the load test output into its runs (make load makes one
// per shape of traffic).
func loadRuns(load string) []string {
	idx := loadRun.FindAllStringIndex(load, -1)
	var runs []string
	for i, at := range idx {
		end := len(load)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		runs = append(runs, load[at[0]:end])
	}
	return runs
}

// loadResult is what one run says of an impl against the bare handler.
type loadResult struct {
	streams, conns                string
	median, low, high, whole, cpu float64
	rounds                        string
}

func loadResultOf(run, impl string) (loadResult, bool) {
	var r loadResult
	if m := loadShape.FindStringSubmatch(run); m != nil {
		r.streams, r.conns = m[1], m[2]
	}
	for _, m := range loadRounds.FindAllStringSubmatch(run, -1) {
		if m[1] != impl {
			continue
		}
		r.rounds = m[3]
		for i, f := range []*float64{&r.median, nil, &r.low, &r.high, &r.whole, &r.cpu} {
			if f != nil {
				*f, _ = strconv.ParseFloat(m[2+i], 64)
			}
		}
		return r, true
	}
	return r, false
}

func loadTargets(load string) []target {
	want := fmt.Sprintf("≥ %d%% of a bare handler's requests per second (median of the rounds; DESIGN.md: ≥ 90%%)", loadShare)
	var ts []target
	for _, run := range loadRuns(load) {
		r, ok := loadResultOf(run, "aggauth")
		if !ok {
			if m := loadRatio.FindStringSubmatch(run); m != nil { // an older load.txt
				pct, _ := strconv.ParseFloat(m[1], 64)
				ts = append(ts, target{path: "HTTP/2 over TLS on loopback (make load)", want: want,
					measured: fmt.Sprintf("%.1f%% over the whole run", pct), status: verdict(pct >= loadShare)})
			}
			continue
		}
		ts = append(ts, target{
			path: fmt.Sprintf("HTTP/2 over TLS on loopback, %s streams over %s connection(s) (make load)", r.streams, r.conns),
			want: want,
			measured: fmt.Sprintf("%.1f%% (median of %s rounds, spread %.1f%% to %.1f%%; whole run %.1f%%; by CPU time per request %.1f%%)",
				r.median, r.rounds, r.low, r.high, r.whole, r.cpu),
			status: verdict(r.median >= loadShare),
		})
	}
	if len(ts) == 0 {
		ts = append(ts, target{path: "HTTP/2 over TLS on loopback (make load)", want: want, measured: "run `make load`", status: notRun})
	}
	return ts
}

// Net overhead of the chain over the bare handler, per request (issue 15).
const (
	maxChainOverheadNs = 2000
	maxChainAllocs     = 6
)

// chainOverheadTargets are BenchmarkChain's aggauth minus none, per case: the
// harness' own cost (putting the identity headers back) is in both.
func chainOverheadTargets(s *set) []target {
	var ts []target
	for _, r := range s.results {
		if r.top != "BenchmarkChain" || r.impl != "aggauth" {
			continue
		}
		t := target{path: "whole chain overhead over a bare handler, net of the harness, " + r.row + " (BenchmarkChain)",
			want: "≤ 2 µs, ≤ 6 allocations", status: notRun}
		a, ok1 := r.median("ns/op")
		n, ok2 := s.median(r.top, r.row, "none", "ns/op")
		aa, ok3 := r.median("allocs/op")
		na, ok4 := s.median(r.top, r.row, "none", "allocs/op")
		if ok1 && ok2 && ok3 && ok4 {
			t.measured = fmt.Sprintf("+%s, +%s allocs", fmtNs(a-n), fmtNum(aa-na))
			t.status = verdict(a-n <= maxChainOverheadNs && aa-na <= maxChainAllocs)
		}
		ts = append(ts, t)
	}
	return ts
}

// coldTarget: the paths the verification cache cannot shorten are no slower
// than Kubernetes'.
func coldTarget(s *set, row, label string) target {
	t := target{path: "front-proxy authn, cold: " + label + " (BenchmarkAuthnFrontProxyCold)",
		want: "no slower than Kubernetes", status: notRun}
	speed, ours, theirs, ok := ratios(s, "BenchmarkAuthnFrontProxyCold", "case="+row)
	if !ok {
		return t
	}
	t.measured = fmt.Sprintf("%.2f× Kubernetes' speed; %s allocs vs %s", speed, fmtNum(ours), fmtNum(theirs))
	t.status = verdict(speed >= 1)
	return t
}

// tokenTarget: a bearer token answered from the cache.
func tokenTarget(s *set, row, label string) target {
	t := target{path: "bearer token, cache hit, " + label + " (BenchmarkAuthnToken)",
		want: "≥ 3× faster than k8s' cached token authenticator, ≤ 2 allocations", status: notRun}
	speed, ours, theirs, ok := ratios(s, "BenchmarkAuthnToken", "token="+row)
	if !ok {
		return t
	}
	t.measured = fmt.Sprintf("%.1f× faster; %s allocs vs %s", speed, fmtNum(ours), fmtNum(theirs))
	if row == "jwt-1KiB" {
		t.measured += " (both pay an HMAC-SHA256 of the 1 KiB token, which bounds the ratio near 2×)"
	}
	t.status = verdict(speed >= 3 && ours <= 2)
	return t
}

// servingTargets report the cost of package serving's filters (issue 13's
// request path; issue 15 reports it): in process, over HTTP/2 in BenchmarkHTTP2,
// and in the load test.
func servingTargets(s *set, load string) []target {
	var ts []target
	if a, ok1 := s.median("BenchmarkFilters", "req=get", "serving", "ns/op"); ok1 {
		n, _ := s.median("BenchmarkFilters", "req=get", "none", "ns/op")
		k, _ := s.median("BenchmarkFilters", "req=get", "kubernetes", "ns/op")
		aa, _ := s.median("BenchmarkFilters", "req=get", "serving", "allocs/op")
		na, _ := s.median("BenchmarkFilters", "req=get", "none", "allocs/op")
		ts = append(ts, target{path: "serving's filters, in process, a GET (serving BenchmarkFilters)", want: "overhead over a bare handler reported",
			measured: fmt.Sprintf("+%s, +%s allocs (Kubernetes' same filters: +%s)", fmtNs(a-n), fmtNum(aa-na), fmtNs(k-n)), status: reported})
	}
	if a, ok := s.median("BenchmarkHTTP2", "", "serving", "ns/op"); ok {
		n, _ := s.median("BenchmarkHTTP2", "", "none", "ns/op")
		ts = append(ts, target{path: "serving.Server over HTTP/2, 8 streams (serving BenchmarkHTTP2)", want: "overhead over a bare server reported",
			measured: fmt.Sprintf("%.1f%% of the bare server's requests per second", 100*n/a), status: reported})
	}
	for _, run := range loadRuns(load) {
		if r, ok := loadResultOf(run, "serving"); ok {
			ts = append(ts, target{path: fmt.Sprintf("serving.Server's filters over HTTP/2, %s streams over %s connection(s) (make load, impl=serving)", r.streams, r.conns),
				want: "overhead over a bare server reported",
				measured: fmt.Sprintf("%.1f%% of the bare server's requests per second (median of %s rounds, spread %.1f%% to %.1f%%); by CPU time per request %.1f%%",
					r.median, r.rounds, r.low, r.high, r.cpu), status: reported})
		}
	}
	return ts
}

func verdict(ok bool) string {
	if ok {
		return met
	}
	return notMet
}

func median(v []float64) float64 {
	r := &result{samples: map[string][]float64{"x": v}}
	m, _ := r.median("x")
	return m
}
