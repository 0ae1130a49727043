package sniffer

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/p2pnet/widescan/icmp"
)

// Fixed test inputs: the golden key of package icmp's docs.
var (
	testKey    = icmp.Key{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	testScanID = uint64(0x0102030405060708)
	ourAddr    = netip.MustParseAddr("2001:db8:1::1")
	testSent   = time.Unix(1700000000, 123456789)
	testRecv   = testSent.Add(12345 * time.Microsecond)
	ourMAC     = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	peerMAC    = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

func testConfig() Config { return Config{Key: testKey, ScanID: testScanID} }

// frameSpec describes one captured frame; the zero value (with target set)
// is a valid Echo Reply from the target to ourAddr.
type frameSpec struct {
	target    netip.Addr
	responder netip.Addr // default: target
	dst       netip.Addr // IPv6 destination; default: ourAddr
	key       *icmp.Key  // default: testKey
	scanID    *uint64    // default: testScanID
	typ       uint8      // ICMPv6 type; default: Echo Reply
	hopLimit  uint8      // default: 61
	mutate    func(msg []byte)
}

// frame serialises spec as Ethernet + IPv6 + ICMPv6 with a correct checksum.
func frame(t testing.TB, spec frameSpec) []byte {
	t.Helper()
	key, scan := testKey, testScanID
	if spec.key != nil {
		key = *spec.key
	}
	if spec.scanID != nil {
		scan = *spec.scanID
	}
	if !spec.responder.IsValid() {
		spec.responder = spec.target
	}
	if !spec.dst.IsValid() {
		spec.dst = ourAddr
	}
	if spec.typ == 0 {
		spec.typ = icmp.TypeEchoReply
	}
	if spec.hopLimit == 0 {
		spec.hopLimit = 61
	}
	msg := icmp.AppendEchoRequest(nil, key, icmp.Probe{ScanID: scan, Sent: testSent, Target: spec.target, Source: ourAddr})
	msg[0] = spec.typ
	if spec.mutate != nil {
		spec.mutate(msg)
	}
	c := icmp.Checksum(spec.responder, spec.dst, msg)
	msg[2], msg[3] = byte(c>>8), byte(c)
	return rawFrame(t, spec.responder, spec.dst, spec.hopLimit, msg)
}

// rawFrame wraps an ICMPv6 message in IPv6 and Ethernet headers.
func rawFrame(t testing.TB, src, dst netip.Addr, hopLimit uint8, msg []byte) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true},
		&layers.Ethernet{SrcMAC: peerMAC, DstMAC: ourMAC, EthernetType: layers.EthernetTypeIPv6},
		&layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: hopLimit, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()},
		gopacket.Payload(msg))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func ptr[T any](v T) *T { return &v }
