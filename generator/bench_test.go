package generator

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"runtime"
	"testing"
	"time"

	"github.com/dchest/siphash"
)

// cpuClock measures the CPU time of the benchmark's thread: start locks the
// goroutine to its thread, report adds the metric targets/cpu-s.
type cpuClock struct {
	t0 time.Duration
	ok bool
}

func startCPUClock() *cpuClock {
	runtime.LockOSThread()
	t0, ok := threadCPUTime()
	return &cpuClock{t0, ok}
}

func (c *cpuClock) report(b *testing.B, targets int, unit string) {
	t1, ok := threadCPUTime()
	runtime.UnlockOSThread()
	if c.ok && ok && t1 > c.t0 {
		b.ReportMetric(float64(targets)/(t1-c.t0).Seconds(), unit)
	}
}

// benchConfigs are the index spaces the per-target benchmarks run on.
func benchConfigs(b testing.TB) []struct {
	name string
	cfg  Config
} {
	return []struct {
		name string
		cfg  Config
	}{
		{"low:1", Config{Windows: mustWindows(b, "2a00::/16-64")}},
		// N = 2^32 + 2^20: the worst case of the walk (the domain is 2^33).
		{"low:1/just above a power of two", Config{Windows: mustWindows(b, "2a00::/32-64", "2a01::/44-64")}},
		{"low:4/many windows", Config{Windows: mustWindows(b, "2a00::/16-64", "2a01::/20-64", "2a02::/24-64", "2a03::/28-64", "2a04:1::/104-120"), IID: IID{Count: 4}}},
		{"random/partly blocked", Config{Windows: mustWindows(b, "2a00::/16-64"), IID: IID{Mode: IIDRandom},
			Blocklist: testbedBlocklist(b, "2a00:0:0:1::/80", "2a00:0:0:2::1/128", "2a00:0:0:3::/96")}},
	}
}

// BenchmarkFill measures the per-target path on one core: permute a
// position, map the index to its window, fill the IID, check the blocklist
// and write 16 bytes into a batch; one batch of DefaultBatchSize per
// iteration.
func BenchmarkFill(b *testing.B) {
	for _, bc := range benchConfigs(b) {
		b.Run(bc.name, func(b *testing.B) {
			g := mustNew(b, bc.cfg)
			batch := g.get()
			size := uint64(g.batchSize)
			var n int
			var j uint64
			b.ReportAllocs()
			clock := startCPUClock()
			for b.Loop() {
				g.fill(batch, j, j+size)
				n += len(batch.Targets)
				j += size
			}
			clock.report(b, n, "targets/cpu-s")
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "targets/s")
		})
	}
}

// sipFeistel is the anchor the fast path is compared with: a
// straightforward keyed permutation as the original design had it, a
// balanced 4-round Feistel network over the smallest even power of two
// >= n with SipHash-2-4 (Aumasson and Bernstein, 2012) of the half as the
// round function, and cycle walking.
type sipFeistel struct {
	n, mask uint64
	h       uint
	k0, k1  [PermRounds]uint64
}

func newSipFeistel(n, seed uint64) *sipFeistel {
	h := max(uint(bits.Len64(n-1))+1, 2) / 2
	p := &sipFeistel{n: n, h: h, mask: 1<<h - 1}
	s := seed
	for r := range PermRounds {
		p.k0[r], p.k1[r] = splitmix64(&s), splitmix64(&s)
	}
	return p
}

func (p *sipFeistel) at(i uint64) uint64 {
	var buf [8]byte
	x := i
	for {
		l, r := x>>p.h, x&p.mask
		for k := range PermRounds {
			binary.LittleEndian.PutUint64(buf[:], r)
			l, r = r, l^siphash.Hash(p.k0[k], p.k1[k], buf[:])&p.mask
		}
		x = l<<p.h | r
		if x < p.n {
			return x
		}
	}
}

// sipFill is the reference per-target path: the SipHash Feistel, then the
// window lookup and fill of Candidate, one target at a time.
func sipFill(g *Generator, p *sipFeistel, batch *Batch, j, end uint64) {
	t := batch.Targets[:0]
	for ; j < end; j++ {
		hi, lo := g.candidate(p.at(g.shardIndex + g.shardCount*j))
		if g.isBlocked(hi, lo) {
			continue
		}
		var a [16]byte
		binary.BigEndian.PutUint64(a[:8], hi)
		binary.BigEndian.PutUint64(a[8:], lo)
		t = append(t, a)
	}
	batch.Targets = t
}

// BenchmarkSipHashReference is BenchmarkFill's path with the SipHash-2-4
// Feistel reference in place of Perm.
func BenchmarkSipHashReference(b *testing.B) {
	for _, bc := range benchConfigs(b) {
		b.Run(bc.name, func(b *testing.B) {
			g := mustNew(b, bc.cfg)
			p := newSipFeistel(g.n, 1)
			batch := g.get()
			size := uint64(g.batchSize)
			var n int
			var j uint64
			b.ReportAllocs()
			clock := startCPUClock()
			for b.Loop() {
				sipFill(g, p, batch, j, j+size)
				n += len(batch.Targets)
				j += size
			}
			clock.report(b, n, "targets/cpu-s")
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "targets/s")
		})
	}
}

// BenchmarkSpeedup runs the fast path and the SipHash reference
// alternately, a batch each per iteration, so that both see the same
// machine load, and reports both rates per CPU second of the thread and
// their ratio (fast/siphash).
func BenchmarkSpeedup(b *testing.B) {
	g := mustNew(b, Config{Windows: mustWindows(b, "2a00::/16-64")})
	p := newSipFeistel(g.n, 1)
	batch := g.get()
	size := uint64(g.batchSize)
	var fast, ref time.Duration
	var nf, nr int
	var j uint64
	// Thread CPU time when the platform has it (steady on a loaded
	// machine), else wall time.
	now := func() time.Duration { return time.Duration(time.Now().UnixNano()) }
	if _, ok := threadCPUTime(); ok {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		now = func() time.Duration { t, _ := threadCPUTime(); return t }
	}
	b.ReportAllocs()
	for b.Loop() {
		t0 := now()
		g.fill(batch, j, j+size)
		t1 := now()
		nf += len(batch.Targets)
		sipFill(g, p, batch, j, j+size)
		t2 := now()
		nr += len(batch.Targets)
		fast += t1 - t0
		ref += t2 - t1
		j += size
	}
	fr := float64(nf) / fast.Seconds()
	rr := float64(nr) / ref.Seconds()
	b.ReportMetric(fr, "targets/cpu-s")
	b.ReportMetric(rr, "siphash-targets/cpu-s")
	b.ReportMetric(fr/rr, "speedup")
}

// BenchmarkGenerate measures Generate end to end through the channel, with
// the consumer handing batches back, one batch per iteration.
func BenchmarkGenerate(b *testing.B) {
	for _, bc := range []struct {
		name    string
		workers int
	}{{"workers=1", 1}, {"workers=default", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			g := mustNew(b, Config{Windows: mustWindows(b, "2a00::/16-64"), Workers: bc.workers})
			ctx, cancel := context.WithCancel(context.Background())
			out := make(chan *Batch, 64)
			done := make(chan error, 1)
			go func() { done <- g.Generate(ctx, out) }()
			var n int
			b.ReportAllocs()
			for b.Loop() {
				batch := <-out
				n += len(batch.Targets)
				g.Put(batch)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "targets/s")
			cancel()
			for batch := range out {
				g.Put(batch)
			}
			<-done
		})
	}
}

var permSink uint64

// BenchmarkPerm measures Perm.At alone: n just above a power of two walks
// about twice per index, n = 2^64-1 about once.
func BenchmarkPerm(b *testing.B) {
	for _, bc := range []struct {
		name string
		n    uint64
	}{{"n=2^32+1", 1<<32 + 1}, {"n=2^33", 1 << 33}, {"n=2^64-1", 1<<64 - 1}} {
		b.Run(bc.name, func(b *testing.B) {
			p := NewPerm(bc.n, 1)
			var i, s uint64
			b.ReportAllocs()
			clock := startCPUClock()
			for b.Loop() {
				s += p.At(i)
				i++
			}
			clock.report(b, int(i), "targets/cpu-s")
			permSink = s
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "targets/s")
		})
	}
}

// BenchmarkTGA measures the TGA's candidate generation on one core,
// offline (Generate) and live (a TGARun's Next without feedback, in
// batches of DefaultBatchSize), on the 6Graph and 6GAN seed sets; one
// whole budget per iteration. The builds are not timed.
func BenchmarkTGA(b *testing.B) {
	for _, set := range []string{"6graph-5k", "6gan-90k"} {
		b.Run(set, func(b *testing.B) {
			tg, err := NewTGA(realSeeds(b, "hitlist-seeds-"+set+".txt"), TGAConfig{})
			if err != nil {
				b.Fatal(err)
			}
			benchTGA(b, tg)
		})
	}
}

func benchTGA(b *testing.B, tg *TGA) {
	for _, budget := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("Generate/budget=%d", budget), func(b *testing.B) {
			n := 0
			clock := startCPUClock()
			for b.Loop() {
				c, err := tg.Generate(budget)
				if err != nil {
					b.Fatal(err)
				}
				n += len(c)
			}
			clock.report(b, n, "candidates/cpu-s")
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "candidates/s")
		})
	}
	for _, budget := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("Run/budget=%d", budget), func(b *testing.B) {
			n := 0
			dst := make([][16]byte, 0, DefaultBatchSize)
			clock := startCPUClock()
			for b.Loop() {
				r, err := tg.NewRun(TGARunConfig{Budget: budget, Lag: -1})
				if err != nil {
					b.Fatal(err)
				}
				for {
					dst = r.Next(dst[:0], DefaultBatchSize)
					if len(dst) == 0 {
						break
					}
					n += len(dst)
				}
				if got := r.Stats().Emitted; got != uint64(budget) {
					b.Fatalf("emitted %d of %d", got, budget)
				}
			}
			clock.report(b, n, "candidates/cpu-s")
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "candidates/s")
		})
	}
}
