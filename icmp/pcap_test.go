package icmp

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// onesSum is an independent RFC 1071 checksum: the one's complement sum of
// the pseudo-header and the message, including its checksum field. It is
// 0xffff for a message with a correct checksum.
func onesSum(src, dst net16, msg []byte) uint16 {
	var b []byte
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(msg)))
	b = append(b, 0, 0, 0, 58)
	b = append(b, msg...)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	var s uint64
	for i := 0; i < len(b); i += 2 {
		s += uint64(binary.BigEndian.Uint16(b[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

type net16 = [16]byte

func TestPcapWriter(t *testing.T) {
	cfg := SenderConfig{Source: netip.MustParseAddr("2001:db8::53"), HopLimit: 17, Key: goldenKey(), ScanID: 99}
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	targets := [][16]byte{
		netip.MustParseAddr("2001:db8::1").As16(),
		netip.MustParseAddr("2001:db8:1:2:3:4:5:6").As16(),
		netip.MustParseAddr("3fff::ffff").As16(),
	}
	before := time.Now()
	if n, err := w.Send(context.Background(), targets); n != len(targets) || err != nil {
		t.Fatalf("Send = %d, %v", n, err)
	}
	if st := w.Stats(); st != (SenderStats{Sent: 3}) {
		t.Fatalf("Stats = %+v", st)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Send(context.Background(), targets); err == nil {
		t.Fatal("Send after Close: no error")
	}

	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeRaw {
		t.Fatalf("link type %v, want raw", r.LinkType())
	}
	for i, target := range targets {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if ci.Timestamp.Before(before.Truncate(time.Microsecond)) || ci.Timestamp.After(time.Now()) {
			t.Errorf("record %d: timestamp %v not during Send", i, ci.Timestamp)
		}
		pkt := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		if el := pkt.ErrorLayer(); el != nil {
			t.Fatalf("record %d: decode: %v", i, el.Error())
		}
		ip, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		ic, _ := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		echo, _ := pkt.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo)
		if ip == nil || ic == nil || echo == nil {
			t.Fatalf("record %d: layers %v", i, pkt.Layers())
		}
		if ip.Version != 6 || ip.HopLimit != 17 || ip.NextHeader != layers.IPProtocolICMPv6 ||
			int(ip.Length) != EchoLen || len(data) != 40+EchoLen {
			t.Errorf("record %d: IPv6 header %+v, %d bytes", i, ip, len(data))
		}
		if !bytes.Equal(ip.SrcIP, cfg.Source.AsSlice()) || !bytes.Equal(ip.DstIP, target[:]) {
			t.Errorf("record %d: %v -> %v", i, ip.SrcIP, ip.DstIP)
		}
		if ic.TypeCode != layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0) {
			t.Errorf("record %d: type %v", i, ic.TypeCode)
		}
		msg := data[40:]
		if s := onesSum(cfg.Source.As16(), target, msg); s != 0xffff || ic.Checksum == 0 {
			t.Errorf("record %d: checksum %#04x does not verify (sum %#04x)", i, ic.Checksum, s)
		}
		pr, err := cfg.Key.Check(echo.Identifier, echo.SeqNumber, echo.Payload, cfg.Source)
		if err != nil || pr.ScanID != 99 || pr.Target != netip.AddrFrom16(target) || !pr.Sent.Equal(ci.Timestamp.Add(pr.Sent.Sub(ci.Timestamp)%time.Microsecond)) {
			t.Errorf("record %d: Check = %+v, %v", i, pr, err)
		}
	}
	if _, _, err := r.ReadPacketData(); err == nil {
		t.Fatal("more records than probes")
	}
}

func TestPcapWriterConfig(t *testing.T) {
	for _, cfg := range []SenderConfig{
		{},
		{Source: netip.MustParseAddr("192.0.2.1")},
		{Source: netip.MustParseAddr("::ffff:192.0.2.1")},
		{Source: netip.MustParseAddr("::")},
		{Source: netip.MustParseAddr("2001:db8::1"), HopLimit: 256},
	} {
		if _, err := NewPcapWriter(&bytes.Buffer{}, cfg); err == nil {
			t.Errorf("NewPcapWriter(%+v): no error", cfg)
		}
	}
}

func TestPcapWriterCancel(t *testing.T) {
	w, err := NewPcapWriter(&bytes.Buffer{}, SenderConfig{Source: netip.MustParseAddr("2001:db8::53")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := w.Send(ctx, make([][16]byte, 10)); n != 0 || err == nil {
		t.Fatalf("Send with a cancelled context = %d, %v", n, err)
	}
}

// TestPcapWriterBeacon: with SenderConfig.Card every probe carries the card
// (FlagBeacon), with Answer also FlagAnswer, and the MAC still validates.
func TestPcapWriterBeacon(t *testing.T) {
	card, err := AppendCard(nil, goldenIdentity(), goldenCard())
	if err != nil {
		t.Fatal(err)
	}
	for _, answer := range []bool{false, true} {
		cfg := SenderConfig{Source: netip.MustParseAddr("2001:db8::53"), Key: goldenKey(), ScanID: 5, Card: card, Answer: answer}
		var buf bytes.Buffer
		w, err := NewPcapWriter(&buf, cfg)
		if err != nil {
			t.Fatal(err)
		}
		target := netip.MustParseAddr("2001:db8::9")
		if n, err := w.Send(context.Background(), [][16]byte{target.As16()}); n != 1 || err != nil {
			t.Fatalf("Send = %d, %v", n, err)
		}
		r, err := pcapgo.NewReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		data, _, err := r.ReadPacketData()
		if err != nil || len(data) != 40+EchoLen+CardLen {
			t.Fatalf("record: %d bytes, %v", len(data), err)
		}
		msg := data[40:]
		if s := onesSum(cfg.Source.As16(), target.As16(), msg); s != 0xffff {
			t.Errorf("checksum does not verify (sum %#04x)", s)
		}
		flags, got, err := SplitPayload(msg[8:])
		want := uint8(FlagBeacon)
		if answer {
			want |= FlagAnswer
		}
		if err != nil || flags != want || !bytes.Equal(got, card) {
			t.Fatalf("SplitPayload = %#x, %x, %v", flags, got, err)
		}
		id, seq := uint16(msg[4])<<8|uint16(msg[5]), uint16(msg[6])<<8|uint16(msg[7])
		if _, err := cfg.Key.Check(id, seq, msg[8:], cfg.Source); err != nil {
			t.Fatalf("Check: %v", err)
		}
	}
	bad := SenderConfig{Source: netip.MustParseAddr("2001:db8::53"), Card: card[:10]}
	if _, err := NewPcapWriter(new(bytes.Buffer), bad); err == nil {
		t.Error("a truncated card was accepted")
	}
	if _, err := NewPcapWriter(new(bytes.Buffer), SenderConfig{Source: netip.MustParseAddr("2001:db8::53"), Answer: true}); err == nil {
		t.Error("an answer without a card was accepted")
	}
}
