package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// result is every sample of one sub-benchmark.
type result struct {
	top     string               // BenchmarkChain
	row     string               // the sub-benchmark without its impl: case=create
	impl    string               // the value of impl=, or ""
	samples map[string][]float64 // unit → one value per run
	units   []string             // in order of appearance
}

// set is a parsed results file.
type set struct {
	config    map[string]string // first value of each configuration line
	results   []*result         // in order of appearance
	byName    map[string]*result
	malformed []string // result lines that could not be read, such as a line a log message broke into
}

var (
	configLine = regexp.MustCompile(`^([a-z][^\s:A-Z]*):\s*(.*)$`)
	procs      = regexp.MustCompile(`-\d+$`)
)

// parse reads go test -bench output in the benchfmt format.
func parse(r io.Reader) (*set, error) {
	s := &set{config: map[string]string{}, byName: map[string]*result{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := configLine.FindStringSubmatch(line); m != nil {
			if _, seen := s.config[m[1]]; !seen {
				s.config[m[1]] = m[2]
			}
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		if err := s.add(line); err != nil {
			s.malformed = append(s.malformed, fmt.Sprintf("line %d: %v", n, err))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(s.results) == 0 {
		return nil, fmt.Errorf("no benchmark results")
	}
	return s, nil
}

// add parses one result line: name, iterations, then value-unit pairs.
func (s *set) add(line string) error {
	f := strings.Fields(line)
	if len(f) < 4 || len(f)%2 != 0 {
		return fmt.Errorf("malformed result %q", line)
	}
	if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
		return fmt.Errorf("malformed iteration count in %q", line)
	}
	name := procs.ReplaceAllString(f[0], "")
	r := s.byName[name]
	if r == nil {
		r = newResult(name)
		s.byName[name] = r
		s.results = append(s.results, r)
	}
	for i := 2; i < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return fmt.Errorf("malformed value %q in %q", f[i], line)
		}
		unit := f[i+1]
		if _, ok := r.samples[unit]; !ok {
			r.units = append(r.units, unit)
		}
		r.samples[unit] = append(r.samples[unit], v)
	}
	return nil
}

func newResult(name string) *result {
	parts := strings.Split(name, "/")
	r := &result{top: parts[0], samples: map[string][]float64{}}
	var rest []string
	for _, p := range parts[1:] {
		if v, ok := strings.CutPrefix(p, "impl="); ok {
			r.impl = v
			continue
		}
		rest = append(rest, p)
	}
	r.row = strings.Join(rest, "/")
	return r
}

// median returns the median of r's samples in unit.
func (r *result) median(unit string) (float64, bool) {
	v := slices.Clone(r.samples[unit])
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2], true
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2, true
}

// spread returns the largest distance of a sample from the median, relative
// to the median.
func (r *result) spread(unit string) float64 {
	m, ok := r.median(unit)
	if !ok || m == 0 {
		return 0
	}
	d := 0.0
	for _, v := range r.samples[unit] {
		d = max(d, abs(v-m)/m)
	}
	return d
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// get returns the result of top/row with impl.
func (s *set) get(top, row, impl string) *result {
	for _, r := range s.results {
		if r.top == top && r.row == row && r.impl == impl {
			return r
		}
	}
	return nil
}

// median returns the median of top/row/impl in unit.
func (s *set) median(top, row, impl, unit string) (float64, bool) {
	r := s.get(top, row, impl)
	if r == nil {
		return 0, false
	}
	return r.median(unit)
}

// tops returns the top-level benchmarks in order of appearance.
func (s *set) tops() []string {
	var tops []string
	for _, r := range s.results {
		if !slices.Contains(tops, r.top) {
			tops = append(tops, r.top)
		}
	}
	return tops
}
