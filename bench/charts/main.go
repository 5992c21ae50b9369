// Command charts draws the charts of bench/BENCHMARKS.md's scale model from
// the CSV files make scale writes (bench/scale-data), aggauth and Kubernetes
// on the same axes, as SVG files (bench/img). It is a module of its own, so
// that its plotting library (gonum.org/v1/plot) stays out of the library's
// dependencies.
//
//	cd bench/charts && go run . -in ../scale-data -out ../img
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

func main() {
	in := flag.String("in", "../scale-data", "directory of the CSV files make scale writes")
	out := flag.String("out", "../img", "directory to write the charts into")
	format := flag.String("format", "svg", "image format: svg or png")
	flag.Parse()
	if err := run(*in, *out, *format); err != nil {
		fmt.Fprintln(os.Stderr, "charts:", err)
		os.Exit(1)
	}
}

func run(in, out, format string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	users, err := readCSV(filepath.Join(in, "users.csv"))
	if err != nil {
		return err
	}
	sizes, err := readCSV(filepath.Join(in, "sizes.csv"))
	if err != nil {
		return err
	}
	rolling, err := readCSV(filepath.Join(in, "rolling.csv"))
	if err != nil {
		return err
	}
	costs, err := readCSV(filepath.Join(in, "conncost.csv"))
	if err != nil {
		return err
	}
	charts := []struct {
		file string
		draw func() (*plot.Plot, error)
	}{
		{"scale-hitrate.svg", func() (*plot.Plot, error) {
			return byUsers(users, "hit_rate", 100, "Cache hit rate against users", "hit rate (%)", 0)
		}},
		{"scale-reviews.svg", func() (*plot.Plot, error) {
			return byUsers(users, "reviews_per_s", 1, "SubjectAccessReviews per second against users", "reviews per second", 200)
		}},
		{"scale-memory.svg", func() (*plot.Plot, error) {
			return byUsers(users, "memory_bytes", 1.0/(1<<20), "Memory of the decision cache against users", "MiB", 0)
		}},
		{"scale-sizes.svg", func() (*plot.Plot, error) { return bySize(sizes) }},
		{"scale-rolling.svg", func() (*plot.Plot, error) { return byReplicas(rolling) }},
		{"scale-conns.svg", func() (*plot.Plot, error) { return byConns(costs) }},
	}
	for _, c := range charts {
		p, err := c.draw()
		if err != nil {
			return fmt.Errorf("%s: %w", c.file, err)
		}
		file := strings.TrimSuffix(c.file, ".svg") + "." + format
		if err := p.Save(16*vg.Centimeter, 10*vg.Centimeter, filepath.Join(out, file)); err != nil {
			return err
		}
	}
	return nil
}

// table is a CSV file: its header and rows, read by column name.
type table struct {
	cols map[string]int
	rows [][]string
}

func readCSV(path string) (*table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: empty", path)
	}
	t := &table{cols: map[string]int{}, rows: recs[1:]}
	for i, c := range recs[0] {
		t.cols[c] = i
	}
	return t, nil
}

func (t *table) str(row []string, col string) string { return row[t.cols[col]] }

func (t *table) num(row []string, col string) float64 {
	v, _ := strconv.ParseFloat(row[t.cols[col]], 64)
	return v
}

// Colours and dashes: one colour per implementation, one dash pattern per
// series within it.
var (
	colours = map[string]color.Color{
		"aggauth":    color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		"kubernetes": color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	}
	dashes = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}, {vg.Points(8), vg.Points(2), vg.Points(2), vg.Points(2)}}
)

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Legend.Left = true
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	return p
}

func logX(p *plot.Plot) {
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
}

func addLine(p *plot.Plot, name, impl string, series int, xys plotter.XYs) error {
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color, pts.Color = colours[impl], colours[impl]
	l.Dashes = dashes[series%len(dashes)]
	l.Width = vg.Points(1.5)
	pts.Shape = draw.CircleGlyph{}
	p.Add(l, pts)
	p.Legend.Add(name, l, pts)
	return nil
}

func addBudget(p *plot.Plot, level float64, xs []float64) error {
	if level <= 0 || len(xs) == 0 {
		return nil
	}
	lo, hi := slices.Min(xs), slices.Max(xs)
	l, err := plotter.NewLine(plotter.XYs{{X: lo, Y: level}, {X: hi, Y: level}})
	if err != nil {
		return err
	}
	l.Color = color.Gray{Y: 0x60}
	l.Dashes = []vg.Length{vg.Points(1), vg.Points(3)}
	p.Add(l)
	p.Legend.Add("client budget (200 QPS)", l)
	return nil
}

// byUsers draws col (times scale) against users, one line per
// implementation and number of namespaces.
func byUsers(t *table, col string, scale float64, title, ylabel string, budget float64) (*plot.Plot, error) {
	p := newPlot(title, "users", ylabel)
	logX(p)
	var namespaces []string
	var xs []float64
	for _, r := range t.rows {
		if ns := t.str(r, "namespaces"); !slices.Contains(namespaces, ns) {
			namespaces = append(namespaces, ns)
		}
		xs = append(xs, t.num(r, "users"))
	}
	for _, impl := range []string{"aggauth", "kubernetes"} {
		for i, ns := range namespaces {
			var xys plotter.XYs
			for _, r := range t.rows {
				if t.str(r, "impl") == impl && t.str(r, "namespaces") == ns {
					xys = append(xys, plotter.XY{X: t.num(r, "users"), Y: t.num(r, col) * scale})
				}
			}
			if err := addLine(p, fmt.Sprintf("%s, %s namespaces", impl, ns), impl, i, xys); err != nil {
				return nil, err
			}
		}
	}
	return p, addBudget(p, budget, xs)
}

// bySize draws reviews per second against aggauth's cache size, per cluster,
// at the shortest TTL measured, with Kubernetes' fixed size as points.
func bySize(t *table) (*plot.Plot, error) {
	p := newPlot("Reviews per second against cache size (shortest TTL)", "cache entries", "reviews per second")
	logX(p)
	ttl := ""
	var clusters []string
	var xs []float64
	for _, r := range t.rows {
		if v := t.str(r, "ttl_s"); ttl == "" || t.num(r, "ttl_s") < mustFloat(ttl) {
			ttl = v
		}
		if c := t.str(r, "cluster"); !slices.Contains(clusters, c) {
			clusters = append(clusters, c)
		}
		xs = append(xs, t.num(r, "size"))
	}
	for i, c := range clusters {
		for _, impl := range []string{"aggauth", "kubernetes"} {
			var xys plotter.XYs
			for _, r := range t.rows {
				if t.str(r, "cluster") == c && t.str(r, "impl") == impl && t.str(r, "ttl_s") == ttl {
					xys = append(xys, plotter.XY{X: t.num(r, "size"), Y: t.num(r, "reviews_per_s")})
				}
			}
			if len(xys) == 0 {
				continue
			}
			if err := addLine(p, fmt.Sprintf("%s, %s cluster", impl, c), impl, i, xys); err != nil {
				return nil, err
			}
		}
	}
	return p, addBudget(p, 200, xs)
}

// byReplicas draws the reviews a cold replica sends against the number of
// replicas, and how many of them were distinct.
func byReplicas(t *table) (*plot.Plot, error) {
	p := newPlot("Rolling restart: reviews per cold replica (first 10 s)", "replicas", "reviews")
	for _, impl := range []string{"aggauth", "kubernetes"} {
		var all, distinct plotter.XYs
		for _, r := range t.rows {
			if t.str(r, "impl") == impl {
				all = append(all, plotter.XY{X: t.num(r, "replicas"), Y: t.num(r, "reviews")})
				distinct = append(distinct, plotter.XY{X: t.num(r, "replicas"), Y: t.num(r, "distinct")})
			}
		}
		if err := addLine(p, impl+": reviews sent", impl, 0, all); err != nil {
			return nil, err
		}
		if err := addLine(p, impl+": distinct reviews", impl, 1, distinct); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// byConns draws the CPU time of the first request on a connection and of a
// further one against the number of concurrent connections.
func byConns(t *table) (*plot.Plot, error) {
	p := newPlot("CPU per request against connections", "concurrent connections", "CPU per request (µs)")
	logX(p)
	p.Y.Min = 1
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	for _, impl := range []string{"aggauth", "kubernetes"} {
		var first, rest plotter.XYs
		for _, r := range t.rows {
			if t.str(r, "impl") != impl {
				continue
			}
			first = append(first, plotter.XY{X: t.num(r, "conns"), Y: t.num(r, "first_us")})
			if v := t.num(r, "rest_us"); v > 0 {
				rest = append(rest, plotter.XY{X: t.num(r, "conns"), Y: v})
			}
		}
		if err := addLine(p, impl+": first request on a connection", impl, 0, first); err != nil {
			return nil, err
		}
		if len(rest) > 0 {
			if err := addLine(p, impl+": each further request", impl, 1, rest); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

func mustFloat(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}
