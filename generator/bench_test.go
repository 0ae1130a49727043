package generator

import (
	"context"
	"testing"
)

// BenchmarkFill measures the per-target path on one worker: permutation,
// window lookup, IID fill and blocklist check, one batch per iteration.
func BenchmarkFill(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"low:1", Config{Windows: mustWindows(b, "2a00::/16-64")}},
		{"low:4/many windows", Config{Windows: mustWindows(b, "2a00::/16-64", "2a01::/20-64", "2a02::/24-64", "2a03::/28-64", "2a04:1::/104-120"), IID: IID{Count: 4}}},
		{"random/partly blocked", Config{Windows: mustWindows(b, "2a00::/16-64"), IID: IID{Mode: IIDRandom},
			Blocklist: testbedBlocklist(b, "2a00:0:0:1::/80", "2a00:0:0:2::1/128", "2a00:0:0:3::/96")}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := mustNew(b, bc.cfg)
			c := &cursor{step: 1}
			batch := g.get()
			var n int
			b.ReportAllocs()
			for b.Loop() {
				batch.Targets = batch.Targets[:0]
				g.fill(batch, c)
				n += len(batch.Targets)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "targets/s")
		})
	}
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

// BenchmarkPerm measures Perm.At alone: n just above a power of four walks
// about four times per index, n = 2^64-1 about once.
func BenchmarkPerm(b *testing.B) {
	for _, bc := range []struct {
		name string
		n    uint64
	}{{"n=2^32+1", 1<<32 + 1}, {"n=2^33", 1 << 33}, {"n=2^64-1", 1<<64 - 1}} {
		b.Run(bc.name, func(b *testing.B) {
			p := NewPerm(bc.n, 1)
			var i, s uint64
			b.ReportAllocs()
			for b.Loop() {
				s += p.At(i)
				i++
			}
			permSink = s
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "targets/s")
		})
	}
}
