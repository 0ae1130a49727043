package generator

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"slices"
)

// ErrSeed is wrapped by the prefixes.ParseError of a seed file line that is
// neither an IPv6 address nor 32 hex digits.
var ErrSeed = errors.New("want an IPv6 address or 32 hex digits")

// ParseSeeds reads a seed file from r: one known-active IPv6 address
// (a Seed) per line, either in text form ("2001:db8::1", compressed or not)
// or as the 32 hex digits of the hitlist files
// ("20010db8000000000000000000000001", either case). Everything from a '#'
// to the end of its line is a comment; surrounding whitespace, blank lines,
// CRLF line ends and a leading UTF-8 byte order mark are ignored. name
// labels the source in errors.
//
// It returns the seeds sorted and deduplicated. It stops at the first
// malformed line and returns a *prefixes.ParseError naming it (1-based line
// number) and wrapping ErrSeed (IPv4, IPv4-mapped, zoned, a prefix, or
// anything but one address) or prefixes.ErrLineTooLong; a read error is
// returned wrapped with name. ParseSeeds is safe for concurrent use on
// distinct readers.
func ParseSeeds(r io.Reader, name string) ([]netip.Addr, error) {
	var out []netip.Addr
	if err := readAddrLines(r, name, parseSeed, ErrSeed, func(a netip.Addr) { out = append(out, a) }); err != nil {
		return nil, err
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}

// parseSeed parses one trimmed, non-empty seed line.
func parseSeed(b []byte) (netip.Addr, bool) {
	if len(b) == 32 && bytes.IndexByte(b, ':') < 0 {
		var a [16]byte
		if _, err := hex.Decode(a[:], b); err != nil {
			return netip.Addr{}, false
		}
		x := netip.AddrFrom16(a)
		return x, !x.Is4In6()
	}
	a, err := netip.ParseAddr(string(b))
	if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}

// ReadSeedFile reads the seed file at path (see ParseSeeds); "-" reads
// standard input.
func ReadSeedFile(path string) ([]netip.Addr, error) {
	return readPath(path, "seed file", ParseSeeds)
}
