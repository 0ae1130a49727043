package icmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Frame layout of the packet send path: Ethernet II (14 bytes), IPv6 (40
// bytes, RFC 8200 §3, no extension headers), then the ICMPv6 Echo Request
// of AppendEchoRequest or AppendBeaconRequest with its checksum filled in.
const (
	// EthernetHeaderLen is the length of the Ethernet II header of a frame.
	EthernetHeaderLen = 14
	// IPv6HeaderLen is the length of the fixed IPv6 header.
	IPv6HeaderLen = 40
	// FrameHeaderLen is the length of the headers before the ICMPv6
	// message in a frame: 54 bytes.
	FrameHeaderLen = EthernetHeaderLen + IPv6HeaderLen
	// WireOverhead is what Ethernet adds on the wire around each frame:
	// preamble and start delimiter (8), frame check sequence (4) and the
	// minimum inter-frame gap (12), in bytes. ZMap and XMap count the same
	// 24 bytes when they turn a bandwidth into a rate.
	WireOverhead = 24
)

// ErrNoGatewayMAC reports that the packet send path has no link-layer
// address for the next hop: the kernel's neighbour table has no usable
// entry for the gateway. Give it with -G/--gateway-mac
// (PacketConfig.GatewayMAC), or use the raw send path.
var ErrNoGatewayMAC = errors.New("icmp: no link-layer address for the gateway")

// ErrPacketUnsupported is returned by NewPacketSender on systems without
// AF_PACKET (all but Linux): use the raw Sender.
var ErrPacketUnsupported = errors.New("icmp: the packet send path needs Linux AF_PACKET")

// FrameLen returns the length in bytes of one frame of the packet send path
// for c: FrameHeaderLen plus the ICMPv6 message (EchoLen, plus the card).
func (c SenderConfig) FrameLen() int { return FrameHeaderLen + c.msgLen() }

// WireBits returns the bits one probe of c takes on an Ethernet wire,
// (FrameLen + WireOverhead) · 8: the divisor that turns a bandwidth in
// bits/s into a rate in probes/s.
func (c SenderConfig) WireBits() int { return (c.FrameLen() + WireOverhead) * 8 }

// frameTemplate holds a frame with every field that does not change per
// probe already written, and the partial checksums of the constant parts.
type frameTemplate struct {
	cfg     SenderConfig
	hdr     [FrameHeaderLen]byte
	pseudo  uint64 // source address, upper-layer length and next header of the pseudo-header
	cardSum uint64 // the card's 32-bit words (it follows the 64-byte message)
}

func newFrameTemplate(cfg SenderConfig, dstMAC, srcMAC net.HardwareAddr) (*frameTemplate, error) {
	if len(dstMAC) != 6 || len(srcMAC) != 6 {
		return nil, fmt.Errorf("icmp: link-layer addresses %v and %v: want 6-byte Ethernet addresses", dstMAC, srcMAC)
	}
	ft := &frameTemplate{cfg: cfg}
	h := ft.hdr[:]
	copy(h[0:6], dstMAC)
	copy(h[6:12], srcMAC)
	binary.BigEndian.PutUint16(h[12:14], 0x86dd)
	ip := h[EthernetHeaderLen:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:6], uint16(cfg.msgLen()))
	ip[6] = 58 // next header: ICMPv6
	ip[7] = uint8(cfg.hopLimit())
	src := cfg.Source.As16()
	copy(ip[8:24], src[:])
	ft.pseudo = sum32(src[:]) + uint64(cfg.msgLen()) + 58
	ft.cardSum = sum32(cfg.Card) // EchoLen is a multiple of 4: the card starts word-aligned
	return ft, nil
}

// sum32 adds b as big-endian 32-bit words (a trailing partial word padded
// with zeros). Folded to 16 bits it is the ones'-complement sum of b as
// 16-bit words (RFC 1071), since 2^16 ≡ 1 mod 0xffff.
func sum32(b []byte) uint64 {
	var s uint64
	for len(b) >= 4 {
		s += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	switch len(b) {
	case 3:
		s += uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8
	case 2:
		s += uint64(b[0])<<24 | uint64(b[1])<<16
	case 1:
		s += uint64(b[0]) << 24
	}
	return s
}

func fold(s uint64) uint16 {
	s = s>>32 + s&0xffffffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s)
}

// write writes the frame for probe p into f, which must hold
// cfg.FrameLen() bytes, and returns f. It does not allocate.
func (ft *frameTemplate) write(f []byte, p Probe) []byte {
	f = f[:ft.cfg.FrameLen()]
	copy(f, ft.hdr[:])
	dst := p.Target.As16()
	copy(f[EthernetHeaderLen+24:FrameHeaderLen], dst[:])
	m := ft.cfg.encode(f[FrameHeaderLen:FrameHeaderLen], p)
	// The checksum field is 0 after encode, so it adds nothing.
	s := ft.pseudo + sum32(dst[:]) + sum32(m[:EchoLen]) + ft.cardSum
	binary.BigEndian.PutUint16(m[2:4], ^fold(s))
	return f
}

// AppendFrame appends to b the Ethernet frame that the packet send path
// sends for probe p under cfg (cfg.Source, hop limit, Key, card), from
// srcMAC to dstMAC: FrameLen bytes, with the ICMPv6 checksum filled in. It
// is what a PacketSender writes, for tests and tools. Errors: cfg invalid,
// or a MAC that is not 6 bytes long.
func AppendFrame(b []byte, cfg SenderConfig, dstMAC, srcMAC net.HardwareAddr, p Probe) ([]byte, error) {
	if err := cfg.Validate(); err != nil {
		return b, err
	}
	ft, err := newFrameTemplate(cfg, dstMAC, srcMAC)
	if err != nil {
		return b, err
	}
	n := len(b)
	b = append(b, make([]byte, cfg.FrameLen())...)
	p.Source = cfg.Source
	ft.write(b[n:], p)
	return b, nil
}

// targetAddr is netip.AddrFrom16 without the generic conversion cost in the
// hot loop.
func targetAddr(t [16]byte) netip.Addr { return netip.AddrFrom16(t) }
