// Package icmp owns widescan's probe: the ICMPv6 Echo Request wire format,
// its keyed validation, the raw-socket Sender, the dry-run PcapWriter and
// the rate Pacer. It never reads captures; package sniffer does, calling
// Key.Check on every Echo Reply.
//
// # Probe format, version 1
//
// A probe is an ICMPv6 Echo Request (RFC 4443 §4.1). An Echo Reply (RFC 4443
// §4.2) returns the identifier, sequence number and data unchanged, so a
// reply can be validated with no per-probe state. All integers are
// big-endian (network order).
//
//	offset  size  field
//	     0     1  type = 128 (Echo Request)
//	     1     1  code = 0
//	     2     2  checksum (filled by the kernel, or by Checksum)
//	     4     2  identifier      = mac[0:2]
//	     6     2  sequence number = mac[2:4]
//	payload (PayloadLen = 56 bytes), offsets from its start:
//	     0     4  magic "WSCN" (57 53 43 4e)
//	     4     1  version = 1
//	     5     1  flags: bit 0 FlagBeacon (a card follows), bit 1 FlagAnswer;
//	                 other bits 0 on send, ignored on receive
//	     6     2  reserved: 0 on send, ignored on receive
//	     8     8  scan ID
//	    16     8  sent: int64 nanoseconds since the Unix epoch (UTC)
//	    24    16  target: the probe's IPv6 destination
//	    40    16  mac
//	    56   140  beacon card, only with FlagBeacon (204 bytes when endorsed)
//
// mac = SipHash-2-4-128 (Aumasson and Bernstein; github.com/dchest/siphash
// Hash128) keyed by the 16-byte Key (k0 = little-endian Key[0:8], k1 =
// little-endian Key[8:16]) over the 49 bytes
//
//	version(1) ‖ scan ID(8) ‖ sent(8) ‖ target(16) ‖ source(16)
//
// where source, the probe's IPv6 source address, is not in the payload: it
// comes back as the reply's destination. The 128-bit result (h0, h1) is
// written as little-endian h0 then little-endian h1, the byte order of the
// SipHash reference output. A reply is valid when the magic and version
// match, the mac verifies for the reply's destination address, and identifier
// and sequence number equal mac[0:4]; so the identifier, sequence number and
// payload all carry the MAC, and a responder that rewrites any of them, or
// answers for another source, is rejected. Target is authenticated, so a hit
// names the address that was probed even when another address (the
// Responder) answers.
//
// # Golden probe
//
// Key 000102030405060708090a0b0c0d0e0f, scan ID 0x0102030405060708, sent
// time.Unix(1700000000, 123456789), target 2001:db8::1, source 2001:db8::53
// (checksum left 0; with the pseudo-header it would be 0xceb4):
//
//	00000000  80 00 00 00 e4 b6 db f2  57 53 43 4e 01 00 00 00  |........WSCN....|
//	00000010  01 02 03 04 05 06 07 08  17 97 9c fe 3d 85 cd 15  |............=...|
//	00000020  20 01 0d b8 00 00 00 00  00 00 00 00 00 00 00 01  | ...............|
//	00000030  e4 b6 db f2 19 e5 96 d8  64 2c 46 9e 35 5f aa 2e  |........d,F.5_..|
//
// The test TestGoldenProbe checks these bytes.
//
// # Beacons
//
// A probe may carry the sender's beacon card (type Card: network ID,
// address, ed25519 public key, service port, expiry, signature; layout in
// Card's documentation) after the 56 bytes above, with FlagBeacon set. The
// card is signed once, when an instance starts, by its own key, and copied
// into every probe; the probe MAC does not cover it. Other instances
// recognise it in the Echo Requests they receive (package sniffer); an Echo
// Reply carries the prober's own card back and is never a peer. An instance
// that answers a beacon sends its own card in an Echo Request with
// FlagAnswer, which is never answered in turn. Version 1 receivers that
// predate beacons reject a payload longer than 56 bytes as not a probe, so
// beacons are opt-in.
//
// Golden card: ed25519 key from the seed 00 01 … 1f, port 7000, expiry
// time.Unix(1700086400, 0), network NetworkFor("widescan-test"), address
// 2001:db8::53:
//
//	00000000  01 00 1b 58 00 00 00 00  65 55 42 80 e6 1f fa 22  |...X....eUB...."|
//	00000010  73 99 d7 6b c2 25 2f 68  bc 84 3f 35 20 01 0d b8  |s..k.%/h..?5 ...|
//	00000020  00 00 00 00 00 00 00 00  00 00 00 53 03 a1 07 bf  |...........S....|
//	00000030  f3 ce 10 be 1d 70 dd 18  e7 4b c0 99 67 e4 d6 30  |.....p...K..g..0|
//	00000040  9b a5 0d 5f 1d dc 86 64  12 55 31 b8 d2 16 cf 34  |..._...d.U1....4|
//	00000050  6d b5 16 bd af 8b 48 ce  b6 de 69 b5 c5 d2 c5 bb  |m.....H...i.....|
//	00000060  3a 7f e7 c5 64 ce 13 73  47 97 c8 9f a1 c8 6c 2a  |:...d..sG.....l*|
//	00000070  b3 48 9b 3f b6 b2 71 9e  50 55 da 1a 32 8c 5a ea  |.H.?..q.PU..2.Z.|
//	00000080  d1 60 92 87 ee ef c2 a0  42 3c db 06              |.`......B<..|
//
// The golden probe above with this card (AppendBeaconRequest) is the same
// 64 bytes with flags = 01, followed by the card. TestGoldenCard checks both.
//
// # Sending
//
// PacketSender (Linux) writes whole Ethernet frames (FrameLen bytes:
// Ethernet, IPv6, the ICMPv6 probe with its checksum) through an AF_PACKET
// socket with sendmmsg(2) batches and PACKET_QDISC_BYPASS; the frame is a
// template patched per target, the checksum of its constant parts computed
// once (AppendFrame writes the same bytes). Sender writes probes through a
// raw ICMPv6 socket with sendmmsg(2) batches, the outgoing interface forced
// by an IPV6_PKTINFO control message: the portable path, and the one for
// links without an Ethernet header. Pacer
// (golang.org/x/time/rate) spaces them to a rate in probes per second;
// PcapWriter writes the same packets to a pcap file instead (dry run).
// PacketSender, Sender and PcapWriter implement ProbeWriter.
package icmp
