//go:build cuda

// These tests need an NVIDIA GPU. gorgonia.org/cu's init exits the test
// binary on a machine without one, so build the binary here and run it
// there:
//
//	go test -c -tags cuda -o widescan-gpu.test ./cmd/widescan-gpu
//	./widescan-gpu.test -test.v -targets 1000000000
//	./widescan-gpu.test -test.run '^$' -test.bench . -test.benchtime 1x
//
// The test binary doubles as the worker: the generator's GPU backend starts
// it again with $WIDESCAN_TEST_GPU_CHILD set, and it runs main.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"testing"

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/internal/testutil"
	"github.com/p2pnet/widescan/prefixes"
)

const envChild = "WIDESCAN_TEST_GPU_CHILD"

var targets = flag.Uint64("targets", 1_000_000_000, "targets to compare with the CPU in all, over every configuration")

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// workerConfig makes the GPU backend start this binary as the worker.
func workerConfig(t testing.TB) generator.GPUConfig {
	t.Setenv(envChild, "1")
	return generator.GPUConfig{Worker: os.Args[0]}
}

type gpuCase struct {
	windows []string
	iid     string
	block   []string
}

var gpuCases = []gpuCase{
	{windows: []string{"2001:db8::/32-64"}, iid: "low:1"},
	{windows: []string{"2001:db8::/32-64"}, iid: "low:7"},
	{windows: []string{"2001:db8::/36-64", "3fff:100::/40-56", "2001:db8:1::1/128", "3fff:200::/100-124"}, iid: "random"},
	{windows: []string{"2001:db8::/24-64"}, iid: "fixed:::dead:beef:0:1"},
	{windows: []string{"2000::/3-66"}, iid: "low:1"},
	{windows: []string{"::/0-64"}, iid: "random"},
	{windows: []string{"2001:db8::/40-64"}, iid: "fixed:::1", block: []string{"2001:db8:0:1::1/128", "2001:db8:0:2::/66"}},
}

func (c gpuCase) config(t testing.TB) generator.Config {
	var ws []prefixes.Window
	for _, s := range c.windows {
		w, err := prefixes.ParseWindow(s, 0)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	var extra []netip.Prefix
	for _, s := range c.block {
		extra = append(extra, netip.MustParsePrefix(s))
	}
	bl, err := prefixes.NewBlocklist(extra, []netip.Prefix{netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("3fff::/20")})
	if err != nil {
		t.Fatal(err)
	}
	iid, err := generator.ParseIID(c.iid)
	if err != nil {
		t.Fatal(err)
	}
	return generator.Config{Windows: ws, Blocklist: bl, IID: iid, BatchSize: 1 << 16}
}

// TestGPUMatchesCPU compares the GPU backend (this worker on the device)
// with the CPU backend batch for batch: every case with three seeds and
// shards and a random resume position, -targets in all.
func TestGPUMatchesCPU(t *testing.T) {
	r := testutil.Rand(t)
	runs := len(gpuCases) * 3
	per := max(*targets/uint64(runs), 1)
	var total uint64
	for i, c := range gpuCases {
		for k := range 3 {
			cfg := c.config(t)
			cfg.PermSeed = r.Uint64()
			cfg.Shard = []generator.Shard{{}, {Index: 3, Count: 8}, {Index: r.Uint64N(1000), Count: 1000}}[k]
			g, err := generator.New(cfg)
			if err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
			if g.End() == 0 {
				continue
			}
			cfg.Start = r.Uint64N(g.End())
			if g.End()-cfg.Start < per {
				cfg.Start = g.End() - min(g.End(), per)
			}
			cfg.MaxTargets = cfg.Start + min(per, g.End()-cfg.Start)
			name := fmt.Sprintf("%v %s seed %d shard %d/%d positions [%d, %d)", c.windows, c.iid, cfg.PermSeed, cfg.Shard.Index, cfg.Shard.Count, cfg.Start, cfg.MaxTargets)
			total += compare(t, name, cfg)
		}
	}
	t.Logf("%d targets compared, all equal", total)
}

// compare runs both backends on cfg in lockstep and returns the targets
// compared.
func compare(t *testing.T, name string, cfg generator.Config) uint64 {
	t.Helper()
	cpu, err := generator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gg, err := generator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gpu, err := generator.StartGPU(context.Background(), gg, workerConfig(t))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := make(chan *generator.Batch, 8), make(chan *generator.Batch, 8)
	ea, eb := make(chan error, 1), make(chan error, 1)
	go func() { ea <- cpu.Generate(ctx, a) }()
	go func() { eb <- gpu.Generate(ctx, b) }()
	var n uint64
	for x := range a {
		y, ok := <-b
		if !ok {
			t.Fatalf("%s: the GPU stopped at position %d: %v", name, x.Pos, <-eb)
		}
		if x.Pos != y.Pos || x.Next != y.Next || len(x.Targets) != len(y.Targets) {
			t.Fatalf("%s: batch [%d, %d) of %d targets on the CPU, [%d, %d) of %d on the GPU", name, x.Pos, x.Next, len(x.Targets), y.Pos, y.Next, len(y.Targets))
		}
		for i := range x.Targets {
			if x.Targets[i] != y.Targets[i] {
				t.Fatalf("%s: batch at %d, target %d: CPU %s, GPU %s", name, x.Pos, i, netip.AddrFrom16(x.Targets[i]), netip.AddrFrom16(y.Targets[i]))
			}
		}
		n += uint64(len(x.Targets))
		cpu.Put(x)
		gpu.Put(y)
	}
	if y, ok := <-b; ok {
		t.Fatalf("%s: the GPU sent a batch at %d after the CPU's last", name, y.Pos)
	}
	if err := <-ea; err != nil {
		t.Fatal(err)
	}
	if err := <-eb; err != nil {
		t.Fatalf("%s: GPU: %v", name, err)
	}
	if cpu.Blocked() != gg.Blocked() {
		t.Fatalf("%s: blocked CPU %d, GPU %d", name, cpu.Blocked(), gg.Blocked())
	}
	return n
}

// BenchmarkWorker reports the worker's own timing (kernel only, and
// delivered to pinned host memory) over 2^32 positions, and the rate
// delivered to this process through the GPU backend over 2^28.
func BenchmarkWorker(b *testing.B) {
	cfg := gpuCase{windows: []string{"2001:db8::/32-64"}, iid: "low:1"}.config(b)
	cfg.MaxTargets = 1 << 32
	g, err := generator.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	wc := workerConfig(b)
	for b.Loop() {
		r, err := generator.BenchGPU(context.Background(), g, wc)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(r.KernelPerSecond, "kernel-targets/s")
		b.ReportMetric(r.HostPerSecond, "host-targets/s")
		b.Logf("%s: %+v", r.Device, r)
		cfg.MaxTargets = 1 << 28
		g2, err := generator.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		gpu, err := generator.StartGPU(context.Background(), g2, wc)
		if err != nil {
			b.Fatal(err)
		}
		out := make(chan *generator.Batch, 16)
		errc := make(chan error, 1)
		start := b.Elapsed()
		go func() { errc <- gpu.Generate(context.Background(), out) }()
		var n uint64
		for x := range out {
			n += uint64(len(x.Targets))
			gpu.Put(x)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n)/(b.Elapsed()-start).Seconds(), "process-targets/s")
	}
}
