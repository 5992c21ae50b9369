# aggauth: the two commands a fresh machine needs are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
# Executions per fuzz target in make fuzz: a budget of work, not of time, so a
# busy machine takes longer instead of failing on the fuzzing engine's own
# deadline (a wall-clock -fuzztime can expire while the engine is still
# starting, and then fails without any input). A crasher still fails the run
# and is written to the package's testdata/fuzz.
FUZZ_EXECS ?= 10000
# Packages of the library module (example/ and e2e/ are modules of their own).
PKGS := ./...

.PHONY: test unit vet fuzz example lint bench load scale e2e demo tools hostile

## test: everything CI runs: vet, the unit tests with the race detector, a short
## pass of every fuzz target, the example servers' tests, then the end-to-end suite
## against a real kube-apiserver.
test: vet unit hostile fuzz example e2e

vet:
	$(GO) vet -tags hostile $(PKGS)

unit:
	$(GO) test -race -count=1 $(PKGS)

## fuzz: run every Fuzz* target of the library for $(FUZZ_EXECS) executions
## each (bounded in time by -timeout).
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	    echo "fuzz $$pkg $$f ($(FUZZ_EXECS) executions)"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZ_EXECS)x -timeout 10m $$pkg; \
	  done; \
	done

## example: the example servers (their own module) against a fake kube-apiserver.
example:
	cd example && $(GO) vet ./... && $(GO) test -count=1 ./...

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags hostile $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

## bench: every benchmark of bench/, authz's BenchmarkKey, serving's
## BenchmarkFilters, BenchmarkHTTP2 and BenchmarkOperate, and audit's
## BenchmarkAudit, BENCH_COUNT runs each (enough for
## benchstat), into bench/results.txt with the machine's description around it,
## then bench/BENCHMARKS.md from it, with bench/load.txt, bench/scale.md and
## bench/profile.md (about 15 minutes on 2 cores).
bench: BENCH_COUNT ?= 6
bench:
	@set -eo pipefail; out=bench/results.txt.tmp; \
	$(GO) build -o /dev/null ./bench/report; \
	$(GO) run ./bench/report -stamp start > $$out; \
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) -timeout 60m ./bench/ | tee -a $$out; \
	$(GO) test -run '^$$' -bench '^BenchmarkKey$$' -benchmem -count $(BENCH_COUNT) ./authz/ | tee -a $$out; \
	$(GO) test -run '^$$' -bench '^(BenchmarkFilters|BenchmarkHTTP2|BenchmarkOperate)$$' -benchmem -count $(BENCH_COUNT) ./serving/ | tee -a $$out; \
	$(GO) test -run '^$$' -bench '^BenchmarkAudit$$' -benchmem -count $(BENCH_COUNT) ./audit/ | tee -a $$out; \
	$(GO) run ./bench/report -stamp end >> $$out; \
	mv $$out bench/results.txt
	$(GO) run ./bench/report -results bench/results.txt -load bench/load.txt -scale bench/scale.md -profile bench/profile.md -out bench/BENCHMARKS.md
	@echo "wrote bench/results.txt and bench/BENCHMARKS.md"

## load: the HTTP/2 load test (bench/load): a bare handler, aggauth's chain,
## Kubernetes' filters, the bare handler behind serving.New, the chain behind
## serving.New (what users deploy) and Kubernetes' whole stack (its generic
## filters around its delegated authn/authz), each behind an http.Server with
## serving's HTTP/2 settings, over TLS on loopback: 64 streams
## over one connection, then 1,000 streams over 4 connections (the shape of the
## aggregator's traffic); 10 rounds of 1 s per impl, taken in turn
## (LOAD_FLAGS=-duration=30s to change). Output in bench/load.txt, which
## bench/BENCHMARKS.md includes (refreshed here when bench/results.txt exists).
## About 3 minutes. Not part of make test.
load: LOAD_FLAGS ?=
load:
	@set -eo pipefail; dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	$(GO) build -o "$$dir/load" ./bench/load; \
	"$$dir/load" -streams 64 -conns 1 $(LOAD_FLAGS) | tee bench/load.txt.tmp; \
	echo | tee -a bench/load.txt.tmp; \
	"$$dir/load" -streams 1000 -conns 4 $(LOAD_FLAGS) | tee -a bench/load.txt.tmp; \
	mv bench/load.txt.tmp bench/load.txt
	@if [ -f bench/results.txt ]; then $(GO) run ./bench/report -results bench/results.txt -load bench/load.txt -scale bench/scale.md -profile bench/profile.md -out bench/BENCHMARKS.md; fi

## scale: the scale model (bench/scale, build tag scale): users × namespaces,
## cache sizes and TTLs, a rolling restart (in virtual time) and 1 to 1,000
## client-certificate connections (in real time), aggauth and k8s.io/apiserver
## side by side; tables in bench/scale.md, data in bench/scale-data/, then the
## charts (bench/charts, a module of its own for gonum.org/v1/plot) in
## bench/img/. About 7 minutes on 2 cores. Not part of make test.
scale:
	$(GO) test -tags scale -run '^TestScale$$' -count=1 -timeout 30m ./bench/scale/ -args -out $(CURDIR)/bench
	cd bench/charts && $(GO) run . -in ../scale-data -out ../img
	@if [ -f bench/results.txt ]; then $(GO) run ./bench/report -results bench/results.txt -load bench/load.txt -scale bench/scale.md -profile bench/profile.md -out bench/BENCHMARKS.md; fi

## hostile: the adversarial suite (hostile/, build tag hostile): each bound of
## DESIGN.md's hostile-load rules driven by an attack over real TLS on loopback,
## with Kubernetes' own filters as a control where they have the same feature;
## prints both figures side by side (about a minute on 2 cores).
hostile:
	$(GO) test -tags hostile -count=1 -timeout 10m -v ./hostile/

e2e:
	@if [ -d e2e ]; then $(MAKE) -C e2e e2e; else echo "e2e: no suite yet"; fi

demo:
	$(MAKE) -C e2e demo
