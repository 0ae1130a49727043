package sniffer

import "golang.org/x/net/bpf"

// SnapLen is how many bytes of each accepted frame the capture filter keeps:
// enough for Ethernet (14) + 802.1Q (4) + IPv6 (40) + ICMPv6 Echo (8) + a
// probe payload with an endorsed beacon card (56 + 204), with room for
// future payload versions.
const SnapLen = 512

// packetOutgoing is the AF_PACKET packet type of frames this host sent
// (PACKET_OUTGOING, linux/if_packet.h).
const packetOutgoing = 4

// Filter returns the classic BPF program Open attaches to the capture socket
// (assembled with golang.org/x/net/bpf; no libpcap). It accepts, truncated to
// SnapLen, the Ethernet frames that
//
//   - were not sent by this host (ancillary packet type != PACKET_OUTGOING),
//   - carry IPv6 (EtherType 0x86DD at offset 12),
//   - with next header ICMPv6 (58, offset 14+6) and no extension headers,
//   - of type Echo Reply (129, offset 14+40), Echo Request (128: other
//     instances' beacons), or an ICMPv6 error: Destination Unreachable (1),
//     Packet Too Big (2), Time Exceeded (3), Parameter Problem (4)
//     (RFC 4443 §3),
//
// and drops all others. It is equivalent to the tcpdump expression
// "inbound and ip6[6] = 58 and (ip6[40] = 129 or ip6[40] = 128 or
// (ip6[40] >= 1 and ip6[40] <= 4))".
func Filter() ([]bpf.RawInstruction, error) { return bpf.Assemble(filterProgram(true)) }

// filterProgram returns the filter; without the packet type test (which
// x/net/bpf's VM cannot run) it can be tested in userspace.
func filterProgram(pktType bool) []bpf.Instruction {
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},                           // 0: EtherType
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x86dd, SkipTrue: 8}, // 1: → drop
		bpf.LoadAbsolute{Off: 14 + 6, Size: 1},                       // 2: IPv6 next header
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 58, SkipTrue: 6},     // 3: → drop
		bpf.LoadAbsolute{Off: 14 + 40, Size: 1},                      // 4: ICMPv6 type
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 129, SkipTrue: 3},       // 5: → accept
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 128, SkipTrue: 2},       // 6: → accept
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: 4, SkipTrue: 2},   // 7: → drop
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1},         // 8: → drop
		bpf.RetConstant{Val: SnapLen},                                // 9: accept
		bpf.RetConstant{Val: 0},                                      // 10: drop
	}
	if pktType {
		prog = append([]bpf.Instruction{
			bpf.LoadExtension{Num: bpf.ExtType},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: uint8(len(prog) - 1)}, // → drop
		}, prog...)
	}
	return prog
}
