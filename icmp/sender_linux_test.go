//go:build linux

package icmp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	xicmp "golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"

	"github.com/p2pnet/widescan/internal/testutil"
)

func TestSenderUnknownInterface(t *testing.T) {
	_, err := NewSender(SenderConfig{Interface: "ws-no-such-if0", Source: netip.MustParseAddr("2001:db8::1")})
	if err == nil || !strings.Contains(err.Error(), `interface "ws-no-such-if0"`) {
		t.Fatalf("NewSender on an unknown interface: %v", err)
	}
	if _, err := NewSender(SenderConfig{Source: netip.MustParseAddr("2001:db8::1")}); err == nil {
		t.Fatal("NewSender without an interface: no error")
	}
}

// TestSenderPermission runs itself again without CAP_NET_RAW (setpriv(1)
// drops it from the bounding set) and expects ErrPermission there.
func TestSenderPermission(t *testing.T) {
	if os.Getenv("WIDESCAN_TEST_NO_NET_RAW") != "1" {
		testutil.RequirePriv(t)
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skip("needs setpriv(1) to drop CAP_NET_RAW")
		}
		cmd := exec.Command(setpriv, "--bounding-set", "-net_raw", os.Args[0], "-test.run=^TestSenderPermission$", "-test.v")
		cmd.Env = append(os.Environ(), "WIDESCAN_TEST_NO_NET_RAW=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestSenderPermission") {
			t.Fatalf("without CAP_NET_RAW: %v\n%s", err, out)
		}
		return
	}
	_, err := NewSender(SenderConfig{Interface: "lo", Source: netip.MustParseAddr("::1")})
	if !errors.Is(err, ErrPermission) {
		t.Fatalf("NewSender without CAP_NET_RAW: %v, want ErrPermission", err)
	}
	t.Log(err)
}

// TestSenderNetns sends probes on lo in a private namespace, where the
// kernel answers its own address, and checks what a raw socket observes:
// the requests (hop limit, validity) and the replies (which Check accepts).
func TestSenderNetns(t *testing.T) {
	name := fmt.Sprintf("ws-ic-%d", os.Getpid())
	testutil.NewNetns(t, name, "addr add 2001:db8::1/128 dev lo nodad", "addr add 2001:db8::2/128 dev lo nodad")
	src := netip.MustParseAddr("2001:db8::1")
	cfg := SenderConfig{Interface: "lo", Source: src, HopLimit: 33, Key: goldenKey(), ScanID: 42}

	var s *Sender
	var obs *ipv6.PacketConn
	testutil.InNetns(t, name, func() {
		var err error
		if s, err = NewSender(cfg); err != nil {
			t.Fatal(err)
		}
		c, err := net.ListenPacket("ip6:ipv6-icmp", "::")
		if err != nil {
			t.Fatal(err)
		}
		obs = ipv6.NewPacketConn(c)
	})
	defer s.Close()
	defer obs.Close()
	if err := obs.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst, true); err != nil {
		t.Fatal(err)
	}

	targets := [][16]byte{
		netip.MustParseAddr("2001:db8::2").As16(),   // answers
		netip.MustParseAddr("2001:db8:9::1").As16(), // no route: a counted error
		netip.MustParseAddr("2001:db8::1").As16(),   // answers (ourselves)
	}
	n, err := s.Send(context.Background(), targets)
	if err != nil || n != 2 {
		t.Fatalf("Send = %d, %v; want 2, nil", n, err)
	}
	if st := s.Stats(); st != (SenderStats{Sent: 2, Errors: 1}) {
		t.Fatalf("Stats = %+v, want 2 sent, 1 error", st)
	}

	requests, replies := map[netip.Addr]bool{}, map[netip.Addr]bool{}
	buf := make([]byte, 1500)
	obs.SetReadDeadline(time.Now().Add(3 * time.Second))
	for len(requests) < 2 || len(replies) < 2 {
		nr, cm, _, err := obs.ReadFrom(buf)
		if err != nil {
			t.Fatalf("observed requests %v replies %v, then: %v", requests, replies, err)
		}
		m, err := xicmp.ParseMessage(58, buf[:nr])
		if err != nil {
			t.Fatal(err)
		}
		echo, ok := m.Body.(*xicmp.Echo)
		if !ok {
			continue // neighbour discovery etc.
		}
		pr, err := cfg.Key.Check(uint16(echo.ID), uint16(echo.Seq), echo.Data, src)
		switch m.Type {
		case ipv6.ICMPTypeEchoRequest:
			if err != nil || pr.ScanID != 42 || cm.HopLimit != 33 {
				t.Fatalf("request to %v: %+v, %v, hop limit %d", cm.Dst, pr, err, cm.HopLimit)
			}
			requests[pr.Target] = true
		case ipv6.ICMPTypeEchoReply:
			if err != nil || pr.ScanID != 42 || !bytes.Equal(cm.Dst, src.AsSlice()) {
				t.Fatalf("reply to %v: %+v, %v", cm.Dst, pr, err)
			}
			if rtt := time.Since(pr.Sent); rtt < 0 || rtt > 3*time.Second {
				t.Fatalf("reply RTT %v", rtt)
			}
			replies[pr.Target] = true
		}
	}
	for _, a := range []string{"2001:db8::1", "2001:db8::2"} {
		if !replies[netip.MustParseAddr(a)] {
			t.Errorf("no reply for %s", a)
		}
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), targets); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Send after Close: %v, want net.ErrClosed", err)
	}
}
