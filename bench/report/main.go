// Command report writes bench/BENCHMARKS.md from the output of go test -bench
// (bench/results.txt, as make bench writes it) and, when present, the output
// of the load test (bench/load.txt), the scale model (bench/scale.md) and the
// summary of the load test's profiles (bench/profile.md): the machine, the
// targets of DESIGN.md and issue 15 with met or not met, and a table per
// benchmark with the median ns/op, B/op,
// allocs/op and custom metrics of every sub-benchmark, the ratio
// kubernetes/aggauth and the overhead over the bare handler.
//
// With -stamp it instead prints benchfmt configuration lines describing the
// machine now (date, CPU model, cores, Go version, load average), which make
// bench writes around the benchmark output so that results.txt is
// self-describing and still readable by benchstat.
//
//	go run ./bench/report -stamp start > bench/results.txt
//	go test -run '^$' -bench . -count 6 ./bench/ >> bench/results.txt
//	go run ./bench/report -stamp end >> bench/results.txt
//	go run ./bench/report -results bench/results.txt -load bench/load.txt -out bench/BENCHMARKS.md
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/aggauth/aggauth/bench/internal/machine"
)

func main() {
	stamp := flag.String("stamp", "", "print the machine's configuration lines for the start or the end of a run (start|end) and exit")
	results := flag.String("results", "bench/results.txt", "go test -bench output to read")
	load := flag.String("load", "bench/load.txt", "load test output to include, if the file exists")
	scale := flag.String("scale", "bench/scale.md", "scale model (make scale) to include, if the file exists")
	profile := flag.String("profile", "bench/profile.md", "summary of the load test's profiles to include, if the file exists")
	out := flag.String("out", "bench/BENCHMARKS.md", "Markdown file to write")
	flag.Parse()
	if err := run(*stamp, *results, *load, *scale, *profile, *out); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(stamp, resultsPath, loadPath, scalePath, profilePath, outPath string) error {
	switch stamp {
	case "start":
		fmt.Printf("date: %s\ncommit: %s\ncpu-model: %s\ncores: %d\ngomaxprocs: %d\ngo-version: %s\nloadavg-start: %s\n",
			time.Now().UTC().Format(time.RFC3339), commit(), machine.CPUModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), machine.LoadAvg())
		return nil
	case "end":
		fmt.Printf("date-end: %s\ncommit-end: %s\nloadavg-end: %s\n", time.Now().UTC().Format(time.RFC3339), commit(), machine.LoadAvg())
		return nil
	case "":
	default:
		return fmt.Errorf("-stamp %q: want start or end", stamp)
	}
	f, err := os.Open(resultsPath)
	if err != nil {
		return err
	}
	defer f.Close()
	set, err := parse(f)
	if err != nil {
		return fmt.Errorf("%s: %w", resultsPath, err)
	}
	for _, m := range set.malformed {
		fmt.Fprintf(os.Stderr, "report: %s: skipped %s\n", resultsPath, m)
	}
	var texts [3]string
	for i, p := range []string{loadPath, scalePath, profilePath} {
		t, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		texts[i] = string(t)
	}
	var b strings.Builder
	render(&b, set, resultsPath, texts[0], texts[1], texts[2])
	return os.WriteFile(outPath, []byte(b.String()), 0o644)
}

// commit returns the checked-out commit, with -dirty when a tracked file other
// than the outputs of make bench and make load is modified, or "unknown"
// outside a git work tree.
func commit() string {
	head, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(head))
	status, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no", "--", ".",
		":(exclude)bench/results.txt", ":(exclude)bench/load.txt", ":(exclude)bench/BENCHMARKS.md",
		":(exclude)bench/scale.md", ":(exclude)bench/scale-data", ":(exclude)bench/img").Output()
	if err != nil || len(strings.TrimSpace(string(status))) > 0 {
		c += "-dirty"
	}
	return c
}
