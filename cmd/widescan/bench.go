package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
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

// The GPU measurements run over fixed numbers of positions of benchWindow:
// benchGPUPositions for the worker's own benchmark (kernel-only and into
// pinned host memory: about 2 s at 2 G targets/s) and benchGPUDelivered for
// the targets delivered to this process through the pipe (2 GiB of
// targets).
const (
	benchGPUPositions = 1 << 32
	benchGPUDelivered = 1 << 27
)

// benchFlags are the flags of `widescan bench`.
type benchFlags struct {
	backend   generator.Backend
	gpuWorker string
	gpuDevice int
	workers   int
	duration  time.Duration
	json      bool
	plot      string
}

// benchResult is one measurement: one backend at one worker count. For the
// GPU, Workers is 1 (one worker process), TargetsPerS, Targets and
// DurationS measure the targets delivered to this process, and the GPU
// fields the worker's own benchmark.
type benchResult struct {
	Backend     string  `json:"backend"`
	Workers     int     `json:"workers"`
	TargetsPerS float64 `json:"targets_per_s"`
	Targets     uint64  `json:"targets"`
	DurationS   float64 `json:"duration_s"`
	// Device describes the GPU.
	Device string `json:"device,omitempty"`
	// KernelTargetsPerS is the kernel alone writing device memory;
	// HostTargetsPerS the targets delivered into pinned host memory, both
	// over GPUTargets positions.
	KernelTargetsPerS float64 `json:"kernel_targets_per_s,omitempty"`
	HostTargetsPerS   float64 `json:"host_targets_per_s,omitempty"`
	GPUTargets        uint64  `json:"gpu_targets,omitempty"`
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

--backend picks what is measured: cpu (the CPU worker pool), gpu (the
widescan-gpu worker; fails with the reason when it cannot start) or auto (the
default: both, or the CPU alone, with the reason on stderr, when there is no
usable GPU). The GPU is measured three ways: the kernel alone writing device
memory and the targets delivered into pinned host memory (the worker's own
benchmark over 2^32 positions), and the targets delivered to this process
through the pipe (2^27 positions), the rate a scan can draw on.

The output is a table, or with --json one JSON object per line and
measurement: {"backend":"cpu","workers":1,"targets_per_s":...}; the GPU's
line has "workers":1, "targets_per_s" delivered to this process, and
"kernel_targets_per_s", "host_targets_per_s" and "device". With --plot FILE
it also draws targets/s against workers, one line per backend beside the
line of linear scaling from one worker, and the GPU's three rates as level
lines (on a logarithmic axis), into FILE: a PNG, or SVG or PDF by the file's
extension. No plot is drawn without --plot.`,
		Example: `  widescan bench
  widescan bench --plot bench/cpu-bench.png
  widescan bench --workers 1 --duration 5s --json
  widescan bench --backend gpu --gpu-worker ./widescan-gpu --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	f.backend = generator.BackendAuto
	fl.Var(&f.backend, "backend", "generation backend to measure: auto (the GPU when its worker starts, and the CPU), cpu or gpu")
	fl.StringVar(&f.gpuWorker, "gpu-worker", "", "path of the widescan-gpu worker (default: $"+generator.EnvGPUWorker+", beside widescan, or on $PATH)")
	fl.IntVar(&f.gpuDevice, "gpu-device", 0, "CUDA device ordinal")
	fl.IntVar(&f.workers, "workers", 0, "measure only this worker count (0: every count from 1 to the physical cores)")
	fl.DurationVar(&f.duration, "duration", 2*time.Second, "length of each measurement")
	fl.BoolVar(&f.json, "json", false, "print one JSON object per line and measurement")
	fl.StringVar(&f.plot, "plot", "", "also draw targets/s against workers into `FILE` (.png, .svg or .pdf)")
	return cmd
}

// runBench measures the GPU (for backends gpu and auto) and every requested
// worker count of the CPU (for cpu and auto) and writes the results to w as
// they come; the reason auto measures no GPU goes to errw.
func runBench(ctx context.Context, w, errw io.Writer, f benchFlags) error {
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
	if f.gpuDevice < 0 {
		return fmt.Errorf("bench: --gpu-device %d: negative", f.gpuDevice)
	}
	counts := []int{f.workers}
	if f.backend == generator.BackendGPU {
		counts = nil
	} else if f.workers == 0 {
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
	if f.backend != generator.BackendCPU {
		r, err := benchGPU(ctx, generator.GPUConfig{Worker: f.gpuWorker, Device: f.gpuDevice})
		switch {
		case err == nil:
			results = append(results, r)
			if f.json {
				if err := json.NewEncoder(w).Encode(r); err != nil {
					return err
				}
			} else {
				// targets/s delivered to this process, then the worker's
				// own rates on a line of their own.
				fmt.Fprintf(w, row, r.Backend, "1", fmt.Sprintf("%.1f M", r.TargetsPerS/1e6), "-", "-")
				fmt.Fprintf(w, "%-8s kernel-only %.1f M targets/s, into host memory %.1f M targets/s (%s)\n", "",
					r.KernelTargetsPerS/1e6, r.HostTargetsPerS/1e6, r.Device)
			}
		case f.backend == generator.BackendAuto && errors.Is(err, generator.ErrNoGPU):
			fmt.Fprintln(errw, "widescan: GPU backend unavailable, measuring the CPU only:", err)
		default:
			return fmt.Errorf("bench: %w", err)
		}
	}
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
	var gpu *benchResult
	for i := range results {
		if results[i].Backend == "gpu" {
			gpu = &results[i]
		}
	}
	if gpu != nil {
		// The GPU's rates are orders of magnitude above the CPU's: a
		// logarithmic axis shows both.
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		p.Y.Min = math.Inf(1)
		p.Y.Max = 0
	}
	p.X.Tick.Marker = intTicks{}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())

	var backends []string
	byBackend := map[string]plotter.XYs{}
	maxWorkers := 1
	for _, r := range results {
		if r.Backend == "gpu" {
			continue
		}
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
	if gpu != nil {
		// One level line per GPU rate, across the worker axis.
		for i, l := range []struct {
			name string
			rate float64
		}{
			{"gpu: kernel only", gpu.KernelTargetsPerS},
			{"gpu: into host memory", gpu.HostTargetsPerS},
			{"gpu: delivered to widescan", gpu.TargetsPerS},
		} {
			if l.rate <= 0 {
				continue
			}
			line, err := plotter.NewLine(plotter.XYs{{X: 0.5, Y: l.rate / 1e6}, {X: float64(maxWorkers) + 0.5, Y: l.rate / 1e6}})
			if err != nil {
				return err
			}
			line.Color, line.Width = gpuColors[i], vg.Points(2)
			p.Add(line)
			p.Legend.Add(l.name, line)
		}
		// Fit the log axis to every rate, with a margin.
		for _, r := range results {
			for _, v := range []float64{r.TargetsPerS, r.KernelTargetsPerS, r.HostTargetsPerS, r.TargetsPerS / float64(max(1, r.Workers))} {
				if v > 0 {
					p.Y.Min, p.Y.Max = min(p.Y.Min, v/1e6/2), max(p.Y.Max, v/1e6*10) // room for the legend
				}
			}
		}
	}
	p.X.Min, p.X.Max = 0.5, float64(maxWorkers)+0.5
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return p.Save(20*vg.Centimeter, 13*vg.Centimeter, path)
}

// gpuColors are the colours of the GPU's level lines: kernel-only, into
// host memory, delivered to widescan.
var gpuColors = []color.Color{
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
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

// benchGPU measures the GPU backend on benchWindow: the worker's benchmark
// (kernel-only and into pinned host memory) over benchGPUPositions
// positions, then a GPU source's Generate over benchGPUDelivered positions,
// timed from the call to its return with every batch handed back as a
// prober would. Errors wrap generator.ErrNoGPU when the worker cannot
// start.
func benchGPU(ctx context.Context, cfg generator.GPUConfig) (benchResult, error) {
	win, err := prefixes.ParseWindow(benchWindow, 0)
	if err != nil {
		return benchResult{}, err
	}
	gen := func(n uint64) (*generator.Generator, error) {
		return generator.New(generator.Config{Windows: []prefixes.Window{win}, PermSeed: 1, MaxTargets: n})
	}
	g, err := gen(benchGPUPositions)
	if err != nil {
		return benchResult{}, err
	}
	gb, err := generator.BenchGPU(ctx, g, cfg)
	if err != nil {
		return benchResult{}, err
	}
	if g, err = gen(benchGPUDelivered); err != nil {
		return benchResult{}, err
	}
	src, err := generator.StartGPU(ctx, g, cfg)
	if err != nil {
		return benchResult{}, err
	}
	out := make(chan *generator.Batch, 16)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- src.Generate(ctx, out) }()
	var n uint64
	for b := range out {
		n += uint64(len(b.Targets))
		src.Put(b)
	}
	elapsed := time.Since(start)
	if err := <-done; err != nil {
		return benchResult{}, err
	}
	return benchResult{Backend: "gpu", Workers: 1, TargetsPerS: float64(n) / elapsed.Seconds(), Targets: n,
		DurationS: elapsed.Seconds(), Device: gb.Device, KernelTargetsPerS: gb.KernelPerSecond,
		HostTargetsPerS: gb.HostPerSecond, GPUTargets: gb.Targets}, nil
}
