package testbed

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/p2pnet/widescan/internal/testutil"
)

func TestRebaseKeepsBits32To127(t *testing.T) {
	in := netip.MustParseAddr("2a01:4f8:1:2::3")
	got := Rebase(in)
	if want := netip.MustParseAddr("2001:db8:1:2::3"); got != want {
		t.Fatalf("Rebase(%v) = %v, want %v", in, got, want)
	}
	a, b := in.As16(), got.As16()
	if [4]byte(b[:4]) != [4]byte{0x20, 0x01, 0x0d, 0xb8} {
		t.Errorf("first 32 bits = %x, want 20010db8", b[:4])
	}
	if [12]byte(a[4:]) != [12]byte(b[4:]) {
		t.Errorf("bits 32..127 changed: %x -> %x", a[4:], b[4:])
	}
}

func TestRebaseOfRandomAddressesStaysInDocPrefix(t *testing.T) {
	r := testutil.Rand(t)
	doc := netip.MustParsePrefix("2001:db8::/32")
	for range 1000 {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		in := netip.AddrFrom16(b)
		got := Rebase(in)
		if !doc.Contains(got) {
			t.Fatalf("Rebase(%v) = %v, outside %v", in, got, doc)
		}
		g := got.As16()
		if [12]byte(g[4:]) != [12]byte(b[4:]) {
			t.Fatalf("Rebase(%v) = %v: low 96 bits changed", in, got)
		}
	}
}

func TestRebaseOfIPv4IsZero(t *testing.T) {
	if got := Rebase(netip.MustParseAddr("192.0.2.1")); got.IsValid() {
		t.Fatalf("Rebase(192.0.2.1) = %v, want the zero Addr", got)
	}
	if got := Rebase(netip.Addr{}); got.IsValid() {
		t.Fatalf("Rebase(zero) = %v, want the zero Addr", got)
	}
}

func TestLoadSeedsSkipsCommentsAndBlanks(t *testing.T) {
	in := "# header\n\n2001:db8::1\n  2a01:4f8::2  # trailing comment\n\t\n2001:db8::1\n"
	got, err := LoadSeeds(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{
		netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("2a01:4f8::2"),
		netip.MustParseAddr("2001:db8::1"),
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestLoadSeedsReportsTheLine(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		line     int
	}{
		{"a malformed address", "2001:db8::1\n# c\nnot-an-address\n", 3},
		{"an IPv4 address", "2001:db8::1\n192.0.2.1\n", 2},
		{"a zone", "fe80::1%eth0\n", 1},
		{"a prefix", "\n\n\n2001:db8::/32\n", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadSeeds(strings.NewReader(tc.in))
			var se *SeedError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *SeedError", err)
			}
			if se.Line != tc.line {
				t.Fatalf("line = %d, want %d (%v)", se.Line, tc.line, err)
			}
			if !strings.Contains(err.Error(), "line ") {
				t.Fatalf("error %q does not name the line", err)
			}
		})
	}
}

func TestLoadSeedsReadsTheCommittedSeedList(t *testing.T) {
	f, err := os.Open("../../testdata/hitlist-seeds-6graph-5k.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seeds, err := LoadSeeds(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(seeds) < 5000 {
		t.Fatalf("%d seeds, want at least 5000", len(seeds))
	}
}

func TestUpRefusesAddressesOutsideAllowed(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"a planted address outside the documentation prefixes",
			Config{Planted: []netip.Addr{netip.MustParseAddr("2001:db9::1")}}},
		{"a planted IPv4 address", Config{Planted: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}},
		{"a planted address on the infrastructure links",
			Config{Planted: []netip.Addr{netip.MustParseAddr("3fff:0:1::2")}}},
		{"an AnyIP prefix outside the documentation prefixes",
			Config{AnyIP: []netip.Prefix{netip.MustParsePrefix("2a00::/16")}}},
		{"an AnyIP prefix wider than the documentation prefix",
			Config{AnyIP: []netip.Prefix{netip.MustParsePrefix("2001:d00::/24")}}},
		{"an AnyIP prefix covering the infrastructure", Config{AnyIP: []netip.Prefix{netip.MustParsePrefix("3fff::/20")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Name = testName("r")
			t.Cleanup(func() { _ = Down(context.Background(), tc.cfg.Name) })
			tb, err := Up(ctx, tc.cfg)
			if !errors.Is(err, ErrNotAllowed) {
				t.Fatalf("Up = %v, %v; want ErrNotAllowed", tb, err)
			}
			if scan, _, _, _ := Namespaces(tc.cfg.Name); exists(scan) {
				t.Fatal("Up created a namespace before refusing")
			}
		})
	}
}

func TestUpRefusesBadNames(t *testing.T) {
	for _, name := range []string{"a/b", "..", strings.Repeat("x", 33), "sp ace"} {
		if _, err := Up(t.Context(), Config{Name: name}); err == nil {
			t.Errorf("Up(Name %q) succeeded", name)
		}
	}
}
