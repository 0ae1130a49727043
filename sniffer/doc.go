// Package sniffer captures and validates the replies to widescan's probes.
//
// A Sniffer reads Ethernet frames from an AF_PACKET TPACKET_V3 ring
// (github.com/gopacket/gopacket/afpacket, pure Go, no libpcap) filtered in
// the kernel by a classic BPF program (Filter: inbound IPv6 ICMPv6 Echo
// Replies, Echo Requests and errors). A Decoder, which opens no sockets and can replay captures,
// decodes each frame with a zero-allocation gopacket DecodingLayerParser,
// validates it statelessly with icmp.Key.Check (the probe's MAC covers
// target, source, scan ID and send time; see package icmp for the payload
// layout, RFC 4443 §4.1/4.2 for Echo), keeps only the configured scan, and
// deduplicates exactly by Target. ICMPv6 errors (RFC 4443 §3: Destination
// Unreachable, Packet Too Big, Time Exceeded, Parameter Problem) are
// validated through the invoking packet they quote: its Echo Request must
// carry a MAC that verifies for the quoted source, and its quoted
// destination must be the MAC'd target; they are reported as Replies with
// their Type, Code and Info, the router as Responder. Every frame is counted in Stats, including
// the kernel's ring drops: loss is counted, never silent.
//
// With Config.Peers it also recognises other widescan instances: beacon
// cards (icmp.Card) in inbound Echo Requests are checked (network, expiry,
// source address, ed25519 signature, our own key, trust policy; each
// rejection counted by reason) and each new (key, address) is reported as a
// Peer through RunEvents or Decoder.DecodeEvent. An Echo Reply never yields
// a peer: it carries our own card back.
//
// Typical use, with sockets opened on the right network namespace:
//
//	s, err := sniffer.Open(sniffer.Config{Interface: "eth0", Key: key, ScanID: id})
//	if err != nil { ... }
//	defer s.Close()
//	err = s.Run(ctx, func(r sniffer.Reply) { hits <- r }) // until ctx is done
package sniffer
