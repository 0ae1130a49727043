package testbed

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/p2pnet/widescan/internal/testutil"
)

var anyIPTest = netip.MustParsePrefix("3fff:100::/48")

// testName returns a testbed name unique to this process and suffix.
func testName(suffix string) string {
	return fmt.Sprintf("wt%d%s", os.Getpid()%100000, suffix)
}

// rebasedSeeds returns the committed seed list moved into 2001:db8::/32, deduplicated.
func rebasedSeeds(t *testing.T) []netip.Addr {
	t.Helper()
	f, err := os.Open("../../testdata/hitlist-seeds-6graph-5k.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seeds, err := LoadSeeds(f)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range seeds {
		seeds[i] = Rebase(a)
	}
	slices.SortFunc(seeds, netip.Addr.Compare)
	return slices.Compact(seeds)
}

// upForTest builds a testbed and removes it when t ends.
func upForTest(t *testing.T, cfg Config) *Testbed {
	t.Helper()
	testutil.RequirePriv(t)
	t.Cleanup(func() {
		start := time.Now()
		if err := Down(context.Background(), cfg.Name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		t.Logf("Down %s took %v", cfg.Name, time.Since(start))
	})
	start := time.Now()
	tb, err := Up(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Up %s (%d planted, %d AnyIP) took %v", tb.Name, len(tb.Planted), len(tb.AnyIP), time.Since(start))
	return tb
}

func TestUpTwiceGivesTheSameTestbed(t *testing.T) {
	seeds := rebasedSeeds(t)
	cfg := Config{Name: testName("i"), Planted: seeds, AnyIP: []netip.Prefix{anyIPTest}}
	upForTest(t, cfg)
	first, err := Status(t.Context(), cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := Up(t.Context(), cfg); err != nil {
		t.Fatalf("second Up: %v", err)
	}
	t.Logf("second Up took %v", time.Since(start))
	second, err := Status(t.Context(), cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Fatalf("status differs after a second Up:\nfirst:\n%s\nsecond:\n%s", first, second)
	}
	if !second.Up() || second.Planted != len(seeds) {
		t.Fatalf("after a second Up: %s", second)
	}
}

func TestStatusReportsTheTestbed(t *testing.T) {
	planted := []netip.Addr{
		netip.MustParseAddr("2001:db8:1::1"),
		netip.MustParseAddr("2001:db8:1::2"),
		netip.MustParseAddr("3fff:200::5"),
		netip.MustParseAddr("2001:db8:1::1"), // duplicate
	}
	cfg := Config{Name: testName("s"), Planted: planted, AnyIP: []netip.Prefix{anyIPTest}}
	tb := upForTest(t, cfg)
	st, err := Status(t.Context(), cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", st)
	if !st.Up() {
		t.Fatalf("not up: %s", st)
	}
	if st.Planted != 3 || len(tb.Planted) != 3 {
		t.Fatalf("planted %d (testbed says %d), want 3", st.Planted, len(tb.Planted))
	}
	if !slices.Equal(st.AnyIP, []netip.Prefix{anyIPTest}) {
		t.Fatalf("AnyIP %v, want [%v]", st.AnyIP, anyIPTest)
	}
	if len(st.Routes) == 0 {
		t.Fatal("no router routes")
	}
	if err := Down(t.Context(), cfg.Name); err != nil {
		t.Fatal(err)
	}
	st, err = Status(t.Context(), cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Down() || st.Planted != 0 || len(st.Routes) != 0 {
		t.Fatalf("after Down: %s", st)
	}
}

func TestDownRemovesEveryNamespace(t *testing.T) {
	cfg := Config{Name: testName("d"), Planted: []netip.Addr{netip.MustParseAddr("2001:db8::1")}}
	tb := upForTest(t, cfg)
	if err := Down(t.Context(), tb.Name); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{tb.ScannerNS, tb.RouterNS, tb.PlantedNS, tb.AnyIPNS} {
		if exists(ns) {
			t.Errorf("namespace %s still exists", ns)
		}
		if err := exec.Command("ip", "-n", ns, "link").Run(); err == nil {
			t.Errorf("ip -n %s link still works", ns)
		}
	}
	if err := Down(t.Context(), tb.Name); err != nil {
		t.Fatalf("Down of an absent testbed: %v", err)
	}
}

func TestDoRunsInTheNamespace(t *testing.T) {
	tb := upForTest(t, Config{Name: testName("n")})
	err := tb.Do(tb.ScannerNS, func() error {
		ifc, err := net.InterfaceByName(tb.ScanIface)
		if err != nil {
			return err
		}
		if ifc.HardwareAddr.String() != "02:77:73:01:00:02" {
			return fmt.Errorf("%s has MAC %v", tb.ScanIface, ifc.HardwareAddr)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("inside %s: %v", tb.ScannerNS, err)
	}
	if _, err := net.InterfaceByName(tb.ScanIface); err == nil {
		t.Fatalf("%s visible outside the namespace", tb.ScanIface)
	}
	if err := tb.Do(tb.Name+"-nonexistent", func() error { return nil }); err == nil {
		t.Fatal("Do in a missing namespace succeeded")
	}
	want := fmt.Errorf("from f")
	if err := tb.Do(tb.RouterNS, func() error { return want }); err != want {
		t.Fatalf("Do returned %v, want f's error", err)
	}
}

func TestPlantedAndAnyIPAnswerAndDeadSpaceIsSilent(t *testing.T) {
	r := testutil.Rand(t)
	seeds := rebasedSeeds(t)
	tb := upForTest(t, Config{Name: testName("p"), Planted: seeds, AnyIP: []netip.Prefix{anyIPTest}})

	planted := seeds[r.IntN(len(seeds))]
	b := anyIPTest.Addr().As16()
	binary.BigEndian.PutUint64(b[8:], r.Uint64())
	binary.BigEndian.PutUint16(b[6:], uint16(r.Uint32()))
	alias := netip.AddrFrom16(b)
	var dead netip.Addr
	for {
		b := netip.MustParseAddr("2001:db8::").As16()
		binary.BigEndian.PutUint64(b[8:], r.Uint64())
		binary.BigEndian.PutUint32(b[4:], r.Uint32())
		if _, found := slices.BinarySearchFunc(seeds, netip.AddrFrom16(b), netip.Addr.Compare); !found {
			dead = netip.AddrFrom16(b)
			break
		}
	}
	deadInfra := netip.MustParseAddr("3fff:5::1") // 3fff::/20 but not routed anywhere

	for _, tc := range []struct {
		name   string
		dst    netip.Addr
		answer bool
	}{
		{"a planted address answers", planted, true},
		{"a random address in the AnyIP prefix answers", alias, true},
		{"a dead address in 2001:db8::/32 is silent", dead, false},
		{"a dead address in 3fff::/20 is silent", deadInfra, false},
		{"the router answers", Gateway, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ping(tb, tc.dst, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if tc.answer && got != tc.dst {
				t.Fatalf("ping %v: no echo reply from it (got %q)", tc.dst, got)
			}
			if !tc.answer && got != "" {
				t.Fatalf("ping %v: want silence, got %s", tc.dst, got)
			}
			if _, err := exec.LookPath("ping"); err == nil {
				err := exec.Command("ip", "netns", "exec", tb.ScannerNS, "ping", "-6", "-n", "-c1", "-W1", tc.dst.String()).Run()
				if (err == nil) != tc.answer {
					t.Fatalf("ip netns exec %s ping -6 -c1 -W1 %v: %v", tb.ScannerNS, tc.dst, err)
				}
			}
		})
	}
}

// ping sends one ICMPv6 Echo Request from the scanner namespace and waits up to d. It
// returns "" when nothing came back, dst itself when dst sent the matching Echo Reply, and
// a description of any other ICMPv6 message (an error, or a reply from elsewhere).
func ping(tb *Testbed, dst netip.Addr, d time.Duration) (got any, err error) {
	var res string
	err = tb.Do(tb.ScannerNS, func() error {
		c, err := net.ListenPacket("ip6:ipv6-icmp", tb.ScannerAddr.String())
		if err != nil {
			return err
		}
		defer c.Close()
		id := uint16(os.Getpid())
		req := []byte{128, 0, 0, 0, byte(id >> 8), byte(id), 0, 1, 'w', 's'}
		if _, err := c.WriteTo(req, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return err
		}
		deadline := time.Now().Add(d)
		c.SetReadDeadline(deadline)
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					return nil
				}
				return err
			}
			src, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
			m := buf[:n]
			switch {
			case len(m) >= 8 && m[0] == 129 && binary.BigEndian.Uint16(m[4:]) == id && src == dst:
				res = "reply"
				return nil
			case len(m) >= 1 && m[0] < 128:
				res = fmt.Sprintf("ICMPv6 error type %d code %d from %v", m[0], m[1], src)
				return nil
			case len(m) >= 1 && m[0] == 129:
				res = fmt.Sprintf("echo reply from %v", src)
				return nil
			}
		}
	})
	if res == "reply" {
		return dst, err
	}
	if res == "" {
		return "", err
	}
	return res, err
}
