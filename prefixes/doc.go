// Package prefixes turns prefix sources into the target windows and the
// blocklist that a widescan scan is built from. It only parses and computes:
// it opens no sockets and holds no package-level state.
//
// # Target windows
//
// A Window is a prefix plus the bit range enumerated inside it, written in
// XMap notation: "2001:db8::/32-64" is every /64 inside 2001:db8::/32, 2^32
// subnets. A plain prefix means its own length to a maximum length (the
// --max-len flag, DefaultMaxLen = 64 by default), so "2001:db8::/48" is
// 2001:db8::/48-64; a prefix longer than the maximum is its own single
// subnet, and a single address is the window addr/128-128. ParseWindow parses
// one target; Window.Subnet maps an index to its subnet without allocating.
// The bits after a window's End are filled by the generator's IID mode.
//
// # Plain lists
//
// ParseTargets and ParseTargetFile read target lists, one target per line;
// ParsePrefixList and ParsePrefixFile read blocklist and opt-out files, one
// prefix or address per line. In both, '#' starts a comment and blank lines
// are skipped. Every malformed line is reported, as a *ParseError naming the
// file and line ("targets.txt:3: bad prefix ..."), so a user sees all
// problems of a file at once.
//
// ParseAliasList and ParseAliasFile read known aliased-prefix lists (the
// IPv6 Hitlist's one prefix per line, and the TBT detector's
// "# n PREFIX alised_possibility:K" lines) into Alias entries, with the same
// per-line error reporting.
//
// # The built-in blocklist
//
// Builtin returns the ranges a scan never probes unless told to, built from
// sources embedded at build time:
//
//   - the IANA IPv6 Special-Purpose Address Registry (RFC 6890, RFC 8190) as
//     published on 2023-03-15: loopback, unspecified, IPv4-mapped, NAT64,
//     discard-only, the IETF protocol assignments 2001::/23 (Teredo,
//     benchmarking, ORCHIDv2, ...), the documentation prefix 2001:db8::/32,
//     6to4, AS112, unique-local fc00::/7 and link-local fe80::/10;
//   - the registry's 2024–2025 additions, typed from its later versions:
//     2001:1::3/128 (RFC 9665), 5f00::/16 (RFC 9602), the documentation prefix
//     3fff::/20 (RFC 9637) and 100:0:0:1::/64 (RFC 9780);
//   - the multicast block ff00::/8 (RFC 4291 §2.7), which that registry does
//     not list.
//
// NewBlocklist lifts explicitly named parts of it (the testbed lifts exactly
// 2001:db8::/32 and 3fff::/20) and adds user blocklists; a lift that reaches
// outside the built-in list is an error wrapping ErrUnblock, never a silent
// exception. Blocklist.Subtract removes the blocked space from a list of
// windows.
//
// Set algebra (union, difference, intersection, aggregation into minimal
// prefix lists) is done with go4.org/netipx IP sets.
//
// # Registry and routing sources
//
// A Reader streams Records out of the files users already download, plain
// or gzip (detected by the magic bytes, not the name), in any Format:
//
//   - RPSL as in RIPE's split dumps (ripe.db.inet6num, ripe.db.route6) and
//     whois output: inet6num and route6 objects with their netname, country,
//     status, org, origin, mnt-by, created, last-modified and source;
//   - RIR delegated-extended statistics of the five RIRs (ipv6 lines);
//   - BGP tables: pyasn IPASN files and "prefix asn" lists;
//   - RIPEstat CSV "prefix,cc,name" and plain lists.
//
// Reader.Next (or the iterator Reader.All, or Records over several files)
// returns one record at a time; memory does not grow with the input, lines
// are bounded by MaxLineLen and RPSL objects by MaxObjectLen. A malformed
// record is a *ParseError naming file, line and reason (wrapping one of
// Reasons()) and is skipped; a caller that wants strict parsing stops at the
// first. A truncated gzip stream or a read error ends the Reader with an
// error naming the file.
//
// A Filter selects records by country, status (the registry's own values),
// netname or org expression, origin AS, source registry, prefix length,
// created and modified dates, and overlap with a routing table. Aggregate,
// Subtract, Intersect, Remainder and MostSpecific are the set operations the
// "widescan prefixes" command builds its output with.
package prefixes
