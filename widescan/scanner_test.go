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

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/internal/testbed"
	"github.com/p2pnet/widescan/internal/testutil"
	"github.com/p2pnet/widescan/prefixes"
	"github.com/p2pnet/widescan/widescan"
)

var docPrefixes = []netip.Prefix{netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("3fff::/20")}

func windows(t testing.TB, specs ...string) []prefixes.Window {
	t.Helper()
	var ws []prefixes.Window
	for _, s := range specs {
		w, err := prefixes.ParseWindow(s, 0)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	return ws
}

func TestNewRejectsBadConfigs(t *testing.T) {
	tests := []struct {
		name string
		cfg  widescan.Config
		is   error
	}{
		{"no targets at all", widescan.Config{}, widescan.ErrNoTargets},
		{"every target blocked by the built-in list", widescan.Config{Targets: windows(t, "2001:db8::/48")}, widescan.ErrNoTargets},
		{"every target in an opt-out list", widescan.Config{
			Targets: windows(t, "2001:db8::/48"), Unblock: docPrefixes,
			Blocklist: []netip.Prefix{netip.MustParsePrefix("2001:db8::/40")},
		}, widescan.ErrNoTargets},
		{"unblocking space outside the built-in list", widescan.Config{
			Targets: windows(t, "2001:db8::/48"), Unblock: []netip.Prefix{netip.MustParsePrefix("2000::/3")},
		}, prefixes.ErrUnblock},
		{"a shard index past the shard count", widescan.Config{
			Targets: windows(t, "2001:db8::/48"), Unblock: docPrefixes, Shard: generator.Shard{Index: 3, Count: 3},
		}, nil},
		{"an IPv4 source address", widescan.Config{
			Targets: windows(t, "2001:db8::/48"), Unblock: docPrefixes, SourceIP: netip.MustParseAddr("192.0.2.1"),
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := widescan.New(tt.cfg)
			if err == nil {
				t.Fatal("New accepted the config")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("error %v is not %v", err, tt.is)
			}
		})
	}
}

func TestDryRunWritesEveryTargetOnceAndSendsNothing(t *testing.T) {
	var pcap bytes.Buffer
	s, err := widescan.New(widescan.Config{
		Targets:  windows(t, "2001:db8:1::/56-64", "2001:db8:2::/120-128", "2001:db8:3::1"),
		Unblock:  docPrefixes,
		SourceIP: netip.MustParseAddr("2001:db8::1"),
		Rate:     widescan.RateUnlimited,
		DryRun:   &pcap,
		Workers:  2,
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const want = 256 + 256 + 1
	if st.Targets != want || st.Sent != want || st.Generated != want {
		t.Fatalf("targets=%d sent=%d generated=%d, want %d each", st.Targets, st.Sent, st.Generated, want)
	}
	// 24-byte pcap header, then per packet a 16-byte record header and a
	// 104-byte IPv6 packet (40 header + 8 ICMPv6 + 56 payload).
	if got := pcap.Len(); got != 24+want*(16+104) {
		t.Fatalf("pcap is %d bytes, want %d", got, 24+want*(16+104))
	}
	if _, err := s.Run(context.Background()); err == nil {
		t.Fatal("a second Run was accepted")
	}
}

// TestScanFindsEveryPlantedHostInTheTestbed is the end-to-end tier: a real
// scan through the kernel's ICMPv6 stack in a sealed namespace testbed.
func TestScanFindsEveryPlantedHostInTheTestbed(t *testing.T) {
	testutil.RequirePriv(t)
	rng := testutil.Rand(t)
	// Planted hosts in 2001:db8:77::/48: low IIDs in random /64s, some
	// outside the IID range scanned, some outside the windows.
	var planted []netip.Addr
	want := map[netip.Addr]bool{}
	for i := 0; i < 60; i++ {
		subnet := rng.IntN(1 << 12)
		iid := 1 + rng.IntN(8)
		a := netip.MustParseAddr(fmt.Sprintf("2001:db8:77:%x::%x", subnet, iid))
		planted = append(planted, a)
		if iid <= 4 {
			want[a] = true // covered by /52-64 with low:4
		}
	}
	planted = append(planted, netip.MustParseAddr("2001:db8:78::1")) // outside the window
	name := fmt.Sprintf("wsc%d", os.Getpid()%100000)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
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
	iid, err := generator.ParseIID("low:4")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[netip.Addr]widescan.Hit{}
	var dups int
	cfg := widescan.Config{
		// 4096 /64s × 4 IIDs, plus 64 addresses of the AnyIP prefix, every
		// one of which answers.
		Targets:   windows(t, "2001:db8:77::/52-64", "3fff:100:0:1::/122-128"),
		IID:       iid,
		Unblock:   docPrefixes,
		Interface: tb.ScanIface,
		Rate:      50000,
		Cooldown:  time.Second,
		OnHit: func(h widescan.Hit) {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := got[h.Target]; ok {
				dups++
			}
			got[h.Target] = h
		},
	}
	st := mustScanIn(t, ctx, tb.ScannerNS, cfg)
	t.Logf("stats: %+v", st)
	if dups != 0 {
		t.Errorf("%d duplicate hits reported", dups)
	}
	anyip := netip.MustParsePrefix("3fff:100:0:1::/122")
	var aliased int
	for a, h := range got {
		switch {
		case anyip.Contains(a):
			aliased++
		case !want[a]:
			t.Errorf("hit %s is not a covered planted host", a)
		}
		if h.Responder != h.Target {
			t.Errorf("hit %s answered by %s", h.Target, h.Responder)
		}
		if h.HopLimit != 63 {
			t.Errorf("hit %s hop limit %d, want 63 (one router)", h.Target, h.HopLimit)
		}
		if h.RTT <= 0 || h.RTT > 5*time.Second {
			t.Errorf("hit %s RTT %s", h.Target, h.RTT)
		}
	}
	for a := range want {
		if _, ok := got[a]; !ok {
			t.Errorf("planted host %s not found", a)
		}
	}
	if aliased != 64 {
		t.Errorf("%d of 64 AnyIP targets answered", aliased)
	}
	if want := uint64(4096*4 + 64); st.Sent != want || st.Targets != want {
		t.Errorf("sent %d of %d targets, want %d", st.Sent, st.Targets, want)
	}
	if st.Invalid != 0 || st.KernelDrops != 0 {
		t.Errorf("invalid=%d kernel_drops=%d, want 0", st.Invalid, st.KernelDrops)
	}
	if st.Hits != uint64(len(got)) {
		t.Errorf("Stats.Hits=%d, handler saw %d", st.Hits, len(got))
	}
}

// TestStoppedScanReportsWhatItHas stops a scan mid-way: Run returns the
// context's error promptly, with the hits seen so far reported.
func TestStoppedScanReportsWhatItHas(t *testing.T) {
	testutil.RequirePriv(t)
	name := fmt.Sprintf("wsx%d", os.Getpid()%100000)
	ctx := context.Background()
	tb, err := testbed.Up(ctx, testbed.Config{Name: name, AnyIP: []netip.Prefix{netip.MustParsePrefix("3fff:100::/48")}})
	t.Cleanup(func() {
		if err := testbed.Down(context.Background(), name); err != nil {
			t.Errorf("testbed down: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var hits int
	var mu sync.Mutex
	cfg := widescan.Config{
		Targets:   windows(t, "3fff:100::/48-64"), // 65,536 targets at 20k probes/s: 3 s
		Unblock:   docPrefixes,
		Interface: tb.ScanIface,
		Rate:      20000,
		OnHit: func(widescan.Hit) {
			mu.Lock()
			hits++
			mu.Unlock()
		},
	}
	runCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	start := time.Now()
	st, err := scanIn(runCtx, tb.ScannerNS, cfg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run returned %v, want the context's deadline error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Run took %s to stop", d)
	}
	if st.Sent == 0 || st.Sent >= 65536 {
		t.Errorf("sent %d probes before the stop", st.Sent)
	}
	if hits == 0 || uint64(hits) != st.Hits {
		t.Errorf("handler saw %d hits, Stats.Hits=%d", hits, st.Hits)
	}
	t.Logf("stopped after %d probes with %d hits", st.Sent, hits)
}

// scanIn runs a scan of cfg inside the network namespace ns.
func scanIn(ctx context.Context, ns string, cfg widescan.Config) (widescan.Stats, error) {
	var st widescan.Stats
	err := testbed.RunIn(ns, func() error {
		s, err := widescan.New(cfg)
		if err != nil {
			return err
		}
		st, err = s.Run(ctx)
		return err
	})
	return st, err
}

// mustScanIn is scanIn that fails t on an error.
func mustScanIn(t *testing.T, ctx context.Context, ns string, cfg widescan.Config) widescan.Stats {
	t.Helper()
	st, err := scanIn(ctx, ns, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
