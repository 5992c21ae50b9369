// Command load is the HTTP/2 load test of aggauth's request path: it serves
// fixture's bare handler, aggauth's chain and k8s.io/apiserver's filter chain
// over TLS on loopback, each behind an http.Server with package serving's
// HTTP/2 settings (1000 streams per connection, 256 KiB frames and stream
// buffers), and drives each with concurrent streams over one or more
// connections as kube-apiserver's aggregator does: the client presents the
// front proxy's client certificate and sends the user in X-Remote-* headers.
// The impls are measured in short rounds taken in turn, so that the rest of
// the machine weighs on each alike; it prints requests per second, p50 and
// p99 latency, CPU time per request, and each impl's requests per second as a
// share of the bare handler's in the same round (median and spread over the
// rounds).
//
// The impl "serving" is the bare handler behind serving.New (its http.Server
// and its request filters), "serving+aggauth" the chain behind it, one
// pipeline: what users deploy. "kubernetes-stack" is what an extension
// apiserver built on the generic apiserver runs: its generic filters (the
// ones serving has) around its delegated authentication and authorization.
//
// Client and server share the process and the machine's cores, so the numbers
// compare the impls with each other, not with a production deployment.
//
//	go run ./bench/load -duration 10s
//	go run ./bench/load -streams 1000 -conns 4
//	go run ./bench/load -impls none,aggauth -cpuprofile cpu.out -memprofile mem.out
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

// targetShares are the shares of the bare handler's requests per second
// each impl must keep: aggauth's chain (issue 15; DESIGN.md asks 90%), and
// the bare handler behind serving.New with and without the chain (issue 21).
var targetShares = map[string]float64{"aggauth": 95, "serving+aggauth": 85, "serving": 92}

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long each impl is measured")
	warmup := flag.Duration("warmup", time.Second, "how long each impl is driven before it is measured")
	roundLen := flag.Duration("round", time.Second, "the impls are measured in turn, this long each, until each has had -duration")
	streams := flag.Int("streams", 64, "concurrent streams in all")
	conns := flag.Int("conns", 1, "HTTP/2 connections per impl; the streams are spread evenly over them")
	caseName := flag.String("case", "list-labelselector", "request: create, list-labelselector or nonresource-get")
	impls := flag.String("impls", "none,aggauth,kubernetes,serving,serving+aggauth,kubernetes-stack",
		"impls to measure, in order: none, aggauth, kubernetes, serving, serving+aggauth, kubernetes-stack")
	sarLatency := flag.Duration("sar-latency", 0, "SubjectAccessReview answer delay of the stand-in kube-apiserver")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (client and server) to this file")
	memProfile := flag.String("memprofile", "", "write an allocation profile of the whole run (client and server) to this file")
	memRate := flag.Int("memprofilerate", 64<<10, "with -memprofile: runtime.MemProfileRate (bytes between samples)")
	flag.Parse()
	fixture.DiscardKlog()
	if *memProfile != "" {
		runtime.MemProfileRate = *memRate
	}
	if *cpuProfile != "" {
		stop, err := startProfile(*cpuProfile)
		if err != nil {
			fail(err)
		}
		defer stop()
	}
	err := run(config{*duration, *warmup, *roundLen, *streams, *conns, *caseName, strings.Split(*impls, ","), *sarLatency})
	if *memProfile != "" {
		if werr := writeHeapProfile(*memProfile); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "load:", err)
	os.Exit(1)
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

// writeHeapProfile writes the allocations of the whole run (pprof's
// alloc_space and alloc_objects sample indexes).
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

type config struct {
	duration, warmup, round time.Duration
	streams, conns          int
	caseName                string
	impls                   []string
	sarLatency              time.Duration
}

func run(cfg config) error {
	if cfg.round <= 0 || cfg.duration <= 0 {
		return fmt.Errorf("-round and -duration must be positive")
	}
	if cfg.conns < 1 || cfg.streams < cfg.conns {
		return fmt.Errorf("-conns must be at least 1 and at most -streams")
	}
	c, err := fixture.CaseNamed(cfg.caseName)
	if err != nil {
		return err
	}
	env, err := fixture.New(fixture.Options{SARLatency: cfg.sarLatency})
	if err != nil {
		return err
	}
	defer env.Close()
	pair, err := env.NewTLSPair()
	if err != nil {
		return err
	}
	fmt.Printf("date: %s\ncpu: %s\ncores: %d (GOMAXPROCS %d)\ngo: %s\nloadavg-start: %s\n",
		time.Now().UTC().Format(time.RFC3339), machine.CPUModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), machine.LoadAvg())
	fmt.Printf("request: %s %s?%s\n", c.Method, c.Path, c.Query)
	fmt.Printf("streams: %d over %d HTTP/2 TLS connection(s) per impl\n", cfg.streams, cfg.conns)
	fmt.Printf("server: net/http with serving's HTTP/2 settings (%d streams per connection, %d KiB frames and stream buffers)\n",
		fixture.HTTP2MaxStreams, fixture.HTTP2BufferPerStream>>10)
	fmt.Printf("rounds: %v per impl after %v of warm-up, in rounds of %v taken in turn; authorization cache TTL 10s\n\n",
		cfg.duration, cfg.warmup, cfg.round)

	targets := make([]*target, 0, len(cfg.impls))
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	for _, name := range cfg.impls {
		mw, viaServing, err := build(env, name)
		if err != nil {
			return err
		}
		t, err := serve(pair, name, mw(fixture.Handler(c)), c, cfg.conns, viaServing)
		if err != nil {
			return fmt.Errorf("impl=%s: %w", name, err)
		}
		t.driver.drive(cfg.streams, cfg.warmup, false)
		targets = append(targets, t)
	}
	for done := time.Duration(0); done < cfg.duration; done += cfg.round {
		for _, t := range targets {
			t.measure(env, cfg.streams, min(cfg.round, cfg.duration-done))
		}
	}
	results := make([]*result, len(targets))
	for i, t := range targets {
		slices.Sort(t.latencies)
		results[i] = &t.result
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

// build returns the middleware of an impl, and whether it is served through
// serving.New.
func build(env *fixture.Env, name string) (fixture.Middleware, bool, error) {
	switch name {
	case "none":
		return fixture.None, false, nil
	case "aggauth":
		mw, err := env.Aggauth()
		return mw, false, err
	case "kubernetes":
		mw, err := env.Kubernetes()
		return mw, false, err
	case "serving":
		return fixture.None, true, nil
	case "serving+aggauth":
		mw, err := env.Aggauth()
		return mw, true, err
	case "kubernetes-stack":
		mw, err := env.KubernetesStack()
		return mw, false, err
	}
	return nil, false, fmt.Errorf("unknown impl %q (want none, aggauth, kubernetes, serving, serving+aggauth or kubernetes-stack)", name)
}

func printResults(results []*result) {
	var none *result
	fmt.Printf("%-16s %9s %8s %10s %10s %11s %7s %5s %6s\n", "impl", "requests", "rps", "p50", "p99", "cpu/request", "errors", "sars", "conns")
	for _, r := range results {
		if r.impl == "none" {
			none = r
		}
		fmt.Printf("%-16s %9d %8.0f %10s %10s %11s %7d %5d %6d\n", r.impl, r.total().requests, r.rps(),
			r.percentile(0.50).Round(time.Microsecond), r.percentile(0.99).Round(time.Microsecond),
			r.cpuPerRequest().Round(100*time.Nanosecond), r.errors, r.sars, r.conns)
	}
	fmt.Println()
	if none == nil || none.rps() == 0 {
		return
	}
	for _, r := range results {
		if r == none || r.cpuPerRequest() == 0 {
			continue
		}
		med, lo, hi := roundShares(r, none)
		fmt.Printf("%s/none: %.1f%% of the bare handler's requests per second (median of %d rounds, spread %.1f%% to %.1f%%; whole run %.1f%%); by CPU time per request: %.1f%%\n",
			r.impl, med, len(r.rounds), lo, hi, 100*r.rps()/none.rps(), 100*float64(none.cpuPerRequest())/float64(r.cpuPerRequest()))
	}
	for _, r := range results {
		if target, ok := targetShares[r.impl]; ok {
			med, _, _ := roundShares(r, none)
			met := "met"
			if med < target {
				met = "NOT met"
			}
			fmt.Printf("target: %s >= %g%% of the bare handler's requests per second (median of rounds): %s\n", r.impl, target, met)
		}
	}
}

// roundShares returns r's requests per second as a percentage of none's in
// the same round: the median, the lowest and the highest over the rounds.
func roundShares(r, none *result) (med, lo, hi float64) {
	var shares []float64
	for i := range min(len(r.rounds), len(none.rounds)) {
		if n := none.rounds[i].rps(); n > 0 {
			shares = append(shares, 100*r.rounds[i].rps()/n)
		}
	}
	if len(shares) == 0 {
		return 0, 0, 0
	}
	slices.Sort(shares)
	med = shares[len(shares)/2]
	if len(shares)%2 == 0 {
		med = (shares[len(shares)/2-1] + shares[len(shares)/2]) / 2
	}
	return med, shares[0], shares[len(shares)-1]
}
