// Command load is the HTTP/2 load test of aggauth's request path: it serves
// fixture's bare handler, aggauth's chain and k8s.io/apiserver's filter chain
// in turn over TLS on loopback, and drives each with 64 concurrent streams over
// one connection for a fixed time, as kube-apiserver's aggregator does: the
// client presents the front proxy's client certificate and sends the user in
// X-Remote-* headers. It prints requests per second, p50 and p99 latency, and
// aggauth's requests per second as a percentage of the bare handler's.
//
// Client and server share the process and the machine's cores, so the numbers
// compare the impls with each other, not with a production deployment.
//
//	go run ./bench/load -duration 10s
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/aggauth/aggauth/bench/internal/machine"
	"github.com/aggauth/aggauth/bench/load/fixture"
)

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long each impl is measured")
	warmup := flag.Duration("warmup", time.Second, "how long each impl is driven before it is measured")
	round := flag.Duration("round", time.Second, "the impls are measured in turn, this long each, until each has had -duration")
	streams := flag.Int("streams", 64, "concurrent streams over the one HTTP/2 connection")
	caseName := flag.String("case", "list-labelselector", "request: create, list-labelselector or nonresource-get")
	impls := flag.String("impls", "none,aggauth,kubernetes", "impls to measure, in order")
	sarLatency := flag.Duration("sar-latency", 0, "SubjectAccessReview answer delay of the stand-in kube-apiserver")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (client and server) to this file")
	flag.Parse()
	fixture.DiscardKlog()
	if *cpuProfile != "" {
		stop, err := startProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
		defer stop()
	}
	if err := run(*duration, *warmup, *streams, *caseName, strings.Split(*impls, ","), *sarLatency, *round); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func run(duration, warmup time.Duration, streams int, caseName string, impls []string, sarLatency, round time.Duration) error {
	if round <= 0 || duration <= 0 {
		return fmt.Errorf("-round and -duration must be positive")
	}
	c, err := fixture.CaseNamed(caseName)
	if err != nil {
		return err
	}
	env, err := fixture.New(fixture.Options{SARLatency: sarLatency})
	if err != nil {
		return err
	}
	defer env.Close()
	srv, err := newServing(env)
	if err != nil {
		return err
	}
	fmt.Printf("date: %s\ncpu: %s\ncores: %d (GOMAXPROCS %d)\ngo: %s\nloadavg-start: %s\n",
		time.Now().UTC().Format(time.RFC3339), machine.CPUModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), machine.LoadAvg())
	fmt.Printf("request: %s %s?%s\n%d streams over one HTTP/2 TLS connection per impl; %v per impl after %v of warm-up, in rounds of %v taken in turn; authorization cache TTL 10s\n\n",
		c.Method, c.Path, c.Query, streams, duration, warmup, round)

	targets := make([]*target, 0, len(impls))
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	for _, name := range impls {
		mw, err := build(env, name)
		if err != nil {
			return err
		}
		t, err := srv.serve(name, mw(fixture.Handler(c)), c)
		if err != nil {
			return fmt.Errorf("impl=%s: %w", name, err)
		}
		t.driver.drive(streams, warmup, false)
		targets = append(targets, t)
	}
	// Rounds of round each, the impls in turn, so that the load of the rest of
	// the machine weighs on every impl alike.
	for done := time.Duration(0); done < duration; done += round {
		for _, t := range targets {
			t.round(env, streams, min(round, duration-done))
		}
	}
	results := make([]result, len(targets))
	for i, t := range targets {
		slices.Sort(t.latencies)
		results[i] = t.result
	}
	printResults(results)
	fmt.Printf("loadavg-end: %s\n", machine.LoadAvg())
	for _, r := range results {
		if r.errors > 0 {
			return fmt.Errorf("impl=%s: %d requests failed, the first: %v", r.impl, r.errors, r.firstErr)
		}
	}
	return nil
}

func build(env *fixture.Env, name string) (fixture.Middleware, error) {
	switch name {
	case "none":
		return fixture.None, nil
	case "aggauth":
		return env.Aggauth()
	case "kubernetes":
		return env.Kubernetes()
	}
	return nil, fmt.Errorf("unknown impl %q (want none, aggauth or kubernetes)", name)
}

func printResults(results []result) {
	var none *result
	fmt.Printf("%-11s %9s %8s %10s %10s %11s %7s %5s %6s\n", "impl", "requests", "rps", "p50", "p99", "cpu/request", "errors", "sars", "conns")
	for i, r := range results {
		if r.impl == "none" {
			none = &results[i]
		}
		fmt.Printf("%-11s %9d %8.0f %10s %10s %11s %7d %5d %6d\n", r.impl, r.requests, r.rps(),
			r.percentile(0.50).Round(time.Microsecond), r.percentile(0.99).Round(time.Microsecond),
			r.cpuPerRequest().Round(100*time.Nanosecond), r.errors, r.sars, r.conns)
	}
	fmt.Println()
	if none == nil || none.rps() == 0 {
		return
	}
	for _, r := range results {
		if r.impl == "none" || r.cpuPerRequest() == 0 {
			continue
		}
		fmt.Printf("%s/none: %.1f%% of the bare handler's requests per second; by CPU time per request: %.1f%%\n",
			r.impl, 100*r.rps()/none.rps(), 100*float64(none.cpuPerRequest())/float64(r.cpuPerRequest()))
	}
	for _, r := range results {
		if r.impl == "aggauth" {
			met := "met"
			if 100*r.rps()/none.rps() < 90 {
				met = "NOT met"
			}
			fmt.Printf("target: aggauth >= 90%% of the bare handler's requests per second: %s\n", met)
		}
	}
}
