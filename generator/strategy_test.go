package generator

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/p2pnet/widescan/internal/testutil"
	"github.com/p2pnet/widescan/prefixes"
	"go4.org/netipx"
)

func TestParseEUI64RoundTrips(t *testing.T) {
	intel := []MACRange{ouiRange(0x001517), ouiRange(0x001b21), ouiRange(0x3cfdfe), ouiRange(0x90e2ba), ouiRange(0xa0369f)}
	for _, tc := range []struct {
		name, in string
		want     []MACRange
		str      string
	}{
		{"the built-in list", "eui64", unpackMACs(builtinMACs), "eui64"},
		{"one OUI", "eui64:00:1b:21", []MACRange{{0x001b21000000, 0x001b21ffffff}}, "eui64:00:1b:21"},
		{"upper-case hex", "eui64:00:1B:21", []MACRange{{0x001b21000000, 0x001b21ffffff}}, "eui64:00:1b:21"},
		{"a vendor key", "eui64:intel", intel, "eui64:00:15:17,00:1b:21,3c:fd:fe,90:e2:ba,a0:36:9f"},
		{"an aligned block", "eui64:00:1b:21:00:00:00/40", []MACRange{{0x001b21000000, 0x001b210000ff}}, "eui64:00:1b:21:00:00:00/40"},
		{"a range", "eui64:00:1b:21:00:00:00-00:1b:21:00:ff:ff", []MACRange{{0x001b21000000, 0x001b2100ffff}}, "eui64:00:1b:21:00:00:00/32"},
		{"an unaligned range", "eui64:00:1b:21:00:00:05-00:1b:21:00:00:09", []MACRange{{0x001b21000005, 0x001b21000009}},
			"eui64:00:1b:21:00:00:05-00:1b:21:00:00:09"},
		{"overlapping and adjacent items merged", "eui64:00:1b:21:00:00:00/40, 00:1b:21:00:00:80-00:1b:21:00:01:ff,00:50:56",
			[]MACRange{{0x001b21000000, 0x001b210001ff}, {0x005056000000, 0x005056ffffff}}, "eui64:00:1b:21:00:00:00/39,00:50:56"},
		{"adjacent OUIs", "eui64:00:1b:22,00:1b:21", []MACRange{{0x001b21000000, 0x001b22ffffff}},
			"eui64:00:1b:21:00:00:00-00:1b:22:ff:ff:ff"},
		{"every MAC", "eui64:00:00:00:00:00:00/0", []MACRange{{0, 1<<48 - 1}}, "eui64:00:00:00:00:00:00/0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseIID(tc.in)
			if err != nil || got.Mode != IIDEUI64 || !slices.Equal(got.MACRanges(), tc.want) {
				t.Fatalf("ParseIID(%q) = %v %v, %v; want %v", tc.in, got, got.MACRanges(), err, tc.want)
			}
			if got.String() != tc.str {
				t.Errorf("String = %q, want %q", got.String(), tc.str)
			}
			if again, err := ParseIID(got.String()); err != nil || again != got {
				t.Errorf("ParseIID(String()) = %v, %v", again, err)
			}
			if e, err := EUI64(tc.want...); err != nil || !slices.Equal(e.MACRanges(), got.MACRanges()) {
				t.Errorf("EUI64(%v) = %v, %v", tc.want, e, err)
			}
		})
	}
}

func TestParseEUI64RejectsMalformedInput(t *testing.T) {
	for _, in := range []string{"eui64:", "eui64:00:1b", "eui64:00:1b:2", "eui64:00-1b-21", "eui64:00:1b:21:",
		"eui64:00:1b:21/24", "eui64:00:1b:21:00:00:01/40", "eui64:00:1b:21:00:00:00/49", "eui64:00:1b:21:00:00:00/-1",
		"eui64:00:1b:21:00:00:09-00:1b:21:00:00:05", "eui64:00:1b:21:00:00:00-", "eui64:intel,", "eui64:Intel",
		"eui64:00:1b:21:00:00:00/+8", "eui64:0x:1b:21", "eui64:00:1b:21:00:00:00/40/1"} {
		if got, err := ParseIID(in); !errors.Is(err, ErrIID) {
			t.Errorf("ParseIID(%q) = %v, %v; want ErrIID", in, got, err)
		}
	}
	if _, err := EUI64(MACRange{5, 4}); !errors.Is(err, ErrIID) {
		t.Errorf("EUI64 of an inverted range: %v", err)
	}
	if _, err := EUI64(MACRange{0, 1 << 48}); !errors.Is(err, ErrIID) {
		t.Errorf("EUI64 past 2^48: %v", err)
	}
}

// TestEUI64IsTheModifiedEUI64 checks the IID against the example of RFC 2464
// §4: the Ethernet address 34-56-78-9A-BC-DE gives the interface identifier
// 3656:78FF:FE9A:BCDE (the universal/local bit inverted, FFFE inserted).
func TestEUI64IsTheModifiedEUI64(t *testing.T) {
	if got := eui64(0x3456789abcde); got != 0x365678fffe9abcde {
		t.Errorf("eui64 = %#x, want 0x365678fffe9abcde", got)
	}
	iid, err := ParseIID("eui64:34:56:78:9a:bc:de/48")
	if err != nil {
		t.Fatal(err)
	}
	g := mustNew(t, Config{Windows: mustWindows(t, "2a00:1::/64-64"), IID: iid})
	if got := addr(g.Candidate(0)); got != netip.MustParseAddr("2a00:1::3656:78ff:fe9a:bcde") {
		t.Errorf("Candidate(0) = %s", got)
	}
}

func TestVendorsAreWellFormed(t *testing.T) {
	keys := map[string]bool{}
	for _, v := range Vendors() {
		if keys[v.Key] || v.Key != strings.ToLower(v.Key) || v.Name == "" || v.Note == "" || len(v.OUIs) == 0 {
			t.Errorf("vendor %+v", v)
		}
		keys[v.Key] = true
		for _, o := range v.OUIs {
			if o >= 1<<24 {
				t.Errorf("%s: OUI %#x", v.Key, o)
			}
			if o&0x010000 != 0 {
				t.Errorf("%s: OUI %06x is a group address", v.Key, o)
			}
		}
	}
	if n := (IID{Mode: IIDEUI64}).count(); n%(1<<24) != 0 || n < 10<<24 {
		t.Errorf("the built-in list has %d MACs", n)
	}
}

func TestParsePatternRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		in, str string
		count   uint64
		last    string
	}{
		{"2001:db8:*:*::1:*", "2001:db8:*:*::1:*", 4096, "2001:db8:f:f::1:f"},
		{"2001:0DB8:0000:0000:0000:0000:0000:00*1", "2001:db8::*1", 16, "2001:db8::f1"},
		{"::", "::", 1, "::"},
		{"*::", "*::", 16, "f::"},
		{"::*", "::*", 16, "::f"},
		{"1:0:0:2:0:0:0:3", "1:0:0:2::3", 1, "1:0:0:2::3"},
		{"1:0:0:2:0:0:3:4", "1::2:0:0:3:4", 1, "1::2:0:0:3:4"},
		{"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0", 1, "1:2:3:4:5:6:7:0"},
		{"****:0:0:0:0:0:0:0", "****::", 1 << 16, "ffff::"},
		{"0*0*:1::", "*0*:1::", 256, "f0f:1::"},
		{"2a00::***:****:****:****", "2a00::***:****:****:****", 1 << 60, "2a00::fff:ffff:ffff:ffff"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			p, err := ParsePattern(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if p.String() != tc.str {
				t.Errorf("String = %q, want %q", p.String(), tc.str)
			}
			if again, err := ParsePattern(p.String()); err != nil || again != p {
				t.Errorf("ParsePattern(String()) = %v, %v", again, err)
			}
			if p.Count() != tc.count {
				t.Errorf("Count = %d, want %d", p.Count(), tc.count)
			}
			if got := p.Addr(p.Count() - 1); got != netip.MustParseAddr(tc.last) {
				t.Errorf("last address %s, want %s", got, tc.last)
			}
		})
	}
}

func TestParsePatternRejectsMalformedInput(t *testing.T) {
	for _, in := range []string{"", ":", ":::", "1::2::3", "1:2:3:4:5:6:7:8::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9",
		"12345::", "g::", "::1.2.3.4", "fe80::1%eth0", "2001:db8::/32", "****:****:****:****::", "::*****", "1:2:3:4:5:6:7::8",
		":1::", "1::2:", " :: 1"} {
		if p, err := ParsePattern(in); !errors.Is(err, ErrPattern) {
			t.Errorf("ParsePattern(%q) = %v, %v; want ErrPattern", in, p, err)
		}
	}
}

// refPatternAddr is a slow reference of Pattern.Addr written from its docs:
// the wildcards, read left to right, spell i in hex.
func refPatternAddr(t testing.TB, p Pattern, i uint64) netip.Addr {
	t.Helper()
	full := netip.AddrFrom16(p.addr).StringExpanded() // xxxx:xxxx:…
	digits := fmt.Sprintf("%0*x", p.Wildcards(), i)
	var b strings.Builder
	k := 0
	for j, c := range strings.ReplaceAll(full, ":", "") {
		if j > 0 && j%4 == 0 {
			b.WriteByte(':')
		}
		if p.wild&(1<<(31-uint(j))) != 0 {
			b.WriteByte(digits[k])
			k++
		} else {
			b.WriteRune(c)
		}
	}
	return netip.MustParseAddr(b.String())
}

func TestPatternAddrMatchesTheReference(t *testing.T) {
	r := testutil.Rand(t)
	for range 200 {
		p := randomPattern(r, 1+r.IntN(MaxPatternWildcards))
		for range 10 {
			i := r.Uint64N(p.Count())
			if got, want := p.Addr(i), refPatternAddr(t, p, i); got != want {
				t.Fatalf("%s: Addr(%d) = %s, want %s", p, i, got, want)
			}
		}
	}
}

// randomPattern returns a pattern of w wildcards at random nybbles, the
// fixed ones random.
func randomPattern(r *rand.Rand, w int) Pattern {
	var p Pattern
	binary.BigEndian.PutUint64(p.addr[:8], r.Uint64())
	binary.BigEndian.PutUint64(p.addr[8:], r.Uint64())
	for _, nyb := range r.Perm(32)[:w] {
		p.wild |= 1 << (31 - uint(nyb))
		p.addr[nyb/2] &^= 0xf << (4 * uint(1-nyb%2))
	}
	return p
}

// TestParsePatternAgreesWithParseAddr checks ParsePattern against the
// standard library on addresses with no wildcard.
func TestParsePatternAgreesWithParseAddr(t *testing.T) {
	r := testutil.Rand(t)
	for range 2000 {
		var a [16]byte
		for i := range a {
			if r.IntN(3) > 0 {
				a[i] = byte(r.IntN(256))
			}
		}
		ad := netip.AddrFrom16(a)
		for _, s := range []string{ad.String(), ad.StringExpanded(), strings.ToUpper(ad.String())} {
			p, err := ParsePattern(s)
			if err != nil || p != PatternFromAddr(ad) || p.String() != ad.String() {
				t.Fatalf("ParsePattern(%q) = %v, %v; want %s", s, p, err, ad)
			}
		}
	}
}

func TestReadTargetList(t *testing.T) {
	in := "\xef\xbb\xbf# targets\r\n2001:db8::2\n\n  2001:db8::1  # the first\n2001:DB8::2\n2a00::1\r\n"
	l, err := ReadTargetList(strings.NewReader(in), "list.txt")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range l.Len() {
		got = append(got, l.Addr(i).String())
	}
	if want := []string{"2001:db8::1", "2001:db8::2", "2a00::1"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, tc := range []struct {
		in   string
		line int
		err  error
	}{
		{"2001:db8::1\n192.0.2.1\n", 2, ErrListAddr},
		{"::ffff:192.0.2.1\n", 1, ErrListAddr},
		{"2001:db8::/64\n", 1, ErrListAddr},
		{"fe80::1%eth0\n", 1, ErrListAddr},
		{"2001:db8::1 2001:db8::2\n", 1, ErrListAddr},
		{"::1\n" + strings.Repeat("a", prefixes.MaxLineLen+1), 2, prefixes.ErrLineTooLong},
	} {
		_, err := ReadTargetList(strings.NewReader(tc.in), "f")
		var pe *prefixes.ParseError
		if !errors.As(err, &pe) || pe.Line != tc.line || pe.File != "f" || !errors.Is(err, tc.err) {
			t.Errorf("%.40q: %v; want a ParseError on line %d wrapping %v", tc.in, err, tc.line, tc.err)
		}
	}
	if _, err := NewTargetList([]netip.Addr{netip.MustParseAddr("192.0.2.1")}); !errors.Is(err, ErrListAddr) {
		t.Errorf("NewTargetList of IPv4: %v", err)
	}
	if (*TargetList)(nil).Len() != 0 {
		t.Error("nil list not empty")
	}
}

func TestParseStrategyRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind StrategyKind
		str  string
	}{
		{"low:4", StrategyIID, "low:4"},
		{"random", StrategyIID, "random"},
		{"fixed:::1", StrategyIID, "fixed:::1"},
		{"eui64:vmware", StrategyIID, "eui64:00:05:69,00:0c:29,00:50:56"},
		{"pattern:2001:db8:*:*::1:*", StrategyPattern, "pattern:2001:db8:*:*::1:*"},
		{" list:targets.txt ", StrategyList, "list:targets.txt"},
	} {
		s, err := ParseStrategy(tc.in)
		if err != nil || s.Kind != tc.kind || s.String() != tc.str {
			t.Errorf("ParseStrategy(%q) = %v (%s), %v; want %s %q", tc.in, s, s.Kind, err, tc.kind, tc.str)
			continue
		}
		if again, err := ParseStrategy(s.String()); err != nil || again != s {
			t.Errorf("ParseStrategy(%q) = %v, %v; want %v", s.String(), again, err, s)
		}
	}
	for in, want := range map[string]error{"": ErrStrategy, "list:": ErrStrategy, "list": ErrStrategy, "lists:x": ErrStrategy,
		"pattern:": ErrPattern, "pattern:1::2::3": ErrPattern, "eui64:x": ErrIID, "low:0": ErrIID} {
		if s, err := ParseStrategy(in); !errors.Is(err, want) {
			t.Errorf("ParseStrategy(%q) = %v, %v; want %v", in, s, err, want)
		}
	}
	for k, want := range map[StrategyKind]string{StrategyIID: "iid", StrategyPattern: "pattern", StrategyList: "list", 7: "StrategyKind(7)"} {
		if k.String() != want {
			t.Errorf("%d: %q, want %q", int(k), k.String(), want)
		}
	}
}

func TestStrategyApply(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/targets.txt"
	writeFile(t, file, "2a00::2\n2a00::1\n")
	var cfg Config
	for _, s := range []string{"eui64:intel", "pattern:2a00:1::*", "pattern:2a00:2::*", "list:" + file, "list:" + file} {
		st, err := ParseStrategy(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Apply(&cfg); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.IID.Mode != IIDEUI64 || len(cfg.Patterns) != 2 || cfg.List.Len() != 2 {
		t.Errorf("cfg %+v", cfg)
	}
	if err := (Strategy{Kind: StrategyList, File: dir + "/missing"}).Apply(&cfg); err == nil {
		t.Error("a missing list file: no error")
	}
	if err := (Strategy{Kind: 9}).Apply(&cfg); !errors.Is(err, ErrStrategy) {
		t.Errorf("unknown kind: %v", err)
	}
}

// refStrategy is a slow reference of Candidate for every strategy, written
// from the docs of New and Candidate: the windows (through refCandidate, or
// for eui64 a linear walk of the MAC ranges and the EUI-64 built octet by
// octet), then the patterns that are neither repeated nor wholly blocked
// (through refPatternAddr), then the sorted unblocked list.
type refStrategy struct {
	t        testing.TB
	g        *Generator
	cfg      Config
	patterns []Pattern
	list     []netip.Addr
}

func newRefStrategy(t testing.TB, g *Generator, cfg Config) *refStrategy {
	r := &refStrategy{t: t, g: g, cfg: cfg}
	bl := cfg.Blocklist
	for _, p := range cfg.Patterns {
		first, last := refPatternAddr(t, p, 0), refPatternAddr(t, p, p.Count()-1)
		if slices.Contains(r.patterns, p) || bl.IPSet().ContainsRange(netipx.IPRangeFrom(first, last)) {
			continue
		}
		r.patterns = append(r.patterns, p)
	}
	for i := range cfg.List.Len() {
		if a := cfg.List.Addr(i); !bl.Contains(a) {
			r.list = append(r.list, a)
		}
	}
	slices.SortFunc(r.list, netip.Addr.Compare)
	r.list = slices.Compact(r.list)
	return r
}

func (r *refStrategy) candidate(idx uint64) [16]byte {
	t, cfg := r.t, r.cfg
	t.Helper()
	var winTotal uint64
	for _, w := range r.g.Windows() {
		subnets, _ := w.Subnets()
		k := uint64(1)
		if w.End < 128 {
			k = cfg.IID.count()
		}
		if cfg.IID.Mode == IIDEUI64 && idx >= winTotal && idx-winTotal < subnets*k {
			o := idx - winTotal
			sub := w.Subnet(o % subnets)
			if w.End == 128 {
				return sub.Addr().As16()
			}
			mac := o / subnets
			for _, mr := range cfg.IID.MACRanges() {
				if mac < mr.Len() {
					mac += mr.From
					break
				}
				mac -= mr.Len()
			}
			var m [8]byte
			binary.BigEndian.PutUint64(m[:], mac)
			a := sub.Addr().As16()
			copy(a[8:], []byte{m[2] ^ 0x02, m[3], m[4], 0xff, 0xfe, m[5], m[6], m[7]})
			return a
		}
		winTotal += subnets * k
	}
	if idx < winTotal {
		return refCandidate(t, r.g, cfg.PermSeed, idx)
	}
	idx -= winTotal
	for _, p := range r.patterns {
		if idx < p.Count() {
			return refPatternAddr(t, p, idx).As16()
		}
		idx -= p.Count()
	}
	if idx >= uint64(len(r.list)) {
		t.Fatalf("index past the list")
	}
	return r.list[idx].As16()
}

// randomStrategyConfig draws windows of End <= 64 with an IID mode of any
// kind (eui64 over a few narrow MAC ranges half the time), patterns and a
// list, some of them in blocked space, and a shard and batch size.
func randomStrategyConfig(t testing.TB, r *rand.Rand) Config {
	t.Helper()
	var cfg Config
	var extra []netip.Prefix
	for i := range r.IntN(4) {
		a := netip.MustParseAddr("2a00::").As16()
		binary.BigEndian.PutUint16(a[2:], uint16(i))
		l := 40 + r.IntN(20)
		cfg.Windows = append(cfg.Windows, prefixes.Window{Prefix: netip.PrefixFrom(netip.AddrFrom16(a), l).Masked(), End: min(l+r.IntN(6), 64)})
		if r.IntN(2) == 0 {
			a[7], a[15] = byte(r.IntN(4)), byte(r.IntN(256))
			extra = append(extra, netip.PrefixFrom(netip.AddrFrom16(a), 64+r.IntN(65)).Masked())
		}
	}
	switch r.IntN(4) {
	case 0, 1:
		var rs []MACRange
		for range 1 + r.IntN(3) {
			from := r.Uint64N(1<<48 - 1000)
			rs = append(rs, MACRange{from, from + r.Uint64N(40)})
		}
		cfg.IID, _ = EUI64(rs...)
	case 2:
		cfg.IID = IID{Mode: IIDRandom}
	case 3:
		cfg.IID = IID{Mode: IIDLow, Count: uint64(1 + r.IntN(3))}
	}
	for range r.IntN(4) {
		p := randomPattern(r, r.IntN(4))
		p.addr[0], p.addr[1] = 0x2a, 0x01 // outside the built-in blocklist
		p.wild &^= 0xf0000000
		cfg.Patterns = append(cfg.Patterns, p)
		switch r.IntN(4) {
		case 0: // partly blocked
			first := p.Addr(0)
			extra = append(extra, netip.PrefixFrom(first, 124+r.IntN(5)).Masked())
		case 1: // wholly blocked
			extra = append(extra, netip.PrefixFrom(p.Addr(0), 96).Masked())
		case 2: // repeated
			cfg.Patterns = append(cfg.Patterns, p)
		}
	}
	if r.IntN(3) > 0 {
		var as []netip.Addr
		for range r.IntN(200) {
			var a [16]byte
			a[0], a[1], a[15] = 0x2a, 0x02, byte(r.IntN(256))
			a[8] = byte(r.IntN(4))
			as = append(as, netip.AddrFrom16(a))
		}
		var err error
		if cfg.List, err = NewTargetList(as); err != nil {
			t.Fatal(err)
		}
		extra = append(extra, netip.MustParsePrefix("2a02::100:0:0:0/72"))
	}
	var err error
	if cfg.Blocklist, err = prefixes.NewBlocklist(extra, nil); err != nil {
		t.Fatal(err)
	}
	count := uint64(1 + r.IntN(3))
	cfg.PermSeed = r.Uint64()
	cfg.Shard = Shard{Index: r.Uint64N(count), Count: count}
	cfg.BatchSize = 1 + r.IntN(500)
	return cfg
}

func TestStrategiesFillMatchesTheSlowPath(t *testing.T) {
	r := testutil.Rand(t)
	made := 0
	for made < 60 {
		cfg := randomStrategyConfig(t, r)
		g, err := New(cfg)
		if errors.Is(err, ErrEmpty) {
			continue
		}
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		made++
		ref := newRefStrategy(t, g, cfg)
		b := g.get()
		for range 4 {
			if g.End() == 0 {
				break
			}
			j := r.Uint64N(g.End())
			checkFill(t, g, cfg, b, j, min(j+uint64(g.batchSize), g.End()), ref.candidate)
		}
		g.Put(b)
	}
}

// strategyFixture is a small index space of every strategy: 4 subnets × 16
// MACs of eui64, a pattern of 16 addresses given twice, a pattern of 256
// with 16 blocked, a wholly blocked pattern, and a list of 5 addresses of
// which one is repeated and one blocked.
func strategyFixture(t testing.TB) (Config, []netip.Addr) {
	t.Helper()
	bl := testbedBlocklist(t, "2a00:2::10/124", "2a00:3::/112", "2a00:4::3/128")
	iid, err := ParseIID("eui64:00:1b:21:00:00:00/44")
	if err != nil {
		t.Fatal(err)
	}
	var pats []Pattern
	for _, s := range []string{"2a00:1::*:1", "2a00:1::*:1", "2a00:2::**", "2a00:3::*"} {
		p, err := ParsePattern(s)
		if err != nil {
			t.Fatal(err)
		}
		pats = append(pats, p)
	}
	list, err := ReadTargetList(strings.NewReader("2a00:4::1\n2a00:4::2\n2a00:4::1\n2a00:4::3\n2001:db8::9\n"), "list")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Windows: mustWindows(t, "2001:db8::/62-64"), Blocklist: bl, IID: iid, Patterns: pats, List: list}
	var want []netip.Addr
	for sub := range 4 {
		for nic := range 16 {
			want = append(want, netip.MustParseAddr(fmt.Sprintf("2001:db8:0:%x:21b:21ff:fe00:%x", sub, nic)))
		}
	}
	for i := range 16 {
		want = append(want, netip.MustParseAddr(fmt.Sprintf("2a00:1::%x:1", i)))
	}
	for i := range 256 {
		if i&0xf0 != 0x10 {
			want = append(want, netip.MustParseAddr("2a00:2::"+strconv.FormatInt(int64(i), 16)))
		}
	}
	for _, s := range []string{"2a00:4::1", "2a00:4::2", "2001:db8::9"} {
		want = append(want, netip.MustParseAddr(s))
	}
	slices.SortFunc(want, netip.Addr.Compare)
	return cfg, want
}

func TestStrategiesCoverTheirTargetsExactlyOnceAcrossShards(t *testing.T) {
	cfg, want := strategyFixture(t)
	for _, shards := range []uint64{1, 3, 7} {
		var got []netip.Addr
		var blocked uint64
		for i := range shards {
			c := cfg
			c.Shard = Shard{Index: i, Count: shards}
			c.Workers = 1 + int(i%3)
			c.BatchSize = 5 + int(i)
			g := mustNew(t, c)
			if g.Size() != 64+16+256+3 || g.ListLen() != 3 || len(g.Patterns()) != 2 {
				t.Fatalf("Size %d, ListLen %d, Patterns %v", g.Size(), g.ListLen(), g.Patterns())
			}
			for _, a := range collect(t, g) {
				got = append(got, addr(a))
			}
			blocked += g.Blocked()
		}
		slices.SortFunc(got, netip.Addr.Compare)
		if !slices.Equal(got, want) {
			t.Errorf("%d shards: %d targets, want the %d of the strategies, each once", shards, len(got), len(want))
		}
		if blocked != 16 {
			t.Errorf("%d shards: %d blocked, want 16", shards, blocked)
		}
	}
}

func TestStrategiesResumeExactly(t *testing.T) {
	cfg, _ := strategyFixture(t)
	r := testutil.Rand(t)
	cfg.PermSeed, cfg.BatchSize, cfg.Shard = r.Uint64(), 11, Shard{Index: 1, Count: 2}
	full := collect(t, mustNew(t, cfg))
	cfg.Workers = 3
	g := mustNew(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan *Batch)
	errc := make(chan error, 1)
	go func() { errc <- g.Generate(ctx, out) }()
	var got [][16]byte
	var checkpoint uint64
	for k := range 4 {
		b := <-out
		n := len(b.Targets)
		if k == 3 {
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
	cfg.Start, cfg.Workers = checkpoint, 2
	got = append(got, collect(t, mustNew(t, cfg))...)
	if !slices.Equal(got, full) {
		t.Fatalf("stopped at %d and resumed: %d targets, want the %d of one run in the same order", checkpoint, len(got), len(full))
	}
}

func TestStrategyErrors(t *testing.T) {
	p := func(s string) Pattern {
		p, err := ParsePattern(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := p("2a00:***:****:****:****::")
	for _, tc := range []struct {
		name string
		cfg  Config
		want error
	}{
		{"eui64 in a window with 48 host bits", Config{Windows: mustWindows(t, "2a00::/64-80"), IID: IID{Mode: IIDEUI64}}, ErrIIDFit},
		{"only a wholly blocked pattern", Config{Patterns: []Pattern{p("2001:db8::*")}}, ErrEmpty},
		{"only blocked list addresses", Config{List: mustList(t, "::1", "2001:db8::1")}, ErrEmpty},
		{"patterns past 2^64", Config{Patterns: []Pattern{big, p("2a01:***:****:****:****::"), p("2a02:***:****:****:****::"),
			p("2a03:***:****:****:****::"), p("2a04:***:****:****:****::"), p("2a05:***:****:****:****::"), p("2a06:***:****:****:****::"),
			p("2a07:***:****:****:****::"), p("2a08:***:****:****:****::"), p("2a09:***:****:****:****::"), p("2a0a:***:****:****:****::"),
			p("2a0b:***:****:****:****::"), p("2a0c:***:****:****:****::"), p("2a0d:***:****:****:****::"), p("2a0e:***:****:****:****::"),
			p("2a0f:***:****:****:****::")}}, ErrTooLarge},
		{"eui64 of every MAC over 2^16 subnets", Config{Windows: mustWindows(t, "2a00::/48-64"),
			IID: func() IID { i, _ := EUI64(MACRange{0, 1<<48 - 1}); return i }()}, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); !errors.Is(err, tc.want) {
				t.Errorf("New: %v, want %v", err, tc.want)
			}
		})
	}
}

func mustList(t testing.TB, ss ...string) *TargetList {
	t.Helper()
	var as []netip.Addr
	for _, s := range ss {
		as = append(as, netip.MustParseAddr(s))
	}
	l, err := NewTargetList(as)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestStrategyFillDoesNotAllocate(t *testing.T) {
	cfg, _ := strategyFixture(t)
	cfg.Windows = mustWindows(t, "2a00::/16-64")
	cfg.IID, _ = ParseIID("eui64:00:1b:21:00:00:00/40")
	g := mustNew(t, cfg)
	b := g.get()
	size := uint64(g.batchSize)
	j := g.End() - 10*size // the patterns and the list are at the end of the index space, spread over all of it
	g.fill(b, j, j+size)
	if a := testing.AllocsPerRun(5, func() {
		g.fill(b, j, j+size)
		j += size
	}); a != 0 {
		t.Errorf("fill allocates %v times per batch", a)
	}
}

// TestCandidateOfTheHugeEUI64Space samples a space of 2^63 targets (2^30
// subnets × 2^33 MACs): Candidate agrees with the reference.
func TestCandidateOfTheHugeEUI64Space(t *testing.T) {
	r := testutil.Rand(t)
	iid, err := EUI64(MACRange{0x001b21000000, 0x001b21ffffff}, MACRange{0x525400000000, 0x5254ffffffff}, MACRange{0xa00000000000, 0xa000feffffff})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Windows: mustWindows(t, "2a00::/34-64"), IID: iid, PermSeed: r.Uint64()}
	g := mustNew(t, cfg)
	n := new(big.Int).Mul(big.NewInt(1<<30), big.NewInt(int64(1<<24+1<<32+255<<24)))
	if !n.IsUint64() || g.Size() != n.Uint64() {
		t.Fatalf("Size %d, want %s", g.Size(), n)
	}
	ref := newRefStrategy(t, g, cfg)
	for range 2000 {
		idx := r.Uint64N(g.Size())
		if got, want := g.Candidate(idx), ref.candidate(idx); got != want {
			t.Fatalf("Candidate(%d) = %s, want %s", idx, addr(got), addr(want))
		}
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkFillStrategies is BenchmarkFill for the strategies that take
// the general path: eui64 IIDs, a pattern, and a list.
func BenchmarkFillStrategies(b *testing.B) {
	eui, err := ParseIID("eui64")
	if err != nil {
		b.Fatal(err)
	}
	pat, err := ParsePattern("2a00:1:*:*::****:****:****")
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	as := make([]netip.Addr, 1<<20)
	for i := range as {
		var a [16]byte
		binary.BigEndian.PutUint64(a[:8], 0x2a02<<48|r.Uint64N(1<<32))
		binary.BigEndian.PutUint64(a[8:], r.Uint64())
		as[i] = netip.AddrFrom16(a)
	}
	list, err := NewTargetList(as)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"eui64/built-in list", Config{Windows: mustWindows(b, "2a00::/32-64"), IID: eui}},
		{"pattern/2^56 addresses", Config{Patterns: []Pattern{pat}}},
		{"list/2^20 addresses", Config{List: list}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := mustNew(b, bc.cfg)
			batch := g.get()
			size := uint64(g.batchSize)
			var n int
			var j uint64
			b.ReportAllocs()
			for b.Loop() {
				if j+size > g.End() {
					j = 0
				}
				g.fill(batch, j, j+size)
				n += len(batch.Targets)
				j += size
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "targets/s")
		})
	}
}
