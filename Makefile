# aggauth: the two commands a fresh machine needs are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
FUZZTIME ?= 10s
# Packages of the library module (example/ and e2e/ are modules of their own).
PKGS := ./...

.PHONY: test unit vet fuzz lint bench load e2e demo tools

## test: everything CI runs: vet, the unit tests with the race detector, a short
## pass of every fuzz target, then the end-to-end suite against a real kube-apiserver.
test: vet unit fuzz e2e

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 $(PKGS)

## fuzz: run every Fuzz* target of the library for $(FUZZTIME) each.
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

e2e:
	@if [ -d e2e ]; then $(MAKE) -C e2e e2e; else echo "e2e: no suite yet"; fi

demo:
	$(MAKE) -C e2e demo
