package widescan_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/internal/testbed"
	"github.com/p2pnet/widescan/internal/testutil"
	"github.com/p2pnet/widescan/widescan"
)

// peerLog collects peers from a handler.
type peerLog struct {
	mu    sync.Mutex
	peers []widescan.Peer
}

func (l *peerLog) add(p widescan.Peer) {
	l.mu.Lock()
	l.peers = append(l.peers, p)
	l.mu.Unlock()
}

func (l *peerLog) get() []widescan.Peer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]widescan.Peer(nil), l.peers...)
}

func newBeacon(t *testing.T, topic string, port uint16) *widescan.Beacon {
	t.Helper()
	id, err := widescan.LoadOrCreateIdentity(filepath.Join(t.TempDir(), "id.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &widescan.Beacon{Identity: id, Topic: topic, Port: port}
}

// instanceScan is a scan of every instance address of a testbed.
func instanceScan(t *testing.T, b *widescan.Beacon, log *peerLog, ifname string) widescan.Config {
	iid, err := generator.ParseIID("fixed:::2")
	if err != nil {
		t.Fatal(err)
	}
	return widescan.Config{
		Targets:   windows(t, "3fff:0:100::/40-48"),
		IID:       iid,
		Unblock:   docPrefixes,
		Interface: ifname,
		Rate:      widescan.RateUnlimited,
		Cooldown:  time.Second,
		Beacon:    b,
		OnPeer:    log.add,
	}
}

func upInstances(t *testing.T, suffix string, n int) *testbed.Testbed {
	t.Helper()
	testutil.RequirePriv(t)
	name := fmt.Sprintf("wp%d%s", os.Getpid()%100000, suffix)
	t.Cleanup(func() {
		if err := testbed.Down(context.Background(), name); err != nil {
			t.Errorf("testbed down: %v", err)
		}
	})
	tb, err := testbed.Up(t.Context(), testbed.Config{Name: name, Instances: n})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// TestScannerAndListenerDiscoverEachOther: instance 0 scans with its beacon,
// instance 1 listens. The listener reports the scanner (it probed us) and
// answers once; the scanner reports the listener from the answer.
func TestScannerAndListenerDiscoverEachOther(t *testing.T) {
	tb := upInstances(t, "l", 2)
	a, b := tb.Instances[0], tb.Instances[1]
	ba, bb := newBeacon(t, "test swarm", 7001), newBeacon(t, "test swarm", 7002)
	var la, lb peerLog

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	l, err := widescan.NewListener(widescan.ListenConfig{Interface: b.Iface, Beacon: bb, OnPeer: lb.add})
	if err != nil {
		t.Fatal(err)
	}
	lerr := make(chan error, 1)
	go func() {
		lerr <- testbed.RunIn(b.NS, func() error { _, err := l.Run(ctx); return err })
	}()
	for l.Stats().Start.IsZero() {
		time.Sleep(10 * time.Millisecond)
	}

	var hits []netip.Addr
	cfg := instanceScan(t, ba, &la, a.Iface)
	cfg.OnHit = func(h widescan.Hit) { hits = append(hits, h.Target) }
	st := mustScanIn(t, ctx, a.NS, cfg)
	cancel()
	if err := testutil.WaitChan(t, lerr, 5*time.Second); err != nil {
		t.Fatalf("listener: %v", err)
	}
	lst := l.Stats()
	t.Logf("scanner: %+v", st)
	t.Logf("listener: %+v", lst)

	if got := lb.get(); len(got) != 1 || got[0].Addr != a.Addr || !got[0].PublicKey.Equal(ba.Identity.PublicKey()) ||
		got[0].Port != 7001 || got[0].Via != widescan.ViaProbe || got[0].NetworkID != ba.Network() {
		t.Errorf("listener peers = %+v, want the scanner %v via probe", got, a.Addr)
	}
	if got := la.get(); len(got) != 1 || got[0].Addr != b.Addr || !got[0].PublicKey.Equal(bb.Identity.PublicKey()) ||
		got[0].Port != 7002 || got[0].Via != widescan.ViaAnswer {
		t.Errorf("scanner peers = %+v, want the listener %v via answer", got, b.Addr)
	}
	if len(hits) != 1 || hits[0] != b.Addr {
		t.Errorf("hits = %v, want [%v]", hits, b.Addr)
	}
	if lst.Answers != 1 || lst.AnswerEchoes != 1 || st.Answers != 0 {
		t.Errorf("listener answers=%d answer_echoes=%d, scanner answers=%d; want 1, 1, 0", lst.Answers, lst.AnswerEchoes, st.Answers)
	}
	// The window covers the scanner's own address. On the packet send path
	// that probe leaves through the router (no local routing), which sends
	// it back: the scanner then sees its own card once, counted in Self.
	selfOK := st.Self == 0 || st.Self == 1 && st.SendPath == widescan.SendPathPacket
	if st.Peers != 1 || lst.Peers != 1 || st.Forged+lst.Forged+lst.Self != 0 || !selfOK {
		t.Errorf("peer counters: scanner %+v listener %+v", st, lst)
	}
}

// TestTwoScannersDiscoverEachOther: two instances scan the instance window
// at the same time and each finds the other. A third instance, of another
// swarm, scans once both are listening (in their cooldown): its card is
// counted as wrong-network by both, never reported.
func TestTwoScannersDiscoverEachOther(t *testing.T) {
	tb := upInstances(t, "s", 3)
	beacons := []*widescan.Beacon{newBeacon(t, "swarm", 1), newBeacon(t, "swarm", 2), newBeacon(t, "other swarm", 3)}
	logs := make([]peerLog, 3)
	stats := make([]widescan.Stats, 3)
	scanners := make([]*widescan.Scanner, 3)
	for i, in := range tb.Instances {
		cfg := instanceScan(t, beacons[i], &logs[i], in.Iface)
		cfg.Cooldown = 2 * time.Second
		s, err := widescan.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		scanners[i] = s
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, in := range tb.Instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 2 { // wait until the others sent everything: they listen
				for scanners[0].Stats().LastProbe.IsZero() || scanners[1].Stats().LastProbe.IsZero() {
					time.Sleep(5 * time.Millisecond)
				}
			}
			errs[i] = testbed.RunIn(in.NS, func() error {
				var err error
				stats[i], err = scanners[i].Run(t.Context())
				return err
			})
		}()
	}
	wg.Wait()
	for i := range 3 {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	for i := range 2 {
		other := 1 - i
		got := logs[i].get()
		if len(got) != 1 || got[0].Addr != tb.Instances[other].Addr || !got[0].PublicKey.Equal(ed25519.PublicKey(beacons[other].Identity.PublicKey())) {
			t.Errorf("instance %d peers = %+v, want instance %d", i, got, other)
		}
		if stats[i].WrongNetwork != 1 {
			t.Errorf("instance %d counted %d wrong-network cards, want 1: %+v", i, stats[i].WrongNetwork, stats[i])
		}
	}
	if got := logs[2].get(); len(got) != 0 {
		t.Errorf("the other swarm's instance reported %+v", got)
	}
}
