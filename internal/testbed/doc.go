// Package testbed builds a sealed IPv6 topology of Linux network namespaces for widescan's
// privileged tests and the demo. Responders answer through the kernel's own ICMPv6 stack.
//
// # Topology
//
// Four namespaces, named after Config.Name (default "ws"), joined by veth pairs that are
// created directly inside them, so nothing is added to the host's namespace:
//
//	Name-scan  scan0  3fff:0:1::2/64 ── rscan0 3fff:0:1::1/64  Name-rtr
//	Name-rtr   rresp1 3fff:0:2::1/64 ── resp0  3fff:0:2::2/64  Name-resp1 (planted /128s on lo)
//	Name-rtr   rresp2 3fff:0:3::1/64 ── resp0  3fff:0:3::2/64  Name-resp2 (AnyIP: local routes)
//
// With Config.Instances = N, N more namespaces Name-i0 … Name-i(N-1) join the router the
// same way, each on its own link: interface inst0, address 3fff:0:1ii::2/64 (ii = i in
// hex), router side rinstI 3fff:0:1ii::1/64, and the scanner's routes. Several widescan
// instances run there and scan each other: the window 3fff:0:100::/40-48 with the IID
// fixed:::2 holds every instance address.
//
// Every veth has a fixed locally administered MAC and a permanent neighbour entry for its
// peer on both sides, DAD is off, and ICMPv6 rate limiting is off in every namespace, so a run
// sends no Neighbour Discovery and every echo is answered. Routes:
//
//   - scanner: 2001:db8::/32 and 3fff::/20 via 3fff:0:1::1.
//   - router (forwarding on): 2001:db8::/32 to resp1; each planted address outside
//     2001:db8::/32 to resp1 as a /128; each AnyIP prefix to resp2; the rest of 3fff::/20
//     blackholed.
//   - resp1, resp2: 3fff::/20 back via their router; 2001:db8::/32 blackholed.
//
// Local addresses and local routes win over the blackholes, so planted addresses and AnyIP
// prefixes answer while dead space stays silent: no ICMPv6 errors come back for it.
//
// # Safety
//
// Planted addresses and AnyIP prefixes must lie inside Allowed (the documentation prefixes
// 2001:db8::/32 and 3fff::/20) and outside Infra (3fff:0::/32, the infrastructure links);
// Up refuses anything else. Up and Down touch only the four namespaces they name.
//
// Everything here needs root and the iproute2 `ip` binary; see testutil.RequirePriv.
package testbed
