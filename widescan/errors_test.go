package widescan_test

import (
	"context"
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

// TestSendPathsFindTheSameHitsAndErrors scans the testbed through both send
// paths: planted hosts answer with Echo Replies, the router answers an
// unreachable prefix with Destination Unreachable, and every probe with hop
// limit 1 draws a Time Exceeded from the router. The packet path finds
// exactly what the raw path finds.
func TestSendPathsFindTheSameHitsAndErrors(t *testing.T) {
	testutil.RequirePriv(t)
	name := fmt.Sprintf("wse%d", os.Getpid()%100000)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	planted := []netip.Addr{
		netip.MustParseAddr("2001:db8:77:1::1"), netip.MustParseAddr("2001:db8:77:2a::1"),
		netip.MustParseAddr("2001:db8:77:ff::1"),
	}
	tb, err := testbed.Up(ctx, testbed.Config{Name: name, Planted: planted,
		Unreachable: []netip.Prefix{netip.MustParsePrefix("2001:db8:dead::/48")}})
	t.Cleanup(func() {
		if err := testbed.Down(context.Background(), name); err != nil {
			t.Errorf("testbed down: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		target     netip.Addr
		typ, code  uint8
		responder  netip.Addr
		hopLimitOK bool
	}
	scan := func(path widescan.SendPath, hop int, targets ...string) map[key]bool {
		var mu sync.Mutex
		got := map[key]bool{}
		cfg := widescan.Config{
			Targets: windows(t, targets...), Unblock: docPrefixes, Interface: tb.ScanIface,
			Rate: 20000, Cooldown: 500 * time.Millisecond, HopLimit: hop, SendPath: path,
			OnHit: func(h widescan.Hit) {
				mu.Lock()
				defer mu.Unlock()
				got[key{h.Target, h.Type, h.Code, h.Responder, h.HopLimit == 64 || h.HopLimit == 63}] = true
			},
		}
		st, err := scanIn(ctx, tb.ScannerNS, cfg)
		if err != nil {
			t.Fatalf("%s path: %v", path, err)
		}
		if st.SendPath != path || st.Invalid != 0 || st.KernelDrops != 0 {
			t.Errorf("%s path: Stats %+v", path, st)
		}
		return got
	}
	gw := testbed.Gateway
	for _, tc := range []struct {
		name    string
		hop     int
		targets []string
		want    func(k key) bool
		count   int
	}{
		{"echo replies and destination unreachable", 0, []string{"2001:db8:77::/56-64", "2001:db8:dead::/120-128"},
			func(k key) bool {
				if k.typ == 129 {
					return k.responder == k.target && k.code == 0
				}
				return k.typ == 1 && k.code == 0 && k.responder == gw && k.hopLimitOK
			}, 3 + 256},
		{"time exceeded at hop limit 1", 1, []string{"2001:db8:77::/120-128"},
			func(k key) bool { return k.typ == 3 && k.code == 0 && k.responder == gw && k.hopLimitOK }, 256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := scan(widescan.SendPathRaw, tc.hop, tc.targets...)
			pkt := scan(widescan.SendPathPacket, tc.hop, tc.targets...)
			if len(raw) != tc.count {
				t.Errorf("raw path: %d results, want %d", len(raw), tc.count)
			}
			for k := range raw {
				if !tc.want(k) {
					t.Errorf("raw path: unexpected result %+v", k)
				}
				if !pkt[k] {
					t.Errorf("packet path missed %+v", k)
				}
			}
			for k := range pkt {
				if !raw[k] {
					t.Errorf("packet path found %+v, the raw path did not", k)
				}
			}
		})
	}
}

// TestCapsAndRepeatedProbes: Probes sends every target that many times
// (the extra replies count as duplicates), MaxResults stops the run at that
// many hits without error, MaxRuntime ends the send phase, and SetRate
// changes the rate of a running scan.
func TestCapsAndRepeatedProbes(t *testing.T) {
	testutil.RequirePriv(t)
	name := fmt.Sprintf("wsk%d", os.Getpid()%100000)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tb, err := testbed.Up(ctx, testbed.Config{Name: name, AnyIP: []netip.Prefix{netip.MustParsePrefix("3fff:100::/48")}})
	t.Cleanup(func() {
		if err := testbed.Down(context.Background(), name); err != nil {
			t.Errorf("testbed down: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	run := func(cfg widescan.Config, during func(*widescan.Scanner)) (widescan.Stats, int) {
		cfg.Unblock, cfg.Interface, cfg.Cooldown = docPrefixes, tb.ScanIface, 300*time.Millisecond
		var mu sync.Mutex
		hits := 0
		cfg.OnHit = func(widescan.Hit) { mu.Lock(); hits++; mu.Unlock() }
		var st widescan.Stats
		err := tb.Do(tb.ScannerNS, func() error {
			s, err := widescan.New(cfg)
			if err != nil {
				return err
			}
			if during != nil {
				go during(s)
			}
			st, err = s.Run(ctx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return st, hits
	}
	st, hits := run(widescan.Config{Targets: windows(t, "3fff:100::/52-64"), Rate: 50000, Probes: 3}, nil)
	if st.Sent != 3*4096 || hits != 4096 || st.Duplicate != 2*4096 {
		t.Errorf("Probes 3: sent %d, hits %d, duplicates %d; want %d, 4096, %d", st.Sent, hits, st.Duplicate, 3*4096, 2*4096)
	}
	st, hits = run(widescan.Config{Targets: windows(t, "3fff:100::/48-64"), Rate: 20000, MaxResults: 100}, nil)
	if hits != 100 || st.Hits != 100 || st.Sent >= 65536 {
		t.Errorf("MaxResults 100: %d hits (Stats %d), %d sent", hits, st.Hits, st.Sent)
	}
	st, _ = run(widescan.Config{Targets: windows(t, "3fff:100::/48-64"), Rate: 10000, MaxRuntime: 300 * time.Millisecond}, nil)
	if d := st.LastProbe.Sub(st.Start); st.Sent == 0 || st.Sent > 5000 || d > 600*time.Millisecond {
		t.Errorf("MaxRuntime 300ms: sent %d in %v", st.Sent, d)
	}
	// 20,000 targets at 1,000/s would take 20 s; SetRate(100k) after 200 ms
	// finishes them in well under 2 s.
	st, _ = run(widescan.Config{Targets: windows(t, "3fff:100::/48-64"), MaxTargets: 20000, Rate: 1000}, func(s *widescan.Scanner) {
		time.Sleep(200 * time.Millisecond)
		s.SetRate(100000)
	})
	if d := st.LastProbe.Sub(st.Start); st.Sent != 20000 || d > 2*time.Second {
		t.Errorf("SetRate: sent %d in %v", st.Sent, d)
	}
}
