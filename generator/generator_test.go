package generator

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/p2pnet/widescan/internal/testutil"
	"github.com/p2pnet/widescan/prefixes"
)

// collect runs Generate to the end and returns every target it sent.
func collect(t testing.TB, g *Generator) [][16]byte {
	t.Helper()
	out := make(chan *Batch, 4)
	errc := make(chan error, 1)
	go func() { errc <- g.Generate(context.Background(), out) }()
	var all [][16]byte
	for b := range out {
		if len(b.Targets) == 0 || len(b.Targets) > g.batchSize {
			t.Errorf("batch of %d targets, batch size %d", len(b.Targets), g.batchSize)
		}
		all = append(all, b.Targets...)
		g.Put(b)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return all
}

func sortAddrs(as [][16]byte) {
	slices.SortFunc(as, func(a, b [16]byte) int { return addr(a).Compare(addr(b)) })
}

func TestShardsAreDisjointAndComplete(t *testing.T) {
	bl := testbedBlocklist(t)
	windows := mustWindows(t, "2001:db8::/120-124", "2001:db8:1::/126-128", "3fff:1::/64-66")
	for _, tc := range []struct {
		name      string
		iid       IID
		shards    uint64
		workers   int
		batchSize int
	}{
		{"one shard and one worker", IID{}, 1, 1, 0},
		{"one shard and many workers in small batches", IID{Mode: IIDLow, Count: 3}, 1, 5, 7},
		{"two shards and two workers", IID{Mode: IIDRandom}, 2, 2, 3},
		{"three shards and three workers", IID{Mode: IIDLow, Count: 5}, 3, 3, 1},
		{"seven shards and more workers than targets", IID{Mode: IIDFixed, Suffix: [16]byte{15: 9}}, 7, 64, 2},
		{"more shards than targets", IID{}, 100, 2, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want [][16]byte
			var all [][16]byte
			var total uint64
			for s := range tc.shards {
				g := mustNew(t, Config{Windows: windows, Blocklist: bl, IID: tc.iid, PermSeed: 99,
					Shard: Shard{Index: s, Count: tc.shards}, Workers: tc.workers, BatchSize: tc.batchSize})
				if s == 0 {
					for i := range g.Size() {
						want = append(want, g.Candidate(i))
					}
				}
				got := collect(t, g)
				if uint64(len(got)) != g.Count() || g.Blocked() != 0 {
					t.Errorf("shard %d: %d targets, Count %d, Blocked %d", s, len(got), g.Count(), g.Blocked())
				}
				// The shard's targets are exactly Target(p) for p ≡ s (mod shards).
				var byPos [][16]byte
				for p := s; p < g.Size(); p += tc.shards {
					a, ok := g.Target(p)
					if !ok {
						t.Fatalf("Target(%d) blocked", p)
					}
					byPos = append(byPos, a)
				}
				sortAddrs(got)
				sortAddrs(byPos)
				if !slices.Equal(got, byPos) {
					t.Errorf("shard %d: generated targets differ from Target(p) for its positions", s)
				}
				all = append(all, got...)
				total += g.Count()
			}
			sortAddrs(all)
			sortAddrs(want)
			if !slices.Equal(all, want) {
				t.Fatalf("union of shards: %d targets, want the %d candidates once each", len(all), len(want))
			}
			if total != uint64(len(want)) {
				t.Errorf("shard counts sum to %d, want %d", total, len(want))
			}
		})
	}
}

func TestIndexSpaceHasTheDocumentedSize(t *testing.T) {
	bl := testbedBlocklist(t)
	windows := mustWindows(t, "2001:db8::/120-124", "2001:db8:1::/126-128", "3fff:1::/64-66")
	g := mustNew(t, Config{Windows: windows, Blocklist: bl, IID: IID{Mode: IIDLow, Count: 3}})
	// 16 subnets × 3 + 4 single addresses + 4 subnets × 3.
	if got, want := g.Size(), uint64(16*3+4+4*3); got != want {
		t.Errorf("Size = %d, want %d", got, want)
	}
	if got := len(g.Windows()); got != 3 {
		t.Errorf("%d windows, want 3: %v", got, g.Windows())
	}
}

func TestMaxTargetsCapsEachShard(t *testing.T) {
	bl := testbedBlocklist(t)
	windows := mustWindows(t, "2001:db8::/112-120") // 256 subnets
	for _, tc := range []struct {
		name              string
		shards, maxT      uint64
		workers, wantEach int
	}{
		{"a cap below the shard size", 4, 10, 3, 10},
		{"a cap above the shard size", 4, 1000, 3, 64},
		{"a cap of one", 1, 1, 4, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[[16]byte]bool{}
			for s := range tc.shards {
				g := mustNew(t, Config{Windows: windows, Blocklist: bl, PermSeed: 5, MaxTargets: tc.maxT,
					Shard: Shard{Index: s, Count: tc.shards}, Workers: tc.workers, BatchSize: 3})
				got := collect(t, g)
				if len(got) != tc.wantEach || g.Count() != uint64(tc.wantEach) {
					t.Fatalf("shard %d: %d targets, Count %d, want %d", s, len(got), g.Count(), tc.wantEach)
				}
				// They are the shard's first positions.
				for j := range uint64(tc.wantEach) {
					a, _ := g.Target(s + j*tc.shards)
					if !slices.Contains(got, a) {
						t.Errorf("shard %d: position %d (%s) missing", s, j, addr(a))
					}
				}
				for _, a := range got {
					if seen[a] {
						t.Errorf("%s generated twice", addr(a))
					}
					seen[a] = true
				}
			}
		})
	}
}

// checkNeverBlocked generates everything and checks each target against the
// blocklist, and the blocked count against a count over all candidates.
func checkNeverBlocked(t *testing.T, cfg Config) (generated, blocked int) {
	t.Helper()
	g := mustNew(t, cfg)
	got := collect(t, g)
	for _, a := range got {
		if cfg.Blocklist.Contains(addr(a)) {
			t.Fatalf("blocked address %s generated", addr(a))
		}
	}
	var wantBlocked uint64
	for i := range g.Size() {
		if cfg.Blocklist.Contains(addr(g.Candidate(i))) {
			wantBlocked++
		}
	}
	if g.Blocked() != wantBlocked {
		t.Errorf("Blocked = %d, want %d", g.Blocked(), wantBlocked)
	}
	if uint64(len(got)) != g.Size()-wantBlocked {
		t.Errorf("%d targets, want %d", len(got), g.Size()-wantBlocked)
	}
	return len(got), int(wantBlocked)
}

func TestNoBlockedAddressIsEverGenerated(t *testing.T) {
	lift := func(extra []string, unblock ...string) *prefixes.Blocklist {
		var ex, un []netip.Prefix
		for _, s := range extra {
			ex = append(ex, netip.MustParsePrefix(s))
		}
		for _, s := range unblock {
			un = append(un, netip.MustParsePrefix(s))
		}
		bl, err := prefixes.NewBlocklist(ex, un)
		if err != nil {
			t.Fatal(err)
		}
		return bl
	}
	for _, tc := range []struct {
		name        string
		windows     []string
		bl          *prefixes.Blocklist
		iid         IID
		wantBlocked int // -1: any, but checked exactly against the blocklist
	}{
		{"2001::/16-32 with the benchmarking /48 lifted", []string{"2001::/16-32"},
			lift(nil, "2001:2::/48"), IID{Mode: IIDFixed, Suffix: netip.MustParseAddr("0:0:1::1").As16()}, 1},
		{"2001::/16-32 with random IIDs", []string{"2001::/16-32"},
			lift(nil, "2001:2::/48", "2001:db8::/32"), IID{Mode: IIDRandom}, -1},
		{"a /64 with one blocked /128", []string{"2a00:1450:4001:800::/64-64"},
			lift([]string{"2a00:1450:4001:800::5/128"}), IID{Mode: IIDLow, Count: 16}, 1},
		{"a /56 of /64s with blocked /128s and a /126", []string{"2a00:1450::/56-64"},
			lift([]string{"2a00:1450:0:7::1/128", "2a00:1450:0:9::4/126", "2a00:1450:0:ff::8/128"}),
			IID{Mode: IIDLow, Count: 8}, 1 + 4 + 1},
		{"a /64 of single addresses around a blocked /124", []string{"2a00:1450::/120-128"},
			lift([]string{"2a00:1450::10/124"}), IID{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, blocked := checkNeverBlocked(t, Config{Windows: mustWindows(t, tc.windows...), Blocklist: tc.bl,
				IID: tc.iid, PermSeed: 11, Workers: 2})
			if tc.wantBlocked >= 0 && blocked != tc.wantBlocked {
				t.Errorf("%d candidates blocked, want %d", blocked, tc.wantBlocked)
			}
		})
	}
}

func TestNoBlockedAddressIsEverGeneratedFromRandomBlocklists(t *testing.T) {
	r := testutil.Rand(t)
	for range 20 {
		base := netip.MustParseAddr("2a00:1450::").As16()
		var extra []netip.Prefix
		for range 1 + r.IntN(6) {
			a := base
			a[6], a[7] = byte(r.IntN(4)), byte(r.IntN(256))
			a[15] = byte(r.IntN(256))
			extra = append(extra, netip.PrefixFrom(netip.AddrFrom16(a), 100+r.IntN(29)).Masked())
		}
		bl, err := prefixes.NewBlocklist(extra, nil)
		if err != nil {
			t.Fatal(err)
		}
		iids := []IID{{Mode: IIDLow, Count: uint64(1 + r.IntN(4))}, {Mode: IIDRandom}}
		iid := iids[r.IntN(len(iids))]
		t.Logf("extra %v, %s", extra, iid)
		checkNeverBlocked(t, Config{Windows: mustWindows(t, "2a00:1450::/54-64"), Blocklist: bl,
			IID: iid, PermSeed: r.Uint64(), Workers: 1 + r.IntN(3), BatchSize: 1 + r.IntN(100)})
	}
}

func TestIIDModesFillTheHostBits(t *testing.T) {
	bl := testbedBlocklist(t)
	windows := mustWindows(t, "2001:db8::/62-64")
	subnets := []string{"2001:db8::", "2001:db8:0:1::", "2001:db8:0:2::", "2001:db8:0:3::"}
	t.Run("low:3 fills ::1 to ::3 of every subnet", func(t *testing.T) {
		got := collect(t, mustNew(t, Config{Windows: windows, Blocklist: bl, IID: IID{Mode: IIDLow, Count: 3}, PermSeed: 1}))
		var want [][16]byte
		for _, s := range subnets {
			for k := 1; k <= 3; k++ {
				want = append(want, netip.MustParseAddr(strings.TrimSuffix(s, ":")+":"+string(rune('0'+k))).As16())
			}
		}
		sortAddrs(got)
		sortAddrs(want)
		if !slices.Equal(got, want) {
			t.Errorf("got %v", got)
		}
	})
	t.Run("fixed fills the suffix", func(t *testing.T) {
		suffix := netip.MustParseAddr("::dead:beef:0:1")
		got := collect(t, mustNew(t, Config{Windows: windows, Blocklist: bl, IID: IID{Mode: IIDFixed, Suffix: suffix.As16()}}))
		var want [][16]byte
		for _, s := range subnets {
			a := netip.MustParseAddr(s).As16()
			copy(a[8:], suffix.AsSlice()[8:])
			want = append(want, a)
		}
		sortAddrs(got)
		sortAddrs(want)
		if !slices.Equal(got, want) {
			t.Errorf("got %v", got)
		}
	})
	t.Run("random is deterministic for a seed and stays in the host bits", func(t *testing.T) {
		ws := mustWindows(t, "2001:db8::/100-121")
		g1 := mustNew(t, Config{Windows: ws, Blocklist: bl, IID: IID{Mode: IIDRandom}, PermSeed: 3})
		g2 := mustNew(t, Config{Windows: ws, Blocklist: bl, IID: IID{Mode: IIDRandom}, PermSeed: 3})
		g3 := mustNew(t, Config{Windows: ws, Blocklist: bl, IID: IID{Mode: IIDRandom}, PermSeed: 4})
		differ := 0
		hosts := map[byte]bool{}
		for i := range g1.Size() {
			a, b, c := g1.Candidate(i), g2.Candidate(i), g3.Candidate(i)
			if a != b {
				t.Fatalf("index %d: %s then %s with the same seed", i, addr(a), addr(b))
			}
			if a != c {
				differ++
			}
			sub := ws[0].Subnet(i)
			if !sub.Contains(addr(a)) {
				t.Fatalf("index %d: %s outside subnet %s", i, addr(a), sub)
			}
			hosts[a[15]&0x7f] = true
		}
		if differ < int(g1.Size())*9/10 {
			t.Errorf("only %d of %d IIDs change with the seed", differ, g1.Size())
		}
		if len(hosts) < 100 {
			t.Errorf("only %d distinct values of 7 host bits", len(hosts))
		}
	})
	t.Run("single-address windows take no IID", func(t *testing.T) {
		got := collect(t, mustNew(t, Config{Windows: mustWindows(t, "2001:db8::10/127-128"), Blocklist: bl, IID: IID{Mode: IIDLow, Count: 5}}))
		sortAddrs(got)
		want := [][16]byte{netip.MustParseAddr("2001:db8::10").As16(), netip.MustParseAddr("2001:db8::11").As16()}
		if !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
}

func TestNewErrors(t *testing.T) {
	bl := testbedBlocklist(t)
	// 64 windows of 2^63, 2^62 … 2^0 subnets: exactly 2^64-1 targets.
	var maxWindows []prefixes.Window
	for b := range 64 {
		a := netip.MustParseAddr("2a00::").As16()
		a[5] = byte(b)
		maxWindows = append(maxWindows, prefixes.Window{Prefix: netip.PrefixFrom(netip.AddrFrom16(a), 48), End: 48 + b})
	}
	g, err := New(Config{Windows: maxWindows, Blocklist: bl})
	if err != nil || g.Size() != math.MaxUint64 {
		t.Fatalf("windows of 2^64-1 targets: Size %v, err %v", g, err)
	}
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantIs  error
		wantSub string
	}{
		{"a window of 2^64 subnets", Config{Windows: mustWindows(t, "2a00::/16-80")}, ErrTooLarge, "2a00::/16-80"},
		{"windows that sum to 2^64", Config{Windows: append(slices.Clone(maxWindows), mustWindows(t, "2a01::1")...)}, ErrTooLarge, "2a01::1/128-128"},
		{"2^63 subnets times two IIDs", Config{Windows: mustWindows(t, "2a00::/17-80"), IID: IID{Count: 2}}, ErrTooLarge, "2a00::/17-80"},
		{"low:300 in 8 host bits", Config{Windows: mustWindows(t, "2a00::/120-120"), IID: IID{Count: 300}}, ErrIIDFit, "2a00::/120-120"},
		{"low:256 in 8 host bits", Config{Windows: mustWindows(t, "2a00::/120-120"), IID: IID{Count: 256}}, ErrIIDFit, "2a00::/120-120"},
		{"a fixed suffix above the host bits", Config{Windows: mustWindows(t, "2a00::/64-64", "2a00:1::/112-120"),
			IID: IID{Mode: IIDFixed, Suffix: netip.MustParseAddr("::1:0").As16()}}, ErrIIDFit, "2a00:1::/112-120"},
		{"only blocked windows", Config{Windows: mustWindows(t, "fe80::/64-64", "ff02::/16-24")}, ErrEmpty, ""},
		{"no windows", Config{}, ErrEmpty, ""},
		{"a shard index past the count", Config{Windows: mustWindows(t, "2a00::/64"), Shard: Shard{Index: 3, Count: 3}}, nil, "shard 3 of 3"},
		{"negative workers", Config{Windows: mustWindows(t, "2a00::/64"), Workers: -1}, nil, "workers"},
		{"an unknown IID mode", Config{Windows: mustWindows(t, "2a00::/64"), IID: IID{Mode: 7}}, ErrIID, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.Blocklist == nil {
				tc.cfg.Blocklist = bl
			}
			_, err := New(tc.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %q is not %q", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantSub) {
				t.Errorf("error %q does not name %q", err, tc.wantSub)
			}
		})
	}
	// The largest IIDs that fit.
	for _, cfg := range []Config{
		{Windows: mustWindows(t, "2a00::/120-120"), IID: IID{Count: 255}},
		{Windows: mustWindows(t, "2a00::/120-120"), IID: IID{Mode: IIDFixed, Suffix: [16]byte{15: 0xff}}},
		{Windows: mustWindows(t, "2a00::/120-128"), IID: IID{Count: 1 << 40}},
	} {
		if _, err := New(cfg); err != nil {
			t.Errorf("%s in %v: %v", cfg.IID, cfg.Windows, err)
		}
	}
}

func TestNilBlocklistIsTheBuiltinList(t *testing.T) {
	_, err := New(Config{Windows: mustWindows(t, "2001:db8::/64")})
	if !errors.Is(err, ErrEmpty) {
		t.Errorf("documentation prefix with no blocklist: %v, want ErrEmpty", err)
	}
}

func TestGenerateStopsWhenCancelled(t *testing.T) {
	g := mustNew(t, Config{Windows: mustWindows(t, "2a00::/16-64"), PermSeed: 1, Workers: 4, BatchSize: 64})
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan *Batch, 1)
	errc := make(chan error, 1)
	go func() { errc <- g.Generate(ctx, out) }()
	for range 3 {
		g.Put(<-out)
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Generate returned %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Generate did not return after cancel")
	}
	for range out { // out is closed: this ends
	}
	if err := g.Generate(context.Background(), make(chan *Batch)); !errors.Is(err, ErrGenerated) {
		t.Errorf("second Generate: %v", err)
	}
}

func TestGenerateReturnsNilWhenDone(t *testing.T) {
	g := mustNew(t, Config{Windows: mustWindows(t, "2a00::/120-128"), Shard: Shard{Index: 1, Count: 2}})
	if n := len(collect(t, g)); n != 128 {
		t.Errorf("%d targets, want 128", n)
	}
}

func TestFillDoesNotAllocate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"low IIDs", Config{Windows: mustWindows(t, "2a00::/16-64", "2a01::/20-80"), IID: IID{Count: 4}}},
		{"random IIDs with a partly blocked subnet", Config{Windows: mustWindows(t, "2a00::/16-64"),
			Blocklist: testbedBlocklist(t, "2a00:0:0:1::/80"), IID: IID{Mode: IIDRandom}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := mustNew(t, tc.cfg)
			b := g.get()
			var j uint64
			size := uint64(g.batchSize)
			g.fill(b, j, j+size) // the dropped list grows once
			if a := testing.AllocsPerRun(100, func() {
				g.fill(b, j, j+size)
				j += size
			}); a != 0 {
				t.Errorf("fill allocates %v times per batch", a)
			}
			if len(b.Targets)+len(b.dropped) != g.batchSize {
				t.Errorf("batch of %d targets and %d dropped, want %d", len(b.Targets), len(b.dropped), g.batchSize)
			}
		})
	}
}

func TestTargetOutOfRangeIsNotOK(t *testing.T) {
	g := mustNew(t, Config{Windows: mustWindows(t, "2a00::/120-128")})
	if _, ok := g.Target(256); ok {
		t.Error("Target(Size()) ok")
	}
	if _, ok := g.Target(255); !ok {
		t.Error("Target(Size()-1) not ok")
	}
}

func TestShardValidate(t *testing.T) {
	for _, tc := range []struct {
		s  Shard
		ok bool
	}{
		{Shard{}, true}, {Shard{0, 1}, true}, {Shard{4, 5}, true},
		{Shard{1, 0}, false}, {Shard{5, 5}, false},
	} {
		if err := tc.s.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.s, err)
		}
	}
}

func TestGenerateSteadyStateAllocatesNothingPerBatch(t *testing.T) {
	g := mustNew(t, Config{Windows: mustWindows(t, "2a00::/16-64"), Workers: 2, BatchSize: 256, MaxTargets: 1 << 18})
	out := make(chan *Batch, 8)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	go g.Generate(context.Background(), out)
	batches := 0
	for b := range out {
		batches++
		g.Put(b)
	}
	runtime.ReadMemStats(&after)
	// Batches in flight (the channel, the workers, this loop) and the
	// goroutines are allocated once; 1024 batches pass.
	if n := after.Mallocs - before.Mallocs; n > 100 {
		t.Errorf("%d allocations for %d batches", n, batches)
	}
}
