package generator

import (
	"context"
	"encoding/binary"
	"math"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/p2pnet/widescan/internal/testutil"
	"github.com/p2pnet/widescan/prefixes"
)

// refCandidate is a slow reference of Candidate written from its docs with
// prefixes.Window.Subnet and math/big: the window holding idx by a linear
// scan, subnet o mod 2^S, IID number o >> S.
func refCandidate(t testing.TB, g *Generator, seed, idx uint64) [16]byte {
	t.Helper()
	start := uint64(0)
	for _, w := range g.Windows() {
		subnets, _ := w.Subnets()
		k := uint64(1)
		if w.End < 128 {
			k = g.iid.count()
		}
		if idx-start >= subnets*k {
			start += subnets * k
			continue
		}
		o := idx - start
		sub := w.Subnet(o % subnets)
		v := new(big.Int).SetBytes(sub.Addr().AsSlice())
		if w.End < 128 {
			hostMax := new(big.Int).Lsh(big.NewInt(1), uint(w.HostBits()))
			hostMax.Sub(hostMax, big.NewInt(1))
			var host *big.Int
			switch g.iid.Mode {
			case IIDLow:
				host = new(big.Int).SetUint64(o/subnets + 1)
			case IIDFixed:
				host = new(big.Int).SetBytes(g.iid.Suffix[:])
			case IIDRandom:
				s := seed
				for range 4 {
					refSplitmix(&s)
				}
				kHi, kLo := refSplitmix(&s), refSplitmix(&s)
				s1, s2 := idx^kHi-0x9e3779b97f4a7c15, idx^kLo-0x9e3779b97f4a7c15
				host = new(big.Int).Lsh(new(big.Int).SetUint64(refSplitmix(&s1)), 64)
				host.Or(host, new(big.Int).SetUint64(refSplitmix(&s2)))
			}
			v.Or(v, host.And(host, hostMax))
		}
		var a [16]byte
		v.FillBytes(a[:])
		return a
	}
	t.Fatalf("index %d past the windows", idx)
	return [16]byte{}
}

// randomConfig draws windows (some of End 128, some with many subnets),
// an IID mode that fits them, a blocklist that cuts into them, a shard and
// a batch size.
func randomConfig(t testing.TB, r *rand.Rand) Config {
	t.Helper()
	var ws []prefixes.Window
	var extra []netip.Prefix
	for i := range 1 + r.IntN(40) {
		a := netip.MustParseAddr("2a00::").As16()
		binary.BigEndian.PutUint16(a[2:], uint16(i))
		l := 32 + r.IntN(80)
		end := min(l+r.IntN(12), 128)
		if r.IntN(5) == 0 {
			end = 128
			l = 128 - r.IntN(10)
		}
		p := netip.PrefixFrom(netip.AddrFrom16(a), l).Masked()
		ws = append(ws, prefixes.Window{Prefix: p, End: end})
		if r.IntN(4) == 0 {
			b := a
			b[15] = byte(r.IntN(4))
			extra = append(extra, netip.PrefixFrom(netip.AddrFrom16(b), 126+r.IntN(3)).Masked())
		}
	}
	var iid IID
	switch r.IntN(3) {
	case 0:
		iid = IID{Mode: IIDLow, Count: uint64(1 + r.IntN(3))}
	case 1:
		iid = IID{Mode: IIDFixed, Suffix: [16]byte{15: 1}}
	case 2:
		iid = IID{Mode: IIDRandom}
	}
	bl, err := prefixes.NewBlocklist(extra, nil)
	if err != nil {
		t.Fatal(err)
	}
	count := uint64(1 + r.IntN(4))
	return Config{Windows: ws, Blocklist: bl, IID: iid, PermSeed: r.Uint64(),
		Shard: Shard{Index: r.Uint64N(count), Count: count}, BatchSize: 1 + r.IntN(700)}
}

func TestFillMatchesTheSlowPath(t *testing.T) {
	r := testutil.Rand(t)
	for range 60 {
		cfg := randomConfig(t, r)
		g, err := New(cfg)
		if err != nil {
			continue // an IID that does not fit: drawn again
		}
		b := g.get()
		for range 5 {
			if g.End() == 0 {
				break
			}
			j := r.Uint64N(g.End())
			checkFill(t, g, cfg, b, j, min(j+uint64(g.batchSize), g.End()), func(idx uint64) [16]byte {
				return refCandidate(t, g, cfg.PermSeed, idx)
			})
		}
	}
}

// checkFill fills b with the shard positions [j, end) of g and checks it
// against the slow path: Perm.At through the reference permutation, then
// ref (the reference candidate of an index), the blocked ones left out. It
// checks Candidate and Target of every position, and the batch's targets,
// dropped offsets, Pos and Next.
func checkFill(t *testing.T, g *Generator, cfg Config, b *Batch, j, end uint64, ref func(idx uint64) [16]byte) {
	t.Helper()
	g.fill(b, j, end)
	var want [][16]byte
	var dropped []uint32
	for q := j; q < end; q++ {
		pos := cfg.Shard.Index + cfg.Shard.Count*q
		idx := newRefPerm(g.n, cfg.PermSeed).at(pos)
		a := ref(idx)
		if got := g.Candidate(idx); got != a {
			t.Fatalf("%v %s %v: Candidate(%d) = %s, reference %s", cfg.Windows, cfg.IID, cfg.Patterns, idx, addr(got), addr(a))
		}
		blocked := cfg.Blocklist.Contains(addr(a))
		if got, ok := g.Target(pos); got != a || ok == blocked {
			t.Fatalf("Target(%d) = %s, %v; want %s, %v", pos, addr(got), ok, addr(a), !blocked)
		}
		if blocked {
			dropped = append(dropped, uint32(q-j))
			continue
		}
		want = append(want, a)
	}
	if !slices.Equal(b.Targets, want) || !slices.Equal(b.dropped, dropped) || b.Pos != j || b.Next != end {
		t.Fatalf("%v %s %v shard %v: fill(%d, %d) = %d targets, %v dropped; want %d, %v",
			cfg.Windows, cfg.IID, cfg.Patterns, cfg.Shard, j, end, len(b.Targets), b.dropped, len(want), dropped)
	}
}

// chiSquareBound is the chi-square value with df degrees of freedom that is
// exceeded with probability about 1e-6 (Wilson and Hilferty, 1931).
func chiSquareBound(df float64) float64 {
	const z = 4.75
	a := 2 / (9 * df)
	return df * math.Pow(1-a+z*math.Sqrt(a), 3)
}

// TestEarlySlicesHitWindowsInProportion checks the spread: for 1,200
// windows of sizes from 2^13 to 2^17 subnets, the first 0.1%, 1% and 10% of
// the sequence hit each window in proportion to its size (chi-square at a
// false alarm rate of about 1e-6 per slice).
func TestEarlySlicesHitWindowsInProportion(t *testing.T) {
	r := testutil.Rand(t)
	var ws []prefixes.Window
	for i := range 1200 {
		a := netip.MustParseAddr("2a00::").As16()
		binary.BigEndian.PutUint16(a[2:], uint16(i))
		ws = append(ws, prefixes.Window{Prefix: netip.PrefixFrom(netip.AddrFrom16(a), 48), End: 48 + 13 + r.IntN(5)})
	}
	for _, seed := range []uint64{r.Uint64(), r.Uint64()} {
		g := mustNew(t, Config{Windows: ws, PermSeed: seed, BatchSize: 4096})
		spans := g.spans
		size := func(w int) uint64 {
			if w+1 < len(spans) {
				return spans[w+1].start - spans[w].start
			}
			return g.n - spans[w].start
		}
		hits := make([]uint64, len(spans))
		b := g.get()
		var j uint64
		var idx [lane]uint64
		for _, frac := range []float64{0.001, 0.01, 0.1} {
			upto := uint64(frac * float64(g.n))
			for j < upto {
				c := min(upto-j, lane)
				g.perm.block(idx[:c], j, 1)
				for _, x := range idx[:c] {
					i, _ := slices.BinarySearchFunc(spans, x, func(s span, x uint64) int {
						if s.start > x {
							return 1
						}
						return -1
					})
					hits[i-1]++
				}
				j += c
			}
			var chi float64
			for w := range spans {
				exp := float64(upto) * float64(size(w)) / float64(g.n)
				d := float64(hits[w]) - exp
				chi += d * d / exp
			}
			bound := chiSquareBound(float64(len(spans) - 1))
			t.Logf("seed %d, first %g%% (%d targets): chi-square %.0f, bound %.0f", seed, 100*frac, upto, chi, bound)
			if chi > bound {
				t.Errorf("seed %d, first %g%%: chi-square %.0f over %d windows exceeds %.0f", seed, 100*frac, chi, len(spans), bound)
			}
		}
		g.Put(b)
	}
}

func TestResumeContinuesExactly(t *testing.T) {
	r := testutil.Rand(t)
	bl := testbedBlocklist(t, "2001:db8:0:5::1/128", "2001:db8:0:9::/126")
	for _, tc := range []struct {
		name          string
		workers       int
		shard         Shard
		stopAfter     int // batches handled before the stop
		partial       bool
		maxTargets    uint64
		batchSize     int
		resumeWorkers int
	}{
		{"one worker, stopped between batches", 1, Shard{}, 3, false, 0, 10, 1},
		{"three workers, stopped in the middle of a batch", 3, Shard{}, 5, true, 0, 7, 2},
		{"a shard with a cap, resumed with more workers", 2, Shard{Index: 1, Count: 3}, 2, true, 100, 9, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Windows: mustWindows(t, "2001:db8::/56-64"), Blocklist: bl, IID: IID{Count: 3},
				PermSeed: r.Uint64(), Shard: tc.shard, Workers: tc.workers, BatchSize: tc.batchSize, MaxTargets: tc.maxTargets}
			// The whole sequence, in order, for comparison.
			full := collect(t, mustNew(t, Config{Windows: cfg.Windows, Blocklist: bl, IID: cfg.IID, PermSeed: cfg.PermSeed,
				Shard: cfg.Shard, Workers: 1, MaxTargets: cfg.MaxTargets}))

			g := mustNew(t, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			out := make(chan *Batch)
			errc := make(chan error, 1)
			go func() { errc <- g.Generate(ctx, out) }()
			var got [][16]byte
			var checkpoint uint64
			for k := range tc.stopAfter {
				b := <-out
				n := len(b.Targets)
				if tc.partial && k == tc.stopAfter-1 {
					n = r.IntN(n + 1)
				}
				got = append(got, b.Targets[:n]...)
				checkpoint = b.Resume(n)
				g.Put(b)
			}
			cancel()
			for b := range out {
				g.Put(b)
			}
			<-errc

			cfg.Start = checkpoint
			cfg.Workers = tc.resumeWorkers
			g2 := mustNew(t, cfg)
			if g2.Count() != g.End()-checkpoint {
				t.Errorf("resumed Count %d, want %d", g2.Count(), g.End()-checkpoint)
			}
			got = append(got, collect(t, g2)...)
			if !slices.Equal(got, full) {
				t.Fatalf("stopped at %d and resumed: %d targets, want the %d of one run in the same order", checkpoint, len(got), len(full))
			}
		})
	}
}

func TestGenerateOrderDoesNotDependOnWorkers(t *testing.T) {
	cfg := Config{Windows: mustWindows(t, "2001:db8::/54-64"), Blocklist: testbedBlocklist(t), IID: IID{Count: 2}, PermSeed: 3, BatchSize: 13}
	var first [][16]byte
	for _, w := range []int{1, 2, 3, 8} {
		cfg.Workers = w
		got := collect(t, mustNew(t, cfg))
		if first == nil {
			first = got
		} else if !slices.Equal(got, first) {
			t.Errorf("%d workers: a different order", w)
		}
	}
}

// TestShardsPartitionTheLargestSpace samples the index space of 2^64 - 1
// targets: every sampled index is visited by exactly one shard, at the
// position the inverse permutation names.
func TestShardsPartitionTheLargestSpace(t *testing.T) {
	r := testutil.Rand(t)
	bl := testbedBlocklist(t)
	var ws []prefixes.Window
	for b := range 64 {
		a := netip.MustParseAddr("2a00::").As16()
		a[5] = byte(b)
		ws = append(ws, prefixes.Window{Prefix: netip.PrefixFrom(netip.AddrFrom16(a), 48), End: 48 + b})
	}
	for _, count := range []uint64{1, 2, 7, 1000} {
		seed := r.Uint64()
		shards := make([]*Generator, count)
		var total uint64
		for i := range count {
			shards[i] = mustNew(t, Config{Windows: ws, Blocklist: bl, PermSeed: seed, Shard: Shard{Index: i, Count: count}})
			total += shards[i].Count()
		}
		if total != math.MaxUint64 {
			t.Fatalf("%d shards: counts sum to %d, want 2^64-1", count, total)
		}
		for range 2000 {
			idx := r.Uint64N(math.MaxUint64)
			pos := shards[0].Perm().Inverse(idx)
			s, j := pos%count, pos/count
			g := shards[s]
			if j >= g.End() {
				t.Fatalf("index %d: position %d of shard %d past its end %d", idx, j, s, g.End())
			}
			a, _ := g.Target(pos)
			if want := g.Candidate(idx); a != want {
				t.Fatalf("index %d: shard %d position %d gives %s, want %s", idx, s, j, addr(a), addr(want))
			}
			b := g.get()
			g.fill(b, j, j+1)
			if len(b.Targets) != 1 || b.Targets[0] != a {
				t.Fatalf("index %d: fill of shard %d position %d = %v", idx, s, j, b.Targets)
			}
			g.Put(b)
		}
	}
}
