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
	return []target{
		authnTarget(s, "ecdsa", "ECDSA"),
		authnTarget(s, "rsa", "RSA"),
		authzTarget(s),
		chainTarget(s),
		sarStormTarget(s),
		stormTarget(s),
		loadTarget(load),
	}
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

var loadRatio = regexp.MustCompile(`(?m)^aggauth/none: ([0-9.]+)% of the bare handler's requests per second(?:; by CPU time per request: ([0-9.]+)%)?`)

func loadTarget(load string) target {
	t := target{path: "HTTP/2 over TLS on loopback, 64 streams (make load)",
		want: "≥ 90% of a bare handler's requests per second", status: notRun}
	m := loadRatio.FindStringSubmatch(load)
	if m == nil {
		t.measured = "run `make load`"
		return t
	}
	pct, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return t
	}
	t.measured = fmt.Sprintf("%.1f%% of the bare handler's requests per second", pct)
	if m[2] != "" {
		t.measured += fmt.Sprintf(" (%s%% by CPU time per request)", m[2])
	}
	t.status = verdict(pct >= 90)
	return t
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
