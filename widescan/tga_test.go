package widescan_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"go4.org/netipx"

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/internal/testbed"
	"github.com/p2pnet/widescan/internal/testutil"
	"github.com/p2pnet/widescan/prefixes"
	"github.com/p2pnet/widescan/widescan"
)

// testbedOnly is an opt-out blocklist that holds everything but the
// testbed's documentation prefixes, less its infrastructure /32: a TGA
// varies every nybble of its seeds, so without it a scan from seeds in
// 2001:db8::/32 would also probe 2001:db9::/32 and beyond.
func testbedOnly(t testing.TB) []netip.Prefix {
	t.Helper()
	var b netipx.IPSetBuilder
	b.AddPrefix(netip.MustParsePrefix("::/0"))
	for _, p := range testbed.Allowed {
		b.RemovePrefix(p)
	}
	b.AddPrefix(testbed.Infra)
	set, err := b.IPSet()
	if err != nil {
		t.Fatal(err)
	}
	return set.Prefixes()
}

// newTGA builds a TGA from seeds with the blocklist of a scan that lifts
// docPrefixes and adds extra.
func newTGA(t testing.TB, extra []netip.Prefix, seeds ...netip.Addr) *generator.TGA {
	t.Helper()
	bl, err := prefixes.NewBlocklist(extra, docPrefixes)
	if err != nil {
		t.Fatal(err)
	}
	tga, err := generator.NewTGA(seeds, generator.TGAConfig{Blocklist: bl})
	if err != nil {
		t.Fatal(err)
	}
	return tga
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestTGAConfigsThatCannotWork(t *testing.T) {
	tga := newTGA(t, testbedOnly(t), addrs("2001:db8:1::1", "2001:db8:1:1::1", "2001:db8:1:2::1")...)
	list, err := generator.NewTargetList(addrs("2001:db8::1"))
	if err != nil {
		t.Fatal(err)
	}
	base := func(mod func(*widescan.Config)) widescan.Config {
		c := widescan.Config{TGA: tga, Budget: 100, Unblock: docPrefixes}
		mod(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  widescan.Config
	}{
		{"a TGA without a budget", base(func(c *widescan.Config) { c.Budget = 0 })},
		{"a budget without a TGA", widescan.Config{Targets: windows(t, "2001:db8::/48"), Unblock: docPrefixes, Budget: 100}},
		{"a TGA beside windows", base(func(c *widescan.Config) { c.Targets = windows(t, "2001:db8::/48") })},
		{"a TGA beside patterns", base(func(c *widescan.Config) {
			p, err := generator.ParsePattern("2001:db8::*")
			if err != nil {
				t.Fatal(err)
			}
			c.Patterns = []generator.Pattern{p}
		})},
		{"a TGA beside a target list", base(func(c *widescan.Config) { c.List = list })},
		{"a TGA scan resumed", base(func(c *widescan.Config) { c.Start = 10 })},
		{"a TGA scan sharded", base(func(c *widescan.Config) { c.Shard = generator.Shard{Index: 0, Count: 2} })},
		{"a TGA scan with a target cap", base(func(c *widescan.Config) { c.MaxTargets = 10 })},
		{"a TGA scan on the GPU", base(func(c *widescan.Config) { c.Backend = generator.BackendGPU })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); err == nil {
				t.Fatal("Validate accepted the config")
			} else {
				t.Log(err)
			}
			if _, err := widescan.New(tt.cfg); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
	for _, c := range []widescan.Config{
		base(func(*widescan.Config) {}),
		base(func(c *widescan.Config) { c.Backend = generator.BackendAuto }),
		base(func(c *widescan.Config) { c.Shard = generator.Shard{Index: 0, Count: 1} }),
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate refused a usable TGA config (backend %s, shard %+v): %v", c.Backend, c.Shard, err)
		}
	}
}

// TestTGADryRunProbesBudgetCandidatesNoSeedNoBlocked checks what a TGA scan
// sends, from the probes a dry run writes: Budget distinct candidates, no
// seed, none in the scanner's blocklist even where the TGA was built with
// another one (those are dropped and counted), all on the CPU.
func TestTGADryRunProbesBudgetCandidatesNoSeedNoBlocked(t *testing.T) {
	seeds := addrs("2001:db8:1::1", "2001:db8:1:1::1", "2001:db8:1:2::1", "2001:db8:1:3::1",
		"2001:db8:1::2", "2001:db8:1:1::2", "2001:db8:1:2::53")
	tga := newTGA(t, testbedOnly(t), seeds...)
	// The scanner also blocks 2001:db8:1:8::/61, which the TGA does not know.
	optOut := netip.MustParsePrefix("2001:db8:1:8::/61")
	const budget = 1000
	var pcap bytes.Buffer
	s, err := widescan.New(widescan.Config{
		TGA:       tga,
		Budget:    budget,
		Backend:   generator.BackendAuto,
		Unblock:   docPrefixes,
		Blocklist: append(testbedOnly(t), optOut),
		SourceIP:  netip.MustParseAddr("2001:db8::1"),
		DryRun:    &pcap,
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Targets() != budget || s.Windows() != nil {
		t.Errorf("Targets()=%d Windows()=%v, want the budget %d and no windows", s.Targets(), s.Windows(), budget)
	}
	st, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: generated=%d sent=%d blocked=%d rounds=%d", st.Generated, st.Sent, st.Blocked, st.TGARounds)
	// Candidates in the scanner's blocklist are skipped by the run and
	// cost no budget.
	if st.Generated != budget || st.Sent != budget || st.Blocked == 0 {
		t.Errorf("generated=%d sent=%d blocked=%d, want %d generated and sent, some skipped as blocked", st.Generated, st.Sent, st.Blocked, budget)
	}
	if st.Backend != "cpu" || st.BackendNote != widescan.TGABackendNote {
		t.Errorf("backend %q, note %q; want cpu and %q", st.Backend, st.BackendNote, widescan.TGABackendNote)
	}
	if st.TGARounds == 0 || st.TGAHits != 0 {
		t.Errorf("rounds=%d hits=%d: want re-rankings and, in a dry run, no hits", st.TGARounds, st.TGAHits)
	}
	isSeed := map[netip.Addr]bool{}
	for _, a := range seeds {
		isSeed[a] = true
	}
	seen := map[netip.Addr]bool{}
	probed := pcapTargets(t, pcap.Bytes())
	for _, a := range probed {
		switch {
		case isSeed[a]:
			t.Errorf("seed %s probed", a)
		case seen[a]:
			t.Errorf("%s probed twice", a)
		case optOut.Contains(a):
			t.Errorf("%s probed inside the scanner's blocklist", a)
		case !docPrefixes[0].Contains(a) && !docPrefixes[1].Contains(a):
			t.Errorf("%s probed outside the documentation prefixes", a)
		}
		seen[a] = true
	}
	if uint64(len(probed)) != st.Sent {
		t.Errorf("pcap holds %d probes, Stats.Sent=%d", len(probed), st.Sent)
	}
}

// TestTGAScanFeedsHitsBackInTheTestbed is the end-to-end tier of a
// seed-driven scan: hosts planted in a pattern, a subset of them as seeds,
// live feedback from the kernel's Echo Replies.
func TestTGAScanFeedsHitsBackInTheTestbed(t *testing.T) {
	testutil.RequirePriv(t)
	// ::1 in the /64s 2001:db8:1:N::/64, N = 0..15: N = 0..3 are seeds,
	// the others one nybble from them.
	var seeds, planted []netip.Addr
	for n := range 16 {
		a := netip.MustParseAddr(fmt.Sprintf("2001:db8:1:%x::1", n))
		planted = append(planted, a)
		if n < 4 {
			seeds = append(seeds, a)
		}
	}
	// ::2 beside two seeds (one a seed itself, one found by the low-byte
	// and line groups) and a ::K host in a seed /64.
	seeds = append(seeds, netip.MustParseAddr("2001:db8:1:0::2"))
	planted = append(planted, addrs("2001:db8:1:0::2", "2001:db8:1:1::2", "2001:db8:1:2::10")...)
	// ::3 beside four non-seeds: two nybbles from every seed, so only the
	// groups the run spawns around the hits on 2001:db8:1:N::1 reach them.
	spawnOnly := addrs("2001:db8:1:8::3", "2001:db8:1:9::3", "2001:db8:1:a::3", "2001:db8:1:b::3")
	planted = append(planted, spawnOnly...)
	// Seeds in the AnyIP prefix, which is known to be aliased: the run
	// must spend nothing there.
	anyIP := netip.MustParsePrefix("3fff:100::/48")
	seeds = append(seeds, addrs("3fff:100::1", "3fff:100::2")...)

	isSeed, isPlanted := map[netip.Addr]bool{}, map[netip.Addr]bool{}
	for _, a := range seeds {
		isSeed[a] = true
	}
	for _, a := range planted {
		isPlanted[a] = true
	}
	name := fmt.Sprintf("wst%d", os.Getpid()%100000)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tb, err := testbed.Up(ctx, testbed.Config{Name: name, Planted: planted, AnyIP: []netip.Prefix{anyIP}})
	t.Cleanup(func() {
		if err := testbed.Down(context.Background(), name); err != nil {
			t.Errorf("testbed down: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	const budget = 2000
	tga := newTGA(t, testbedOnly(t), seeds...)
	// Without feedback the TGA never reaches the spawn-only hosts.
	static, _ := tga.Generate(budget)
	for _, c := range static {
		if a := netip.AddrFrom16(c); slices.Contains(spawnOnly, a) {
			t.Fatalf("the TGA emits %s without feedback: the test proves nothing", a)
		}
	}
	var mu sync.Mutex
	got := map[netip.Addr]widescan.Hit{}
	cfg := widescan.Config{
		TGA:       tga,
		Budget:    budget,
		TGASpawn:  true,
		Unblock:   docPrefixes,
		Blocklist: testbedOnly(t),
		Aliased:   []netip.Prefix{anyIP},
		// The online alias test holds every hit until after the send
		// phase; the feedback must not wait for it. It tests the /64s of
		// the spawn-only hosts (two hits each), which are not aliased.
		AliasCheck: 2,
		Interface:  tb.ScanIface,
		Rate:       4000, // 2,000 candidates in half a second
		Cooldown:   time.Second,
		OnHit: func(h widescan.Hit) {
			mu.Lock()
			defer mu.Unlock()
			got[h.Target] = h
		},
	}
	st := mustScanIn(t, ctx, tb.ScannerNS, cfg)
	t.Logf("stats: sent=%d hits=%d tga_hits=%d rounds=%d spawned=%d excluded=%d blocked=%d alias_tested=%d",
		st.Sent, st.Hits, st.TGAHits, st.TGARounds, st.TGASpawned, st.TGAExcluded, st.Blocked, st.AliasTested)
	var found []netip.Addr
	for a, h := range got {
		switch {
		case isSeed[a]:
			t.Errorf("seed %s probed (it answered)", a)
		case anyIP.Contains(a):
			t.Errorf("hit %s in the aliased prefix, excluded from the run", a)
		case !isPlanted[a]:
			t.Errorf("hit %s is not a planted host", a)
		case !h.Success() || h.Responder != a:
			t.Errorf("hit %s: type %d from %s, want an Echo Reply from the target", a, h.Type, h.Responder)
		default:
			found = append(found, a)
		}
	}
	var nonSeeds int
	for _, a := range planted {
		if !isSeed[a] {
			nonSeeds++
		}
	}
	t.Logf("found %d of %d planted non-seeds: %v", len(found), nonSeeds, found)
	for n := 4; n < 16; n++ {
		if a := netip.MustParseAddr(fmt.Sprintf("2001:db8:1:%x::1", n)); got[a] == (widescan.Hit{}) {
			t.Errorf("planted %s, one nybble from the seeds, not found", a)
		}
	}
	var spawned int
	for _, a := range spawnOnly {
		if _, ok := got[a]; ok {
			spawned++
		}
	}
	if spawned == 0 {
		t.Errorf("none of %v found: the hits did not grow new candidates", spawnOnly)
	}
	if st.TGAHits == 0 || st.TGAHits != uint64(len(found)) {
		t.Errorf("the run took %d hits as feedback; %d planted hosts answered", st.TGAHits, len(found))
	}
	if st.TGASpawned == 0 || st.TGARounds < 2 {
		t.Errorf("spawned=%d rounds=%d: the run did not re-rank and grow around its hits", st.TGASpawned, st.TGARounds)
	}
	if st.TGAExcluded == 0 {
		t.Error("no candidate in the aliased prefix was skipped")
	}
	if st.Sent != st.Generated || st.Sent > budget || st.Sent < budget/2 {
		t.Errorf("sent %d of %d generated, budget %d", st.Sent, st.Generated, budget)
	}
	if st.AliasTested < uint64(spawned) || st.AliasFound != 0 || st.AliasedHits != 0 {
		t.Errorf("alias_tested=%d alias_found=%d aliased_hits=%d: want the /64s with two hits tested, none aliased",
			st.AliasTested, st.AliasFound, st.AliasedHits)
	}
	if st.Invalid != 0 || st.KernelDrops != 0 {
		t.Errorf("invalid=%d kernel_drops=%d, want 0", st.Invalid, st.KernelDrops)
	}
}
