//go:build linux

package sniffer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/p2pnet/widescan/icmp"
	"github.com/p2pnet/widescan/internal/testutil"
)

func TestOpenErrors(t *testing.T) {
	if _, err := Open(Config{}); err == nil {
		t.Error("Open without an interface: no error")
	}
	if _, err := Open(Config{Interface: "ws-no-such-if0"}); err == nil || !strings.Contains(err.Error(), `interface "ws-no-such-if0"`) {
		t.Errorf("Open on an unknown interface: %v", err)
	}
}

// TestSnifferNetns probes through a veth pair between two private
// namespaces: A (2001:db8:1::1, Sender and Sniffer) and B (2001:db8:1::2,
// answered by B's kernel). Of one live target probed twice and three dead
// ones, exactly one Reply must come out.
func TestSnifferNetns(t *testing.T) {
	testutil.RequirePriv(t)
	a, b := fmt.Sprintf("ws-sn-a-%d", os.Getpid()), fmt.Sprintf("ws-sn-b-%d", os.Getpid())
	testutil.NewNetns(t, a)
	testutil.NewNetns(t, b)
	testutil.IP(t, "-n", a, "link", "add", "ws-va", "type", "veth", "peer", "name", "ws-vb", "netns", b)
	testutil.IP(t, "-n", a, "addr", "add", "2001:db8:1::1/64", "dev", "ws-va", "nodad")
	testutil.IP(t, "-n", b, "addr", "add", "2001:db8:1::2/64", "dev", "ws-vb", "nodad")
	testutil.IP(t, "-n", a, "link", "set", "ws-va", "up")
	testutil.IP(t, "-n", b, "link", "set", "ws-vb", "up")

	key, err := icmp.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddr("2001:db8:1::1")
	var (
		snd *icmp.Sender
		sn  *Sniffer
	)
	testutil.InNetns(t, a, func() {
		if snd, err = icmp.NewSender(icmp.SenderConfig{Interface: "ws-va", Source: src, Key: key, ScanID: 77}); err != nil {
			t.Fatal(err)
		}
		if sn, err = Open(Config{Interface: "ws-va", Key: key, ScanID: 77, RingBytes: 4 << 20}); err != nil {
			t.Fatal(err)
		}
	})
	defer snd.Close()
	defer sn.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	replies := make(chan Reply, 16)
	done := make(chan error, 1)
	go func() { done <- sn.Run(ctx, func(r Reply) { replies <- r }) }()

	var targets [][16]byte
	for _, s := range []string{"2001:db8:1::2", "2001:db8:1::3", "2001:db8:1::4", "2001:db8:1::2", "2001:db8:1::5"} {
		targets = append(targets, netip.MustParseAddr(s).As16())
	}
	if n, err := snd.Send(ctx, targets); n != len(targets) || err != nil {
		t.Fatalf("Send = %d, %v", n, err)
	}

	r := testutil.WaitChan(t, replies, 5*time.Second)
	if want := netip.MustParseAddr("2001:db8:1::2"); r.Target != want || r.Responder != want || r.HopLimit != 64 || r.RTT <= 0 || r.RTT > 5*time.Second {
		t.Fatalf("Reply = %+v", r)
	}
	time.Sleep(300 * time.Millisecond) // let the duplicate and any stray reply arrive
	cancel()
	if err := testutil.WaitChan(t, done, 2*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	close(replies)
	for r := range replies {
		t.Errorf("unexpected second Reply %+v", r)
	}
	st := sn.Stats()
	if st != (Stats{Received: 2, Valid: 1, Duplicate: 1}) {
		t.Errorf("Stats = %+v, want 2 received, 1 valid, 1 duplicate, nothing else", st)
	}
	if err := sn.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sn.Run(context.Background(), func(Reply) {}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
	if got := sn.Stats(); got != st {
		t.Errorf("Stats after Close = %+v, want %+v", got, st)
	}
}
