package prefixes

import (
	"errors"
	"math/big"
	"net/netip"
	"slices"
	"testing"

	"go4.org/netipx"
)

func TestBuiltinHoldsEveryRegistryRow(t *testing.T) {
	want := []string{
		// The 2023-03-15 registry snapshot, row by row.
		"::1/128", "::/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48",
		"100::/64", "2001::/23", "2001::/32", "2001:1::1/128", "2001:1::2/128",
		"2001:2::/48", "2001:3::/32", "2001:4:112::/48", "2001:10::/28", "2001:20::/28",
		"2001:30::/28", "2001:db8::/32", "2002::/16", "2620:4f:8000::/48",
		"fc00::/7", "fe80::/10",
		// The 2024–2025 additions and multicast.
		"2001:1::3/128", "5f00::/16", "3fff::/20", "100:0:0:1::/64", "ff00::/8",
	}
	entries := Builtin()
	have := map[netip.Prefix]BuiltinEntry{}
	for _, e := range entries {
		if _, dup := have[e.Prefix]; dup {
			t.Errorf("Builtin lists %s twice", e.Prefix)
		}
		have[e.Prefix] = e
		if e.Name == "" {
			t.Errorf("Builtin entry %s has no name", e.Prefix)
		}
	}
	for _, s := range want {
		p := netip.MustParsePrefix(s)
		if _, ok := have[p]; !ok {
			t.Errorf("Builtin lacks %s", p)
		}
	}
	if len(entries) != len(want) {
		t.Errorf("Builtin has %d entries, want %d", len(entries), len(want))
	}
	if !slices.IsSortedFunc(entries, func(a, b BuiltinEntry) int { return a.Prefix.Compare(b.Prefix) }) {
		t.Error("Builtin entries are not sorted by prefix")
	}
	if e := have[netip.MustParsePrefix("2001:db8::/32")]; e.Name != "Documentation" || e.Spec != "rfc3849" {
		t.Errorf("2001:db8::/32 entry = %+v, want Documentation, rfc3849", e)
	}
	if e := have[netip.MustParsePrefix("3fff::/20")]; e.Name != "Documentation" || e.Spec != "RFC 9637 (2024-07)" {
		t.Errorf("3fff::/20 entry = %+v, want Documentation, RFC 9637 (2024-07)", e)
	}
	entries[0].Name = "changed"
	if Builtin()[0].Name == "changed" {
		t.Error("Builtin returns a shared slice")
	}
}

func TestBlocklistContains(t *testing.T) {
	lifted := []netip.Prefix{netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("3fff::/20")}
	extra := []netip.Prefix{netip.MustParsePrefix("2001:db8:dead::/48"), netip.MustParsePrefix("2a00:1450::1/128")}
	tests := []struct {
		name    string
		extra   []netip.Prefix
		unblock []netip.Prefix
		addr    string
		blocked bool
	}{
		{"the built-in list blocks the documentation prefix", nil, nil, "2001:db8::1", true},
		{"the built-in list blocks the new documentation prefix", nil, nil, "3fff:fff::1", true},
		{"the built-in list blocks link-local", nil, nil, "fe80::1", true},
		{"the built-in list blocks unique-local", nil, nil, "fd00::1", true},
		{"the built-in list blocks multicast", nil, nil, "ff02::1", true},
		{"the built-in list blocks loopback", nil, nil, "::1", true},
		{"the built-in list blocks the SRP anycast address", nil, nil, "2001:1::3", true},
		{"the built-in list blocks SRv6 SIDs", nil, nil, "5f00:1::1", true},
		{"the built-in list blocks the dummy prefix", nil, nil, "100:0:0:1::1", true},
		{"the built-in list leaves global unicast alone", nil, nil, "2a00:1450::1", false},
		{"lifting documentation unblocks 2001:db8::/32", nil, lifted, "2001:db8::1", false},
		{"lifting documentation unblocks the end of 2001:db8::/32", nil, lifted, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false},
		{"2001:db7::1 is not special, lifted or not", nil, lifted, "2001:db7::1", false},
		{"lifting documentation unblocks 3fff::/20", nil, lifted, "3fff:fff::1", false},
		{"the space just past 3fff::/20 is not special", nil, lifted, "3fff:1000::1", false},
		{"lifting documentation keeps link-local blocked", nil, lifted, "fe80::1", true},
		{"lifting documentation keeps 2001:1::3 blocked", nil, lifted, "2001:1::3", true},
		{"lifting documentation keeps multicast blocked", nil, lifted, "ff02::1", true},
		{"an extra prefix is blocked", extra, nil, "2a00:1450::1", true},
		{"an extra prefix is never lifted by unblock", extra, lifted, "2001:db8:dead::1", true},
		{"the lifted space around an extra prefix stays open", extra, lifted, "2001:db8:beef::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewBlocklist(tt.extra, tt.unblock)
			if err != nil {
				t.Fatal(err)
			}
			a := netip.MustParseAddr(tt.addr)
			if got := b.Contains(a); got != tt.blocked {
				t.Errorf("Contains(%s) = %v, want %v", a, got, tt.blocked)
			}
		})
	}
}

func TestBlocklistLiftsExactlyTheNamedRanges(t *testing.T) {
	full, err := NewBlocklist(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	lifted := []netip.Prefix{netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("3fff::/20")}
	b, err := NewBlocklist(nil, lifted)
	if err != nil {
		t.Fatal(err)
	}
	var want netipx.IPSetBuilder
	want.AddSet(full.IPSet())
	for _, p := range lifted {
		want.RemovePrefix(p)
	}
	ws, _ := want.IPSet()
	if !ws.Equal(b.IPSet()) {
		t.Errorf("lifted blocklist = %v, want %v", b.Prefixes(), ws.Prefixes())
	}
}

func TestNewBlocklistErrors(t *testing.T) {
	tests := []struct {
		name    string
		extra   []netip.Prefix
		unblock []netip.Prefix
		wantIs  error
	}{
		{"unblocking global unicast is refused", nil, []netip.Prefix{netip.MustParsePrefix("2000::/3")}, ErrUnblock},
		{"unblocking past the end of a blocked range is refused", nil, []netip.Prefix{netip.MustParsePrefix("2001:db8::/31")}, ErrUnblock},
		{"unblocking IPv4 is refused", nil, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, ErrNotIPv6},
		{"unblocking the invalid prefix is refused", nil, []netip.Prefix{{}}, ErrNotIPv6},
		{"an IPv4 extra prefix is refused", []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, nil, ErrNotIPv6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewBlocklist(tt.extra, tt.unblock)
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("NewBlocklist error = %v, want %v", err, tt.wantIs)
			}
		})
	}
	if _, err := NewBlocklist(nil, []netip.Prefix{netip.MustParsePrefix("2001:db8::1/32")}); err == nil {
		t.Error("unblocking an unmasked prefix: nil error")
	}
}

// countSubnets returns the number of subnets ws enumerates, exactly.
func countSubnets(ws []Window) *big.Int {
	n := new(big.Int)
	for _, w := range ws {
		n.Add(n, new(big.Int).Lsh(big.NewInt(1), uint(w.SubnetBits())))
	}
	return n
}

func mustWindows(t *testing.T, ss ...string) []Window {
	t.Helper()
	var ws []Window
	for _, s := range ss {
		w, err := ParseWindow(s, 0)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	return ws
}

func windowStrings(ws []Window) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.String())
	}
	return out
}

func TestSubtract(t *testing.T) {
	testbed := []netip.Prefix{netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("3fff::/20")}
	tests := []struct {
		name        string
		extra       []netip.Prefix
		windows     []string
		wantKept    []string
		wantPartial []string
		wantSubnets int64
		builtin     bool // keep the documentation prefixes blocked
	}{
		{
			name:        "an unblocked window is kept as is",
			windows:     []string{"2a00:1450::/32-48"},
			wantKept:    []string{"2a00:1450::/32-48"},
			wantSubnets: 1 << 16,
		},
		{
			name:        "a blocked /48 splits a /32-64 window around it",
			extra:       []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/48")},
			windows:     []string{"2001:db8::/32-64"},
			wantKept:    nil, // checked by count and coverage below
			wantSubnets: 1<<32 - 1<<16,
		},
		{
			name:        "a blocked /128 inside a /64 window keeps the /64 and reports the /128",
			extra:       []netip.Prefix{netip.MustParsePrefix("2001:db8::1/128")},
			windows:     []string{"2001:db8::/64-64"},
			wantKept:    []string{"2001:db8::/64-64"},
			wantPartial: []string{"2001:db8::1/128"},
			wantSubnets: 1,
		},
		{
			name:        "a blocked /128 inside a /48-64 window keeps its /64 whole",
			extra:       []netip.Prefix{netip.MustParsePrefix("2001:db8:0:7::1/128")},
			windows:     []string{"2001:db8::/48-64"},
			wantPartial: []string{"2001:db8:0:7::1/128"},
			wantSubnets: 1 << 16,
		},
		{
			name:        "a fully blocked window disappears",
			builtin:     true,
			windows:     []string{"fe80::/64-128", "2001:db8::/48-64", "2a00:1450::/48"},
			wantKept:    []string{"2a00:1450::/48-64"},
			wantSubnets: 1 << 16,
		},
		{
			name:        "overlapping windows with the same end merge",
			windows:     []string{"2a00:1450::/32-64", "2a00:1450:1::/48", "2a00:1450:1:2::/64"},
			wantKept:    []string{"2a00:1450::/32-64"},
			wantSubnets: 1 << 32,
		},
		{
			name:        "adjacent windows with the same end merge",
			windows:     []string{"2a00:1450::/33-64", "2a00:1450:8000::/33-64"},
			wantKept:    []string{"2a00:1450::/32-64"},
			wantSubnets: 1 << 32,
		},
		{
			name:        "overlapping windows with different ends are kept apart, sorted by end",
			windows:     []string{"2a00:1450::/32-64", "2a00:1450::/48-56"},
			wantKept:    []string{"2a00:1450::/48-56", "2a00:1450::/32-64"},
			wantSubnets: 1<<32 + 1<<8,
		},
		{
			name:        "a blocked single address is dropped",
			builtin:     true,
			windows:     []string{"2001:db8::1", "ff02::1", "2a00:1450::1", "2a00:1450::1"},
			wantKept:    []string{"2a00:1450::1/128-128"},
			wantSubnets: 1,
		},
		{
			name:        "no windows give no windows",
			windows:     nil,
			wantKept:    nil,
			wantSubnets: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unblock := testbed
			if tt.builtin {
				unblock = nil
			}
			b, err := NewBlocklist(tt.extra, unblock)
			if err != nil {
				t.Fatal(err)
			}
			ws := mustWindows(t, tt.windows...)
			kept, partial, err := b.Subtract(ws)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantKept != nil && !slices.Equal(windowStrings(kept), tt.wantKept) {
				t.Errorf("kept = %q, want %q", windowStrings(kept), tt.wantKept)
			}
			var gotPartial []string
			for _, p := range partial {
				gotPartial = append(gotPartial, p.String())
			}
			if !slices.Equal(gotPartial, tt.wantPartial) {
				t.Errorf("partial = %q, want %q", gotPartial, tt.wantPartial)
			}
			if got := countSubnets(kept); got.Cmp(big.NewInt(tt.wantSubnets)) != 0 {
				t.Errorf("kept windows enumerate %s subnets, want %d", got, tt.wantSubnets)
			}
			checkSubtracted(t, b, ws, kept, partial)
		})
	}
}

// checkSubtracted checks the invariants of Subtract's result: every kept
// window is valid and lies inside the input windows of its End; windows of
// one End do not overlap and are sorted; no kept subnet is entirely blocked;
// and every partial prefix is blocked and lies inside a kept window.
func checkSubtracted(t *testing.T, b *Blocklist, in, kept []Window, partial []netip.Prefix) {
	t.Helper()
	inByEnd := map[int]*netipx.IPSetBuilder{}
	for _, w := range in {
		if inByEnd[w.End] == nil {
			inByEnd[w.End] = new(netipx.IPSetBuilder)
		}
		inByEnd[w.End].AddPrefix(w.Prefix)
	}
	seen := map[int]*netipx.IPSetBuilder{}
	for _, w := range kept {
		if err := w.Validate(); err != nil {
			t.Errorf("kept window %s: %v", w, err)
			continue
		}
		src := inByEnd[w.End]
		if src == nil {
			t.Errorf("kept window %s has an End no input window has", w)
			continue
		}
		if s, _ := src.IPSet(); !s.ContainsPrefix(w.Prefix) {
			t.Errorf("kept window %s lies outside the input windows", w)
		}
		if seen[w.End] == nil {
			seen[w.End] = new(netipx.IPSetBuilder)
		}
		if s, _ := seen[w.End].IPSet(); s.OverlapsPrefix(w.Prefix) {
			t.Errorf("kept window %s overlaps another of the same End", w)
		}
		seen[w.End].AddPrefix(w.Prefix)
		for _, q := range b.Prefixes() {
			if q.Bits() <= w.End && q.Overlaps(w.Prefix) {
				t.Errorf("kept window %s overlaps the blocked %s, which covers whole subnets", w, q)
			}
		}
		if n, ok := w.Subnets(); ok && n <= 1<<12 {
			for i := range n {
				if s := w.Subnet(i); b.IPSet().ContainsPrefix(s) {
					t.Errorf("kept window %s holds the blocked subnet %s", w, s)
				}
			}
		}
	}
	if !slices.IsSortedFunc(kept, func(a, b Window) int {
		if a.End != b.End {
			return a.End - b.End
		}
		return a.Prefix.Compare(b.Prefix)
	}) {
		t.Errorf("kept %v is not sorted by End, then address", kept)
	}
	if !slices.IsSortedFunc(partial, netip.Prefix.Compare) {
		t.Errorf("partial %v is not sorted by address", partial)
	}
	for _, p := range partial {
		if !b.IPSet().ContainsPrefix(p) {
			t.Errorf("partial %s is not blocked", p)
		}
		inside := false
		for _, w := range kept {
			inside = inside || (w.Prefix.Bits() <= p.Bits() && w.Prefix.Contains(p.Addr()) && p.Bits() > w.End)
		}
		if !inside {
			t.Errorf("partial %s lies in no kept window's subnet", p)
		}
	}
}

// TestSubtractMatchesEnumeration checks Subtract against a slow oracle:
// enumerate every /64 of a small window and keep those not entirely blocked.
func TestSubtractMatchesEnumeration(t *testing.T) {
	r := testRand(t)
	base := netip.MustParsePrefix("2001:db8::/52") // 4096 /64s
	for round := range 100 {
		var extra []netip.Prefix
		for range 1 + r.IntN(6) {
			bits := 52 + r.IntN(77) // /52../128 inside base
			a := base.Addr().As16()
			for j := 6; j < 16; j++ {
				a[j] |= byte(r.Uint32())
			}
			a[6] &= 0x0f // stay inside the /52
			extra = append(extra, netip.PrefixFrom(netip.AddrFrom16(a), bits).Masked())
		}
		b, err := NewBlocklist(extra, []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")})
		if err != nil {
			t.Fatal(err)
		}
		in := []Window{{Prefix: base, End: 64}}
		kept, partial, err := b.Subtract(in)
		if err != nil {
			t.Fatal(err)
		}
		var want, got []netip.Prefix
		var wantPartial []netip.Prefix
		for i := range uint64(1 << 12) {
			s := in[0].Subnet(i)
			if b.IPSet().ContainsPrefix(s) {
				continue
			}
			want = append(want, s)
			if b.IPSet().OverlapsPrefix(s) {
				var in netipx.IPSetBuilder
				in.AddPrefix(s)
				in.Intersect(b.IPSet())
				is, _ := in.IPSet()
				wantPartial = append(wantPartial, is.Prefixes()...)
			}
		}
		for _, w := range kept {
			n, _ := w.Subnets()
			for i := range n {
				got = append(got, w.Subnet(i))
			}
		}
		slices.SortFunc(got, netip.Prefix.Compare)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d, blocked %v: Subtract keeps %d subnets, enumeration %d", round, extra, len(got), len(want))
		}
		if !slices.Equal(partial, wantPartial) {
			t.Fatalf("round %d, blocked %v: partial = %v, want %v", round, extra, partial, wantPartial)
		}
	}
}

func TestSubtractRejectsInvalidWindows(t *testing.T) {
	b, err := NewBlocklist(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := Window{Prefix: netip.MustParsePrefix("2001:db8::1/32"), End: 64}
	if _, _, err := b.Subtract([]Window{bad}); err == nil {
		t.Errorf("Subtract(%v): nil error", bad)
	}
}

func TestBlocklistContainsDoesNotAllocate(t *testing.T) {
	b, err := NewBlocklist(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("2a00:1450::1")
	if n := testing.AllocsPerRun(100, func() { b.Contains(a) }); n != 0 {
		t.Errorf("Contains allocates %v times per call, want 0", n)
	}
}
