package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/cpuid/v2"
	"github.com/spf13/cobra"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/prefixes"
)

// benchWindow is the index space the generation benchmark enumerates: 2^48
// subnets, far more than any run visits, so that no run ends early.
const benchWindow = "2a00::/16-64"

// benchFlags are the flags of `widescan bench`.
type benchFlags struct {
	backend  string
	workers  int
	duration time.Duration
	json     bool
	plot     string
}

// benchResult is one measurement: one backend at one worker count.
type benchResult struct {
	Backend     string  `json:"backend"`
	Workers     int     `json:"workers"`
	TargetsPerS float64 `json:"targets_per_s"`
	Targets     uint64  `json:"targets"`
	DurationS   float64 `json:"duration_s"`
}

func newBenchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure target generation: targets/s per backend and worker count",
		Long: `Bench runs the target generator alone (no probes are sent) on the window
` + benchWindow + ` with low:1 IIDs and measures targets/s for each worker count
from 1 to the number of physical cores, or only --workers N. Each measurement
runs for --duration; batches are handed back as a prober would.

Backends: cpu (the CPU worker pool). The output is a table, or with --json one
JSON object per line: {"backend":"cpu","workers":1,"targets_per_s":...}.
With --plot FILE it also draws targets/s against workers, one line per
backend beside the line of linear scaling from one worker, into FILE: a PNG,
or SVG or PDF by the file's extension. No plot is drawn without --plot.`,
		Example: `  widescan bench
  widescan bench --plot bench/cpu-bench.png
  widescan bench --workers 1 --duration 5s --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.backend, "backend", "cpu", "generation backend to measure: cpu")
	fl.IntVar(&f.workers, "workers", 0, "measure only this worker count (0: every count from 1 to the physical cores)")
	fl.DurationVar(&f.duration, "duration", 2*time.Second, "length of each measurement")
	fl.BoolVar(&f.json, "json", false, "print one JSON object per line and measurement")
	fl.StringVar(&f.plot, "plot", "", "also draw targets/s against workers into `FILE` (.png, .svg or .pdf)")
	return cmd
}

// runBench measures every requested worker count and writes the results to
// w as they come.
func runBench(ctx context.Context, w io.Writer, f benchFlags) error {
	if f.backend != "cpu" {
		return fmt.Errorf("bench: backend %q: only cpu is available", f.backend)
	}
	if f.workers < 0 {
		return fmt.Errorf("bench: --workers %d: must not be negative", f.workers)
	}
	if f.duration <= 0 {
		return fmt.Errorf("bench: --duration %s: must be positive", f.duration)
	}
	if f.plot != "" {
		switch strings.ToLower(filepath.Ext(f.plot)) {
		case ".png", ".svg", ".pdf":
		default:
			return fmt.Errorf("bench: --plot %s: want a .png, .svg or .pdf file", f.plot)
		}
	}
	counts := []int{f.workers}
	if f.workers == 0 {
		counts = counts[:0]
		for n := range generator.DefaultWorkers() {
			counts = append(counts, n+1)
		}
	}
	// Fixed columns rather than a tabwriter, so that each row is printed
	// as soon as it is measured.
	const row = "%-8s %7s %12s %12s %9s\n"
	if !f.json {
		fmt.Fprintf(w, row, "backend", "workers", "targets/s", "per worker", "scaling")
	}
	var base float64
	var results []benchResult
	for _, n := range counts {
		r, err := benchGenerate(ctx, n, f.duration)
		if err != nil {
			return err
		}
		results = append(results, r)
		if f.json {
			if err := json.NewEncoder(w).Encode(r); err != nil {
				return err
			}
			continue
		}
		if base == 0 {
			base = r.TargetsPerS / float64(n)
		}
		per := r.TargetsPerS / float64(n)
		fmt.Fprintf(w, row, r.Backend, fmt.Sprint(r.Workers), fmt.Sprintf("%.1f M", r.TargetsPerS/1e6),
			fmt.Sprintf("%.1f M", per/1e6), fmt.Sprintf("%.0f%%", 100*per/base))
	}
	if f.plot != "" {
		if err := writeBenchPlot(f.plot, results, f.duration); err != nil {
			return fmt.Errorf("bench: plot: %w", err)
		}
	}
	return nil
}

// writeBenchPlot draws targets/s (millions) against workers, one line with
// points per backend and, for a backend measured at one worker, a dashed
// line of linear scaling from that rate, and saves it to path in the
// format its extension names (.png at 96 dpi, .svg or .pdf).
func writeBenchPlot(path string, results []benchResult, d time.Duration) error {
	p := plot.New()
	p.Title.Text = "widescan bench: target generation"
	if name := cpuid.CPU.BrandName; name != "" {
		p.Title.Text += "\n" + name + ", " + strconv.Itoa(cpuid.CPU.PhysicalCores) + " cores"
	}
	p.X.Label.Text = "workers"
	p.Y.Label.Text = "targets/s (millions)"
	p.Y.Min = 0
	p.X.Tick.Marker = intTicks{}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())

	var backends []string
	byBackend := map[string]plotter.XYs{}
	maxWorkers := 1
	for _, r := range results {
		if _, ok := byBackend[r.Backend]; !ok {
			backends = append(backends, r.Backend)
		}
		byBackend[r.Backend] = append(byBackend[r.Backend], plotter.XY{X: float64(r.Workers), Y: r.TargetsPerS / 1e6})
		maxWorkers = max(maxWorkers, r.Workers)
	}
	colors := []color.Color{
		color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
		color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	}
	for i, b := range backends {
		xys := byBackend[b]
		c := colors[i%len(colors)]
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		line.Color, line.Width = c, vg.Points(2)
		points.Color, points.Shape, points.Radius = c, draw.CircleGlyph{}, vg.Points(3)
		p.Add(line, points)
		p.Legend.Add(fmt.Sprintf("%s (%s per point)", b, d), line, points)
		if xys[0].X == 1 {
			ideal := plotter.XYs{{X: 1, Y: xys[0].Y}, {X: float64(maxWorkers), Y: xys[0].Y * float64(maxWorkers)}}
			l, err := plotter.NewLine(ideal)
			if err != nil {
				return err
			}
			l.Color, l.Dashes = c, []vg.Length{vg.Points(4), vg.Points(4)}
			p.Add(l)
			p.Legend.Add(b+": linear scaling from 1 worker", l)
		}
	}
	p.X.Min, p.X.Max = 0.5, float64(maxWorkers)+0.5
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return p.Save(20*vg.Centimeter, 13*vg.Centimeter, path)
}

// intTicks marks the whole numbers of an axis (at most about ten).
type intTicks struct{}

// Ticks returns major ticks at the whole numbers in [lo, hi], every k-th
// one when there are more than ten.
func (intTicks) Ticks(lo, hi float64) []plot.Tick {
	first, last := int(lo+0.999), int(hi)
	step := max(1, (last-first+1)/10)
	var ts []plot.Tick
	for i := first; i <= last; i += step {
		ts = append(ts, plot.Tick{Value: float64(i), Label: strconv.Itoa(i)})
	}
	return ts
}

// benchGenerate runs the CPU generator with the given workers for d and
// returns its rate.
func benchGenerate(ctx context.Context, workers int, d time.Duration) (benchResult, error) {
	win, err := prefixes.ParseWindow(benchWindow, 0)
	if err != nil {
		return benchResult{}, err
	}
	g, err := generator.New(generator.Config{Windows: []prefixes.Window{win}, Workers: workers, PermSeed: 1})
	if err != nil {
		return benchResult{}, fmt.Errorf("bench: %w", err)
	}
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make(chan *generator.Batch, 4*workers)
	done := make(chan error, 1)
	go func() { done <- g.Generate(gctx, out) }()
	var n uint64
	timer := time.NewTimer(d)
	defer timer.Stop()
	start := time.Now()
	var elapsed time.Duration
loop:
	for {
		select {
		case b, ok := <-out:
			if !ok {
				break loop
			}
			n += uint64(len(b.Targets))
			g.Put(b)
		case <-timer.C:
			break loop
		}
	}
	elapsed = time.Since(start)
	cancel()
	for b := range out {
		g.Put(b)
	}
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		return benchResult{}, fmt.Errorf("bench: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return benchResult{}, err
	}
	return benchResult{Backend: "cpu", Workers: workers, TargetsPerS: float64(n) / elapsed.Seconds(),
		Targets: n, DurationS: elapsed.Seconds()}, nil
}
