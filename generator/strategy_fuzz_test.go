package generator

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/p2pnet/widescan/prefixes"
)

// FuzzParseIID checks that ParseIID never panics, that an accepted IID
// round-trips through String, and that every error wraps ErrIID.
func FuzzParseIID(f *testing.F) {
	for _, s := range []string{"low", "low:4", "fixed:::1", "fixed:::dead:beef:0:1", "random", "eui64", "eui64:intel",
		"eui64:00:1b:21", "eui64:00:1b:21:00:00:00/40", "eui64:00:1b:21:00:00:00-00:1b:21:00:ff:ff",
		"eui64:vmware,00:1b:21:00:00:05-00:1b:21:00:00:09", "eui64:00:00:00:00:00:00/0", "low:0", "eui64:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		iid, err := ParseIID(s)
		if err != nil {
			if !errors.Is(err, ErrIID) {
				t.Fatalf("ParseIID(%q): %v does not wrap ErrIID", s, err)
			}
			return
		}
		if err := iid.Validate(); err != nil {
			t.Fatalf("ParseIID(%q) = %v, invalid: %v", s, iid, err)
		}
		again, err := ParseIID(iid.String())
		if err != nil || again != iid {
			t.Fatalf("ParseIID(%q) = %v; ParseIID(%q) = %v, %v", s, iid, iid.String(), again, err)
		}
		if iid.Mode == IIDEUI64 {
			rs := iid.MACRanges()
			for i, r := range rs {
				if r.From > r.To || r.To >= 1<<48 || i > 0 && r.From <= rs[i-1].To+1 {
					t.Fatalf("ParseIID(%q): ranges %v not sorted, disjoint and apart", s, rs)
				}
			}
		}
	})
}

// FuzzParsePattern checks ParsePattern against an oracle: on text with no
// wildcard it accepts exactly the IPv6 addresses netip.ParseAddr accepts
// (less embedded IPv4 and zones) and gives the same address; an accepted
// pattern round-trips through String, and errors wrap ErrPattern.
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"2001:db8:*:*::1:*", "::", "::*", "*::", "1:2:3:4:5:6:7:8", "1::", "0*0*:1::",
		"2a00::***:****:****:****", "::ffff:1.2.3.4", "1::2::3", "fe80::1%eth0", "12345::", "****:****:****:****::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePattern(s)
		if err != nil && !errors.Is(err, ErrPattern) {
			t.Fatalf("ParsePattern(%q): %v does not wrap ErrPattern", s, err)
		}
		if !strings.Contains(s, "*") {
			a, aerr := netip.ParseAddr(strings.TrimSpace(s))
			ok := aerr == nil && a.Is6() && a.Zone() == "" && !strings.Contains(s, ".")
			if ok != (err == nil) {
				t.Fatalf("ParsePattern(%q) = %v, %v; netip.ParseAddr = %v, %v", s, p, err, a, aerr)
			}
			// String differs for IPv4-mapped addresses, which netip writes
			// with a dotted quad and a pattern never does.
			if ok && (p != PatternFromAddr(a) || p.Addr(0) != a || !a.Is4In6() && p.String() != a.String()) {
				t.Fatalf("ParsePattern(%q) = %v, want %v", s, p, a)
			}
		}
		if err != nil {
			return
		}
		if again, err := ParsePattern(p.String()); err != nil || again != p {
			t.Fatalf("ParsePattern(%q) = %v; ParsePattern(%q) = %v, %v", s, p, p.String(), again, err)
		}
		if p.Wildcards() > MaxPatternWildcards {
			t.Fatalf("ParsePattern(%q): %d wildcards", s, p.Wildcards())
		}
		first, last := p.bounds()
		if first.Compare(last) > 0 {
			t.Fatalf("ParsePattern(%q): first %s after last %s", s, first, last)
		}
	})
}

// FuzzParseStrategy checks that ParseStrategy never panics, that an
// accepted strategy round-trips through String, and that every error wraps
// one of ErrIID, ErrPattern and ErrStrategy.
func FuzzParseStrategy(f *testing.F) {
	for _, s := range []string{"low:4", "random", "fixed:::1", "eui64", "eui64:intel,00:50:56:00:00:00/44",
		"pattern:2001:db8:*:*::1:*", "list:targets.txt", "list:-", "list:", "pattern:", "bogus", " low "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStrategy(s)
		if err != nil {
			if !errors.Is(err, ErrIID) && !errors.Is(err, ErrPattern) && !errors.Is(err, ErrStrategy) {
				t.Fatalf("ParseStrategy(%q): %v wraps no sentinel", s, err)
			}
			return
		}
		again, err := ParseStrategy(st.String())
		if err != nil || again != st {
			t.Fatalf("ParseStrategy(%q) = %v; ParseStrategy(%q) = %v, %v", s, st, st.String(), again, err)
		}
	})
}

// FuzzReadTargetList checks ReadTargetList against an oracle: it accepts
// the input exactly when every line, less its comment and whitespace, is
// empty or an IPv6 address netip.ParseAddr accepts, and then holds those
// addresses, sorted and distinct.
func FuzzReadTargetList(f *testing.F) {
	for _, s := range []string{"2001:db8::1\n2001:db8::1\n::1\n", "# c\n\n  2a00::1 # x\r\n", "\xef\xbb\xbf::\n",
		"192.0.2.1\n", "2001:db8::/64\n", "fe80::1%eth0\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ReadTargetList(strings.NewReader(s), "f")
		want := map[netip.Addr]bool{}
		ok := true
		for i, line := range strings.Split(s, "\n") {
			if len(line) > prefixes.MaxLineLen {
				ok = false
				break
			}
			if i == 0 {
				line = strings.TrimPrefix(line, "\xef\xbb\xbf")
			}
			line, _, _ = strings.Cut(line, "#")
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			a, err := netip.ParseAddr(line)
			if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
				ok = false
				break
			}
			want[a] = true
		}
		if ok != (err == nil) {
			t.Fatalf("ReadTargetList(%q) = %v; the oracle says ok %v", s, err, ok)
		}
		if err != nil {
			return
		}
		if l.Len() != len(want) {
			t.Fatalf("ReadTargetList(%q): %d addresses, want %d", s, l.Len(), len(want))
		}
		for i := range l.Len() {
			if !want[l.Addr(i)] || i > 0 && l.Addr(i-1).Compare(l.Addr(i)) >= 0 {
				t.Fatalf("ReadTargetList(%q): address %d %s", s, i, l.Addr(i))
			}
		}
	})
}
