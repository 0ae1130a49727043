//go:build cgo

package kernels_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/internal/testutil"
	"github.com/p2pnet/widescan/kernels"
	"github.com/p2pnet/widescan/kernels/internal/hostcheck"
	"github.com/p2pnet/widescan/prefixes"
)

// windowSet is a list of windows and the blocklist they are scanned with.
type windowSet struct {
	name    string
	windows []string
	lift    bool     // lift the documentation prefixes, as the testbed does
	block   []string // extra blocked prefixes
}

func hostcheckSets(r *rand.Rand) []windowSet {
	// Many small windows of different sizes: a window table with several
	// starts per bucket.
	var many []string
	seen := map[uint16]bool{}
	for len(many) < 300 {
		w := uint16(r.Uint32())
		if seen[w] {
			continue
		}
		seen[w] = true
		many = append(many, fmt.Sprintf("2001:db8:%x::/48-%d", w, 48+r.IntN(17)))
	}
	return []windowSet{
		{name: "one window of 2^32 subnets", windows: []string{"2001:db8::/32-64"}, lift: true},
		{name: "windows of mixed sizes", windows: []string{
			"2001:db8::/48-64", "3fff:100::/40-56", "2001:db8:ff00::/40-48", "3fff:800::/24-30",
		}, lift: true},
		{name: "300 windows", windows: many, lift: true},
		{name: "single addresses and few host bits", windows: []string{
			"2001:db8::1/128", "2001:db8:1::/116-124", "2001:db8:2::/100-120", "2001:db8:3::/128",
		}, lift: true},
		{name: "one subnet", windows: []string{"2001:db8:7::/64-64"}, lift: true},
		{name: "global unicast to /66", windows: []string{"2000::/3-66"}},
		{name: "all of the space to /64 less the blocklist", windows: []string{"::/0-64"}},
		{name: "partly blocked subnets", windows: []string{"2001:db8::/40-64"}, lift: true,
			block: []string{"2001:db8:0:1::1/128", "2001:db8:0:2::/65", "2001:db8:0:3:8000::/68"}},
	}
}

func (s windowSet) config(t *testing.T) generator.Config {
	t.Helper()
	var ws []prefixes.Window
	for _, x := range s.windows {
		w, err := prefixes.ParseWindow(x, 0)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	var lift, extra []netip.Prefix
	if s.lift {
		lift = []netip.Prefix{netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("3fff::/20")}
	}
	for _, x := range s.block {
		extra = append(extra, netip.MustParsePrefix(x))
	}
	bl, err := prefixes.NewBlocklist(extra, lift)
	if err != nil {
		t.Fatal(err)
	}
	return generator.Config{Windows: ws, Blocklist: bl}
}

var hostcheckIIDs = []string{"low:1", "low:5", "fixed:::7", "fixed:::dead:beef:0:1", "random"}

// TestHeaderMatchesGenerator compiles widescan_gen.h with the host C
// compiler and checks every target it computes against
// generator.Generator.Target, bit for bit: windows of every shape, every IID
// mode, random seeds, shards and resume positions, more than 10^6 targets
// in all.
func TestHeaderMatchesGenerator(t *testing.T) {
	r := testutil.Rand(t)
	const perConfig = 20000
	var compared, configs int
	for _, set := range hostcheckSets(r) {
		for _, iidText := range hostcheckIIDs {
			iid, err := generator.ParseIID(iidText)
			if err != nil {
				t.Fatal(err)
			}
			for _, shard := range []generator.Shard{{}, {Index: 2, Count: 7}, {Index: r.Uint64N(64), Count: 64}} {
				name := fmt.Sprintf("%s/%s/shard %d of %d", set.name, iidText, shard.Index, shard.Count)
				cfg := set.config(t)
				cfg.IID, cfg.Shard, cfg.PermSeed = iid, shard, r.Uint64()
				g, err := generator.New(cfg)
				if errors.Is(err, generator.ErrIIDFit) || errors.Is(err, generator.ErrTooLarge) {
					continue // this IID does not fit these windows; other sets cover the mode
				}
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if g.End() == 0 {
					continue
				}
				// Resume from a random position, near the end once in a while.
				start := r.Uint64N(g.End())
				if r.IntN(4) == 0 {
					start = g.End() - min(g.End(), uint64(r.IntN(perConfig)))
				}
				cfg.Start = start
				if g, err = generator.New(cfg); err != nil {
					t.Fatal(err)
				}
				compared += compareRange(t, name, g, cfg.Shard, start, min(g.End()-start, perConfig))
				configs++
			}
		}
	}
	t.Logf("%d targets compared over %d configurations", compared, configs)
	if compared < 1_000_000 && !testing.Short() {
		t.Fatalf("only %d targets compared, want at least 10^6", compared)
	}
}

// loadPlan encodes g's plan and loads it into the host-compiled header, as
// the worker hands it to the kernel.
func loadPlan(t *testing.T, name string, g *generator.Generator) (*kernels.Plan, *hostcheck.Plan) {
	t.Helper()
	plan, err := g.Plan()
	if err != nil {
		t.Fatalf("%s: plan: %v", name, err)
	}
	enc, err := plan.MarshalBinary()
	if err != nil {
		t.Fatalf("%s: encode plan: %v", name, err)
	}
	p, err := hostcheck.Load(enc)
	if err != nil {
		t.Fatalf("%s: load plan: %v", name, err)
	}
	return plan, p
}

// compareRange fills shard positions [start, start+n) of g's plan with the
// header and compares each with g.Target. It returns n.
func compareRange(t *testing.T, name string, g *generator.Generator, shard generator.Shard, start, n uint64) int {
	t.Helper()
	_, p := loadPlan(t, name, g)
	got := make([][16]byte, n)
	p.Fill(start, got)
	count := max(shard.Count, 1)
	for i := range got {
		j := start + uint64(i)
		want, _ := g.Target(shard.Index + count*j)
		if got[i] != want {
			t.Fatalf("%s: shard position %d (seed position %d): header %s, generator %s",
				name, j, shard.Index+count*j, netip.AddrFrom16(got[i]), netip.AddrFrom16(want))
		}
	}
	return len(got)
}

// TestHeaderPermAndCandidate checks wsg_perm_at and wsg_candidate on their
// own against Perm.At and Generator.Candidate, at random indices and at
// every window's first and last index.
func TestHeaderPermAndCandidate(t *testing.T) {
	r := testutil.Rand(t)
	for _, set := range hostcheckSets(r) {
		for _, iidText := range hostcheckIIDs {
			cfg := set.config(t)
			cfg.IID, _ = generator.ParseIID(iidText)
			cfg.PermSeed = r.Uint64()
			g, err := generator.New(cfg)
			if err != nil {
				continue
			}
			plan, p := loadPlan(t, set.name, g)
			idx := []uint64{0, g.Size() - 1}
			for _, s := range plan.Spans {
				idx = append(idx, s.Start, max(s.Start, 1)-1)
			}
			for range 2000 {
				idx = append(idx, r.Uint64N(g.Size()))
			}
			for _, i := range idx {
				if got, want := p.PermAt(i), g.Perm().At(i); got != want {
					t.Fatalf("%s/%s: PermAt(%d) = %d, Perm.At %d", set.name, iidText, i, got, want)
				}
				if got, want := p.Candidate(i), g.Candidate(i); got != want {
					t.Fatalf("%s/%s: Candidate(%d) = %s, generator %s", set.name, iidText, i,
						netip.AddrFrom16(got), netip.AddrFrom16(want))
				}
			}
		}
	}
}

// TestHeaderMatchesGenerate checks the header against the batches Generate
// sends: the header's candidates, less the blocked ones, in order.
func TestHeaderMatchesGenerate(t *testing.T) {
	r := testutil.Rand(t)
	for _, set := range hostcheckSets(r) {
		for _, iidText := range hostcheckIIDs {
			cfg := set.config(t)
			cfg.IID, _ = generator.ParseIID(iidText)
			cfg.PermSeed = r.Uint64()
			cfg.Shard = generator.Shard{Index: 1, Count: 3}
			cfg.Workers, cfg.BatchSize = 3, 512
			g, err := generator.New(cfg)
			if err != nil || g.End() == 0 {
				continue // the IID does not fit, or the shard is empty
			}
			cfg.Start = r.Uint64N(g.End())
			cfg.MaxTargets = min(g.End(), cfg.Start+5000)
			if g, err = generator.New(cfg); err != nil {
				t.Fatal(err)
			}
			_, p := loadPlan(t, set.name, g)
			all := make([][16]byte, g.Count())
			p.Fill(cfg.Start, all)
			var want [][16]byte
			for i, a := range all {
				if _, ok := g.Target(cfg.Shard.Index + cfg.Shard.Count*(cfg.Start+uint64(i))); ok {
					want = append(want, a)
				}
			}
			out := make(chan *generator.Batch, 4)
			errc := make(chan error, 1)
			go func() { errc <- g.Generate(context.Background(), out) }()
			var got [][16]byte
			for b := range out {
				got = append(got, b.Targets...)
				g.Put(b)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%s/%s: Generate sent %d targets, header %d unblocked", set.name, iidText, len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s/%s: target %d: Generate %s, header %s", set.name, iidText, i,
						netip.AddrFrom16(got[i]), netip.AddrFrom16(want[i]))
				}
			}
		}
	}
}
