package generator

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/p2pnet/widescan/internal/testutil"
	"github.com/p2pnet/widescan/kernels"
)

// envFakeWorker makes the test binary act as a GPU worker (see fakeWorker)
// when it is started by StartGPU with Worker set to os.Args[0].
const envFakeWorker = "WIDESCAN_TEST_FAKE_GPU_WORKER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envFakeWorker); mode != "" {
		os.Exit(fakeWorker(mode))
	}
	os.Exit(m.Run())
}

// fakeWorker speaks the worker protocol with the CPU arithmetic of this
// package in place of the CUDA kernel, so that the GPU backend's process
// handling, framing, batching, blocklist and errors are tested on any
// machine. The mode picks a behaviour: ok, bench, cuinit (gorgonia.org/cu's
// failed cuInit), hang, die (exits after one frame), errframe, badframe.
func fakeWorker(mode string) int {
	fs := flag.NewFlagSet("fake", flag.ContinueOnError)
	fs.Int("device", 0, "")
	frame := fs.Uint64("frame", 1<<22, "")
	bench := fs.Bool("bench", false, "")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	switch mode {
	case "cuinit":
		fmt.Printf("Error in initialization, please refer to %q for details on: NoDevice\n",
			"https://docs.nvidia.com/cuda/cuda-driver-api/group__CUDA__INITIALIZE.html")
		return 1
	case "hang":
		time.Sleep(time.Minute)
		return 1
	}
	p, err := kernels.ReadPlan(bufio.NewReader(os.Stdin))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake worker:", err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	if *bench {
		json.NewEncoder(out).Encode(GPUBench{Device: "fake", Targets: p.End - p.Start, KernelPerSecond: 1, HostPerSecond: 1})
		return 0
	}
	text := func(kind kernels.FrameKind, pos uint64, s string) {
		var h [kernels.FrameHeaderSize]byte
		kernels.FrameHeader{Kind: kind, Count: uint32(len(s)), Pos: pos}.Put(h[:])
		out.Write(h[:])
		out.WriteString(s)
	}
	text(kernels.FrameHello, kernels.ProtocolVersion, "fake device (CPU arithmetic)")
	g := generatorFromPlan(p)
	at := func(j uint64) (hi, lo uint64) { return g.candidate(g.perm.At(p.ShardIndex + p.ShardCount*j)) }
	for j, f := p.Start, 0; j < p.End; f++ {
		n := min(*frame, p.End-j)
		switch {
		case mode == "die" && f == 1:
			out.Flush()
			fmt.Fprintln(os.Stderr, "fake worker: device lost")
			return 3
		case mode == "errframe" && f == 1:
			text(kernels.FrameError, 0, "out of memory")
			return 1
		case mode == "badframe" && f == 1:
			j++ // a gap
		}
		var h [kernels.FrameHeaderSize]byte
		kernels.FrameHeader{Kind: kernels.FrameData, Count: uint32(n), Pos: j}.Put(h[:])
		out.Write(h[:])
		var a [16]byte
		for k := j; k < j+n; k++ {
			hi, lo := at(k)
			binary.BigEndian.PutUint64(a[:8], hi)
			binary.BigEndian.PutUint64(a[8:], lo)
			out.Write(a[:])
		}
		j += n
	}
	var h [kernels.FrameHeaderSize]byte
	kernels.FrameHeader{Kind: kernels.FrameEnd, Pos: p.End}.Put(h[:])
	out.Write(h[:])
	return 0
}

// generatorFromPlan rebuilds the arithmetic part of a Generator from a
// decoded plan, as the kernel sees it.
func generatorFromPlan(p *kernels.Plan) *Generator {
	// A plan holds windows only: every index is below segStart.
	g := &Generator{n: p.N, segStart: p.N, shift: uint(p.Shift), first: p.First, random: p.Random, rndHi: p.RandHi, rndLo: p.RandLo}
	g.perm = Perm{n: p.N, rb: uint(p.RBits), lmask: p.LMask, rmask: p.RMask, key: p.Keys}
	for _, s := range p.Spans {
		g.spans = append(g.spans, span{
			start: s.Start, hi: s.Hi, lo: s.Lo, subMask: s.SubMask, subBits: uint(s.SubBits),
			hostBits: uint(s.HostBits), one: s.One, mhi: s.MaskHi, mlo: s.MaskLo,
		})
	}
	return g
}

// fakeGPU returns a GPUConfig that starts this test binary as a fake worker
// in mode.
func fakeGPU(t *testing.T, mode string) GPUConfig {
	t.Setenv(envFakeWorker, mode)
	return GPUConfig{Worker: os.Args[0], StartTimeout: 30 * time.Second}
}

// batchRecord is what a test compares of a batch.
type batchRecord struct {
	pos, next uint64
	targets   [][16]byte
	resume    []uint64
}

func drain(t *testing.T, src Source) ([]batchRecord, error) {
	t.Helper()
	out := make(chan *Batch, 4)
	errc := make(chan error, 1)
	go func() { errc <- src.Generate(context.Background(), out) }()
	var recs []batchRecord
	for b := range out {
		r := batchRecord{pos: b.Pos, next: b.Next, targets: append([][16]byte(nil), b.Targets...)}
		for n := 0; n <= len(b.Targets); n += max(1, len(b.Targets)/4) {
			r.resume = append(r.resume, b.Resume(n))
		}
		recs = append(recs, r)
		src.Put(b)
	}
	return recs, <-errc
}

// TestGPUBackendMatchesCPU runs the GPU backend against the fake worker and
// checks that its batches equal Generate's: the same targets, positions and
// resume points, the same blocked count, for shards, resume positions, a
// frame size that is no multiple of the batch size and partly blocked
// subnets.
func TestGPUBackendMatchesCPU(t *testing.T) {
	r := testutil.Rand(t)
	cases := []struct {
		name    string
		windows []string
		block   []string
		iid     string
		shard   Shard
	}{
		{name: "one window, low IIDs", windows: []string{"2001:db8::/32-64"}, iid: "low:3"},
		{name: "several windows, random IIDs, a shard", windows: []string{"2001:db8::/48-64", "3fff:100::/40-52", "2001:db8:1::1/128"}, iid: "random", shard: Shard{Index: 2, Count: 5}},
		{name: "partly blocked subnets", windows: []string{"2001:db8::/56-64"}, iid: "fixed:::1:2:3:4",
			block: []string{"2001:db8:0:1::/65", "2001:db8:0:2::1/128", "2001:db8:0:3::/66"}},
		{name: "a tiny space", windows: []string{"2001:db8::/64-64"}, iid: "low:3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			iid, err := ParseIID(c.iid)
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{
				Windows: mustWindows(t, c.windows...), Blocklist: testbedBlocklist(t, c.block...),
				IID: iid, PermSeed: r.Uint64(), Shard: c.shard, BatchSize: 512, Workers: 3,
			}
			g := mustNew(t, cfg)
			if g.End() > 0 {
				cfg.Start = r.Uint64N(g.End()/8 + 1) // resume early enough to meet the blocked subnets
				cfg.MaxTargets = min(g.End(), cfg.Start+20000)
			}
			cpu, gpuGen := mustNew(t, cfg), mustNew(t, cfg)
			want, err := drain(t, cpu)
			if err != nil {
				t.Fatal(err)
			}
			gc := fakeGPU(t, "ok")
			gc.Frame = 1500 // rounded up to 1536, three batches
			gpu, err := StartGPU(context.Background(), gpuGen, gc)
			if err != nil {
				t.Fatal(err)
			}
			if gpu.Device() == "" {
				t.Error("no device description")
			}
			got, err := drain(t, gpu)
			if err != nil {
				t.Fatal(err)
			}
			compareBatches(t, got, want)
			if gpuGen.Blocked() != cpu.Blocked() {
				t.Errorf("blocked: GPU %d, CPU %d", gpuGen.Blocked(), cpu.Blocked())
			}
			if len(c.block) > 0 && cpu.Blocked() == 0 {
				t.Error("the blocklist case dropped nothing: it tests nothing")
			}
		})
	}
}

func compareBatches(t *testing.T, got, want []batchRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d batches, CPU sent %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.pos != w.pos || g.next != w.next || len(g.targets) != len(w.targets) {
			t.Fatalf("batch %d: [%d, %d) of %d targets, CPU [%d, %d) of %d", i, g.pos, g.next, len(g.targets), w.pos, w.next, len(w.targets))
		}
		for k := range g.targets {
			if g.targets[k] != w.targets[k] {
				t.Fatalf("batch %d target %d: %s, CPU %s", i, k, addr(g.targets[k]), addr(w.targets[k]))
			}
		}
		if fmt.Sprint(g.resume) != fmt.Sprint(w.resume) {
			t.Fatalf("batch %d: resume points %v, CPU %v", i, g.resume, w.resume)
		}
	}
}

// TestGPUStartFailures checks that every way the worker can fail to start
// gives an error wrapping ErrNoGPU with a reason a person can act on.
func TestGPUStartFailures(t *testing.T) {
	cases := []struct {
		name, mode, worker string
		timeout            time.Duration
		reason             string
	}{
		{name: "missing worker", worker: "/nonexistent/widescan-gpu", reason: "no such file"},
		{name: "cuInit fails in the worker's init", mode: "cuinit", reason: "NoDevice"},
		{name: "the worker hangs", mode: "hang", timeout: 200 * time.Millisecond, reason: "no device report within 200ms"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := mustNew(t, Config{Windows: mustWindows(t, "2001:db8::/48-64"), Blocklist: testbedBlocklist(t)})
			cfg := GPUConfig{Worker: c.worker, StartTimeout: c.timeout}
			if c.mode != "" {
				cfg.Worker = fakeGPU(t, c.mode).Worker
			}
			_, err := StartGPU(context.Background(), g, cfg)
			if !errors.Is(err, ErrNoGPU) || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("StartGPU: %v, want ErrNoGPU saying %q", err, c.reason)
			}
			t.Logf("reason: %v", err)
			// The CPU backend still works after a failed start.
			if _, err := drain(t, g); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestGPUWorkerFailsMidway checks the errors of a worker that fails after
// its start: they wrap ErrGPUWorker and say why.
func TestGPUWorkerFailsMidway(t *testing.T) {
	for mode, reason := range map[string]string{
		"die":      "device lost",
		"errframe": "out of memory",
		"badframe": "want one from",
	} {
		t.Run(mode, func(t *testing.T) {
			g := mustNew(t, Config{Windows: mustWindows(t, "2001:db8::/48-64"), Blocklist: testbedBlocklist(t), BatchSize: 256})
			cfg := fakeGPU(t, mode)
			cfg.Frame = 1000
			gpu, err := StartGPU(context.Background(), g, cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = drain(t, gpu)
			if !errors.Is(err, ErrGPUWorker) || !strings.Contains(err.Error(), reason) {
				t.Fatalf("Generate: %v, want ErrGPUWorker saying %q", err, reason)
			}
			t.Logf("error: %v", err)
		})
	}
}

// TestGPUCancel checks that a cancelled Generate returns ctx.Err() at once
// and stops the worker.
func TestGPUCancel(t *testing.T) {
	g := mustNew(t, Config{Windows: mustWindows(t, "2001:db8::/32-64"), Blocklist: testbedBlocklist(t)})
	gpu, err := StartGPU(context.Background(), g, fakeGPU(t, "ok"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan *Batch)
	errc := make(chan error, 1)
	go func() { errc <- gpu.Generate(ctx, out) }()
	gpu.Put(testutil.WaitChan(t, out, 10*time.Second))
	cancel()
	for range out {
	}
	if err := testutil.WaitChan(t, errc, 10*time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("Generate: %v, want context.Canceled", err)
	}
	if gpu.cmd.ProcessState == nil {
		t.Fatal("the worker was not reaped")
	}
}

// TestOpenBackend checks the three backends with a worker that cannot start:
// cpu never tries, auto falls back and says why, gpu fails.
func TestOpenBackend(t *testing.T) {
	g := mustNew(t, Config{Windows: mustWindows(t, "2001:db8::/48-64"), Blocklist: testbedBlocklist(t)})
	cfg := fakeGPU(t, "cuinit")
	src, fallback, err := OpenBackend(context.Background(), g, BackendCPU, cfg)
	if src != Source(g) || fallback != nil || err != nil {
		t.Errorf("cpu: %v, %v, %v", src, fallback, err)
	}
	src, fallback, err = OpenBackend(context.Background(), g, BackendAuto, cfg)
	if src != Source(g) || !errors.Is(fallback, ErrNoGPU) || err != nil {
		t.Errorf("auto: %v, %v, %v; want the CPU and an ErrNoGPU reason", src, fallback, err)
	}
	src, fallback, err = OpenBackend(context.Background(), g, BackendGPU, cfg)
	if src != nil || fallback != nil || !errors.Is(err, ErrNoGPU) {
		t.Errorf("gpu: %v, %v, %v; want ErrNoGPU", src, fallback, err)
	}
	src, _, err = OpenBackend(context.Background(), g, BackendAuto, fakeGPU(t, "ok"))
	if err != nil {
		t.Fatal(err)
	}
	gpu, ok := src.(*GPU)
	if !ok {
		t.Fatalf("auto with a working worker: %T, want *GPU", src)
	}
	gpu.Close()
}

func TestBackendNames(t *testing.T) {
	for _, b := range []Backend{BackendCPU, BackendGPU, BackendAuto} {
		var v Backend
		if err := v.Set(b.String()); err != nil || v != b {
			t.Errorf("Set(%q) = %v, %v", b, v, err)
		}
	}
	if _, err := ParseBackend("tpu"); err == nil {
		t.Error("ParseBackend accepted tpu")
	}
}

func TestFindWorker(t *testing.T) {
	t.Setenv(EnvGPUWorker, os.Args[0])
	if p, err := FindWorker(""); err != nil || p != os.Args[0] {
		t.Errorf("FindWorker with $%s: %q, %v", EnvGPUWorker, p, err)
	}
	t.Setenv(EnvGPUWorker, "")
	t.Setenv("PATH", t.TempDir())
	if _, err := FindWorker(""); err == nil || !strings.Contains(err.Error(), WorkerName) {
		t.Errorf("FindWorker with nothing to find: %v", err)
	}
}

func TestBenchGPU(t *testing.T) {
	g := mustNew(t, Config{Windows: mustWindows(t, "2001:db8::/48-64"), Blocklist: testbedBlocklist(t)})
	r, err := BenchGPU(context.Background(), g, fakeGPU(t, "ok"))
	if err != nil || r.Device != "fake" || r.Targets != g.Count() {
		t.Errorf("BenchGPU: %+v, %v", r, err)
	}
	if _, err := BenchGPU(context.Background(), g, fakeGPU(t, "cuinit")); !errors.Is(err, ErrNoGPU) || !strings.Contains(err.Error(), "NoDevice") {
		t.Errorf("BenchGPU without a GPU: %v", err)
	}
}
