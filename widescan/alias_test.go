package widescan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/p2pnet/widescan/internal/testbed"
	"github.com/p2pnet/widescan/internal/testutil"
	"github.com/p2pnet/widescan/widescan"
)

func TestAliasTargetsLieOneInEachNextNybbleSubprefix(t *testing.T) {
	rng := testutil.Rand(t)
	for _, s := range []string{"2001:db8:1:2::/64", "2001:db8::/32", "3fff::/20", "2001:db8::/61", "2001:db8::1:0/112", "2001:db8::/124", "::/0"} {
		p := netip.MustParsePrefix(s)
		seed := rng.Uint64()
		ts, err := widescan.AliasTargets(p, seed)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[netip.Addr]bool{}
		for i, a := range ts {
			sub := netip.PrefixFrom(a, p.Bits()+4).Masked()
			want := subprefix(p, i)
			if sub != want {
				t.Errorf("%s target %d = %s lies in %s, want %s", p, i, a, sub, want)
			}
			seen[a] = true
		}
		if len(seen) != widescan.AliasProbes {
			t.Errorf("%s: %d distinct targets", p, len(seen))
		}
		again, _ := widescan.AliasTargets(p, seed)
		if again != ts {
			t.Errorf("%s: the same seed gave other targets", p)
		}
		if other, _ := widescan.AliasTargets(p, seed+1); other == ts && p.Bits() < 124 {
			t.Errorf("%s: another seed gave the same targets", p)
		}
	}
	for _, s := range []string{"2001:db8::/125", "2001:db8::1/128", "192.0.2.0/24"} {
		if _, err := widescan.AliasTargets(netip.MustParsePrefix(s), 1); !errors.Is(err, widescan.ErrAliasPrefix) {
			t.Errorf("AliasTargets(%s) error %v, want ErrAliasPrefix", s, err)
		}
	}
	p := netip.MustParsePrefix("2001:db8:1:2::/64")
	if n := testing.AllocsPerRun(100, func() { _, _ = widescan.AliasTargets(p, 7) }); n != 0 {
		t.Errorf("AliasTargets allocates %.0f times", n)
	}
}

// subprefix returns the i-th next-nybble subprefix of p, computed bit by bit.
func subprefix(p netip.Prefix, i int) netip.Prefix {
	b := p.Masked().Addr().As16()
	for bit := range 4 {
		pos := p.Bits() + bit
		if i>>(3-bit)&1 == 1 {
			b[pos/8] |= 0x80 >> (pos % 8)
		}
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), p.Bits()+4)
}

func TestDetectAliasesRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	if _, _, err := widescan.DetectAliases(ctx, widescan.Config{}, nil); !errors.Is(err, widescan.ErrNoTargets) {
		t.Errorf("no prefixes: %v, want ErrNoTargets", err)
	}
	_, _, err := widescan.DetectAliases(ctx, widescan.Config{}, []netip.Prefix{netip.MustParsePrefix("2001:db8::/126")})
	if !errors.Is(err, widescan.ErrAliasPrefix) {
		t.Errorf("a /126: %v, want ErrAliasPrefix", err)
	}
	if _, err := widescan.New(widescan.Config{Targets: windows(t, "2001:db8::/64"), Unblock: docPrefixes, AliasCheck: -1}); err == nil {
		t.Error("a negative AliasCheck was accepted")
	}
}

func TestDetectAliasesDryRunWritesSixteenProbesPerPrefix(t *testing.T) {
	var pcap bytes.Buffer
	ps := []netip.Prefix{netip.MustParsePrefix("2001:db8:1:2::/64"), netip.MustParsePrefix("2001:db8:3::/48")}
	res, st, err := widescan.DetectAliases(context.Background(), widescan.Config{
		Unblock: docPrefixes, SourceIP: netip.MustParseAddr("2001:db8::1"), DryRun: &pcap, PermSeed: 9,
	}, ps)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2 * widescan.AliasProbes
	if st.Sent != n || pcap.Len() != 24+n*(16+104) {
		t.Errorf("sent %d probes in a %d-byte pcap, want %d", st.Sent, pcap.Len(), n)
	}
	for i, r := range res {
		if r.Prefix != ps[i] || r.Aliased || r.Answered != 0 {
			t.Errorf("dry-run result %v", r)
		}
		if want, _ := widescan.AliasTargets(ps[i], 9); r.Targets != want {
			t.Errorf("%s: targets are not AliasTargets(prefix, PermSeed)", ps[i])
		}
	}
}

// TestAliasDetectionInTheTestbed checks the alias test, the online check and
// the known-aliased list against an AnyIP prefix (aliased) next to planted
// hosts (not aliased).
func TestAliasDetectionInTheTestbed(t *testing.T) {
	testutil.RequirePriv(t)
	planted := []netip.Addr{netip.MustParseAddr("2001:db8:77:2::1")}
	for i := 1; i <= 6; i++ {
		planted = append(planted, netip.MustParseAddr(fmt.Sprintf("2001:db8:77:1::%x", i)))
	}
	name := fmt.Sprintf("wsa%d", os.Getpid()%100000)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tb, err := testbed.Up(ctx, testbed.Config{Name: name, Planted: planted, AnyIP: []netip.Prefix{netip.MustParsePrefix("3fff:100::/48")}})
	t.Cleanup(func() {
		if err := testbed.Down(context.Background(), name); err != nil {
			t.Errorf("testbed down: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	base := widescan.Config{Unblock: docPrefixes, Interface: tb.ScanIface, Rate: 20000, Cooldown: 300 * time.Millisecond}

	t.Run("the 16-probe test finds the AnyIP prefixes only", func(t *testing.T) {
		ps := []netip.Prefix{
			netip.MustParsePrefix("3fff:100:0:5::/64"),
			netip.MustParsePrefix("2001:db8:77:1::/64"),
			netip.MustParsePrefix("2001:db8:77:2::/64"),
			netip.MustParsePrefix("3fff:100::/48"),
			netip.MustParsePrefix("3fff:200::/64"),
		}
		want := []bool{true, false, false, true, false}
		var res []widescan.AliasResult
		var st widescan.Stats
		err := tb.Do(tb.ScannerNS, func() (err error) {
			res, st, err = widescan.DetectAliases(ctx, base, ps)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			t.Log(r)
			if r.Prefix != ps[i] || r.Aliased != want[i] {
				t.Errorf("%s: aliased=%v (%d/16), want %v", ps[i], r.Aliased, r.Answered, want[i])
			}
			if want[i] && r.AnsweredMask != 0xffff || !want[i] && r.Answered != 0 {
				t.Errorf("%s: answered mask %016b", ps[i], r.AnsweredMask)
			}
		}
		if st.Sent != uint64(len(ps)*widescan.AliasProbes) {
			t.Errorf("sent %d probes, want %d", st.Sent, len(ps)*widescan.AliasProbes)
		}
	})

	t.Run("a scan reports hits of aliased prefixes apart", func(t *testing.T) {
		cfg := base
		// 256 addresses around 6 planted hosts, 16 addresses of an AnyIP
		// /64 (tested online) and 4 of another AnyIP /64 (on the known
		// list).
		cfg.Targets = windows(t, "2001:db8:77:1::/120-128", "3fff:100:0:1::/124-128", "3fff:100:0:2::/126-128")
		cfg.Aliased = []netip.Prefix{netip.MustParsePrefix("3fff:100:0:2::/64")}
		cfg.AliasCheck = widescan.DefaultAliasThreshold
		var mu sync.Mutex
		got := map[netip.Addr]bool{}
		cfg.OnHit = func(h widescan.Hit) {
			mu.Lock()
			defer mu.Unlock()
			got[h.Target] = h.Aliased
		}
		st := mustScanIn(t, ctx, tb.ScannerNS, cfg)
		t.Logf("stats: hits=%d aliased=%d tested=%d found=%d alias_sent=%d", st.Hits, st.AliasedHits, st.AliasTested, st.AliasFound, st.AliasSent)
		anyip := netip.MustParsePrefix("3fff:100::/48")
		var real, aliased int
		for a, al := range got {
			if al != anyip.Contains(a) {
				t.Errorf("hit %s aliased=%v", a, al)
			}
			if al {
				aliased++
			} else {
				real++
			}
		}
		if real != 6 || aliased != 20 {
			t.Errorf("%d real and %d aliased hits, want 6 and 20", real, aliased)
		}
		if st.Hits != 26 || st.AliasedHits != 20 || st.AliasTested != 2 || st.AliasFound != 1 || st.AliasSent != 2*widescan.AliasProbes {
			t.Errorf("stats hits=%d aliased=%d tested=%d found=%d alias_sent=%d, want 26, 20, 2, 1, 32",
				st.Hits, st.AliasedHits, st.AliasTested, st.AliasFound, st.AliasSent)
		}
	})
}
