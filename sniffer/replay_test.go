package sniffer

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"

	"github.com/p2pnet/widescan/icmp"
)

var update = flag.Bool("update", false, "rewrite testdata/replies.pcap")

const replayFile = "testdata/replies.pcap"

// replayFrames is the content of testdata/replies.pcap: a scan's capture with
// every case the decoder must tell apart.
func replayFrames(t testing.TB) [][]byte {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	other := icmp.Key{0: 1}
	return [][]byte{
		frame(t, frameSpec{target: a("2001:db8:1::2")}),                                          // valid
		frame(t, frameSpec{target: a("2001:db8:1::2"), typ: icmp.TypeEchoRequest}),               // request: ignored
		frame(t, frameSpec{target: a("2001:db8:1::3"), responder: a("2001:db8:1::ff")}),          // valid, other responder
		frame(t, frameSpec{target: a("2001:db8:1::2")}),                                          // duplicate
		frame(t, frameSpec{target: a("2001:db8:1::4"), key: &other}),                             // forged: invalid
		frame(t, frameSpec{target: a("2001:db8:1::5"), scanID: ptr(uint64(9))}),                  // other scan: invalid
		rawFrame(t, a("2001:db8:1::6"), ourAddr, 64, []byte{129, 0, 0, 0, 0, 7, 0, 1, 'h', 'i'}), // ping: not a probe
		frame(t, frameSpec{target: a("2001:db8:1::7")})[:50],                                     // truncated: ignored
		frame(t, frameSpec{target: a("3fff::7"), hopLimit: 250}),                                 // valid
	}
}

func TestReplayPcap(t *testing.T) {
	if *update {
		var buf bytes.Buffer
		w := pcapgo.NewWriterNanos(&buf) // nanosecond timestamps keep RTTs exact
		if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			t.Fatal(err)
		}
		for i, f := range replayFrames(t) {
			ci := gopacket.CaptureInfo{Timestamp: testRecv.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
			if err := w.WritePacket(ci, f); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(replayFile, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fh, err := os.Open(replayFile)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := pcapgo.NewReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(testConfig())
	var got []Reply
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rep, ok := d.Decode(data, ci.Timestamp); ok {
			got = append(got, rep)
		}
	}
	want := []Reply{
		{Target: netip.MustParseAddr("2001:db8:1::2"), Responder: netip.MustParseAddr("2001:db8:1::2"), HopLimit: 61, Type: 129, Time: testRecv},
		{Target: netip.MustParseAddr("2001:db8:1::3"), Responder: netip.MustParseAddr("2001:db8:1::ff"), HopLimit: 61, Type: 129, Time: testRecv.Add(2 * time.Millisecond)},
		{Target: netip.MustParseAddr("3fff::7"), Responder: netip.MustParseAddr("3fff::7"), HopLimit: 250, Type: 129, Time: testRecv.Add(8 * time.Millisecond)},
	}
	if len(got) != len(want) {
		t.Fatalf("replies %+v, want %+v", got, want)
	}
	for i := range want {
		want[i].RTT = want[i].Time.Sub(testSent)
		if !got[i].Time.Equal(want[i].Time) || got[i].RTT != want[i].RTT {
			t.Errorf("reply %d: time %v rtt %v, want %v %v", i, got[i].Time, got[i].RTT, want[i].Time, want[i].RTT)
		}
		got[i].Time = want[i].Time
		if got[i] != want[i] {
			t.Errorf("reply %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if st, want := d.Stats(), (Stats{Received: 7, Valid: 3, Duplicate: 1, Invalid: 2, OtherScan: 1, NotProbe: 1, Ignored: 2}); st != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
}

func TestFilter(t *testing.T) {
	if _, err := Filter(); err != nil {
		t.Fatalf("Filter: %v", err)
	}
	vm, err := bpf.NewVM(filterProgram(false)) // the VM cannot load the packet type
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range replayFrames(t) {
		n, err := vm.Run(f)
		if err != nil {
			t.Fatal(err)
		}
		wantAccept := i != 7 // not the truncated frame (echo requests may carry beacons)
		if (n > 0) != wantAccept || n > SnapLen {
			t.Errorf("frame %d: filter returned %d, accept %v", i, n, wantAccept)
		}
	}
	na := rawFrame(t, target2, ourAddr, 255, append([]byte{136, 0, 0, 0, 0x60, 0, 0, 0}, target2.AsSlice()...))
	ipv4 := append(bytes.Clone(na[:12]), 0x08, 0x00, 0x45)
	ipv4 = append(ipv4, make([]byte, 60)...)
	for typ := uint8(1); typ <= 4; typ++ {
		if n, _ := vm.Run(errorFrame(t, typ, 0, 0, probePacket(t, testKey, target2))); n == 0 {
			t.Errorf("filter dropped an ICMPv6 error of type %d", typ)
		}
	}
	for _, f := range [][]byte{na, ipv4, errorFrame(t, 5, 0, 0, nil), errorFrame(t, 0, 0, 0, nil)} {
		if n, _ := vm.Run(f); n != 0 {
			t.Errorf("filter accepted %x", f)
		}
	}
}
