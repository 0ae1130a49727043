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
//	     5     1  flags: 0 on send, ignored on receive (reserved for beacons)
//	     6     2  reserved: 0 on send, ignored on receive
//	     8     8  scan ID
//	    16     8  sent: int64 nanoseconds since the Unix epoch (UTC)
//	    24    16  target: the probe's IPv6 destination
//	    40    16  mac
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
// # Sending
//
// Sender writes probes through a raw ICMPv6 socket with sendmmsg(2) batches,
// the outgoing interface forced by an IPV6_PKTINFO control message; Pacer
// (golang.org/x/time/rate) spaces them to a rate in probes per second;
// PcapWriter writes the same packets to a pcap file instead (dry run). Sender
// and PcapWriter implement ProbeWriter.
package icmp
