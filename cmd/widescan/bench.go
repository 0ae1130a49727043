package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

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
JSON object per line: {"backend":"cpu","workers":1,"targets_per_s":...}.`,
		Example: `  widescan bench
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
	for _, n := range counts {
		r, err := benchGenerate(ctx, n, f.duration)
		if err != nil {
			return err
		}
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
	return nil
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
