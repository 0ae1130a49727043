package main

import (
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/p2pnet/widescan/internal/testbed"
)

func TestTargetCoversLowIIDsAfterTheWindow(t *testing.T) {
	for _, tc := range []struct {
		line string
		addr string
		want bool
	}{
		{"2001:db8::/32-48", "2001:db8:5::10", true},
		{"2001:db8::/32-48", "2001:db8:5::11", false},
		{"2001:db8::/32-48", "2001:db8:5:1::1", false},
		{"2001:db8::/32-48", "2001:db8:5::", false},
		{"2001:db8:1:100::/56", "2001:db8:1:1ff::3", true},
		{"2001:db8:1:100::/56", "2001:db8:1:200::3", false},
		{"2001:db8:1:100::/56-64", "2001:db8:1:1ab::1", true},
		{"2001:db8::1234", "2001:db8::1234", true},
		{"2001:db8::1234", "2001:db8::1", false},
		{"2001:db8::/120-128", "2001:db8::ff", true},
	} {
		tg, err := parseTarget(tc.line)
		if err != nil {
			t.Fatal(err)
		}
		if got := tg.covers(netip.MustParseAddr(tc.addr), 16); got != tc.want {
			t.Errorf("%s covers %s = %v, want %v", tc.line, tc.addr, got, tc.want)
		}
	}
}

func TestTargetProbes(t *testing.T) {
	ts, err := parseTargets("# c\n2001:db8::/32-48 # w\n2001:db8:1:100::/56\n2001:db8::1\n\n")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := totalProbes(ts, 16).Int64(), int64(1<<16*16+1<<8*16+1); got != want {
		t.Fatalf("probes = %d, want %d", got, want)
	}
}

func TestParseTargetsRejectsBadLines(t *testing.T) {
	for _, s := range []string{"2001:db8::1/32", "2001:db8::/48-32", "192.0.2.1", "nonsense"} {
		if _, err := parseTargets(s); err == nil {
			t.Errorf("parseTargets(%q) succeeded", s)
		}
	}
}

func TestDemoTargetsFitTheBudget(t *testing.T) {
	f, err := os.Open("../../testdata/hitlist-seeds-6graph-5k.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seeds, err := testbed.LoadSeeds(f)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range seeds {
		seeds[i] = testbed.Rebase(a)
	}
	slices.SortFunc(seeds, netip.Addr.Compare)
	planted := slices.Compact(seeds)

	ts, err := parseTargets(buildTargets(planted, iidK))
	if err != nil {
		t.Fatal(err)
	}
	probes := totalProbes(ts, iidK).Int64()
	e := expected(ts, planted, iidK)
	t.Logf("%d lines, %d probes, E = %d", len(ts), probes, len(e))
	if probes > 3_000_000 {
		t.Errorf("%d probes, want at most 3 M", probes)
	}
	if len(e) < 200 || len(e) > 1000 {
		t.Errorf("E = %d, want a few hundred", len(e))
	}
	for i, a := range ts {
		if a.prefix.Overlaps(anyIP) {
			t.Errorf("%v covers the AnyIP prefix", a.prefix)
		}
		for _, b := range ts[i+1:] {
			if probeOverlap(a, b) {
				t.Errorf("%v-%d and %v-%d probe a common address", a.prefix, a.end, b.prefix, b.end)
			}
		}
	}
}

// probeOverlap reports whether two targets probe a common address with IIDs 1..iidK.
func probeOverlap(a, b target) bool {
	if !a.prefix.Overlaps(b.prefix) {
		return false
	}
	switch {
	case a.end == 128 && b.end == 128:
		return true // overlapping single-address windows are the same address
	case a.end == 128:
		return b.covers(a.prefix.Addr(), iidK)
	case b.end == 128:
		return a.covers(b.prefix.Addr(), iidK)
	}
	// A common address has its bits after both window ends in 1..iidK, so its bits from the
	// earlier end up to the later one are zero; the longer prefix fixes some of them.
	q := a.prefix
	if b.prefix.Bits() > q.Bits() {
		q = b.prefix
	}
	lo := min(a.end, b.end)
	return q.Bits() <= lo || netip.PrefixFrom(q.Addr(), lo).Masked().Addr() == q.Addr()
}

func TestProbeOverlap(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"2001:db8::/32-48", "2001:db8:1:100::/56", false},
		{"2001:db8::/32-48", "2001:db8:1::/48-64", true},
		{"2001:db8::/32-48", "2001:db8:1::5", true},
		{"2001:db8::/32-48", "2001:db8:1::50", false},
		{"2001:db8:1:100::/56", "2001:db8:1:100::/60", true},
		{"2001:db8:1:100::/56", "2001:db8:1:200::/56", false},
	} {
		a, _ := parseTarget(tc.a)
		b, _ := parseTarget(tc.b)
		if got := probeOverlap(a, b); got != tc.want {
			t.Errorf("probeOverlap(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
