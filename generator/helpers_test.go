package generator

import (
	"net/netip"
	"testing"

	"github.com/p2pnet/widescan/prefixes"
)

// testbedBlocklist is the built-in blocklist with the documentation prefixes
// lifted, as the testbed runs it.
func testbedBlocklist(t testing.TB, extra ...string) *prefixes.Blocklist {
	t.Helper()
	var ex []netip.Prefix
	for _, s := range extra {
		ex = append(ex, netip.MustParsePrefix(s))
	}
	bl, err := prefixes.NewBlocklist(ex, []netip.Prefix{
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("3fff::/20"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return bl
}

func mustWindows(t testing.TB, ss ...string) []prefixes.Window {
	t.Helper()
	var ws []prefixes.Window
	for _, s := range ss {
		w, err := prefixes.ParseWindow(s, 0)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	return ws
}

func mustNew(t testing.TB, cfg Config) *Generator {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}

func addr(a [16]byte) netip.Addr { return netip.AddrFrom16(a) }
