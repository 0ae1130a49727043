package generator

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"

	"github.com/p2pnet/widescan/prefixes"
)

// ErrListAddr is wrapped by the prefixes.ParseError of a target list line
// that is not a single IPv6 address.
var ErrListAddr = errors.New("want one IPv6 address per line")

// u128 is an IPv6 address as a 128-bit integer.
type u128 struct{ hi, lo uint64 }

func cmpU128(a, b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

// u128FromBytes returns the address a (16 bytes, network order) as a u128.
func u128FromBytes(a [16]byte) u128 {
	return u128{binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])}
}

func u128From(a netip.Addr) u128 { return u128FromBytes(a.As16()) }

func (x u128) addr() netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], x.hi)
	binary.BigEndian.PutUint64(b[8:], x.lo)
	return netip.AddrFrom16(b)
}

// TargetList is a set of exact target addresses, the list mode of a scan
// (what ZMapv6 users give as a target file): Generator visits each address
// once, in the permuted order of the whole index space, and never one that
// is blocked. It holds the addresses sorted and deduplicated, 16 bytes each.
// A TargetList is immutable and safe for concurrent use; the zero value
// (or nil) is the empty list.
type TargetList struct {
	addrs []u128
}

// NewTargetList returns the list of the given IPv6 addresses, duplicates
// dropped. Zones are dropped; it returns an error wrapping ErrListAddr for
// an IPv4 or IPv4-mapped address.
func NewTargetList(addrs []netip.Addr) (*TargetList, error) {
	l := &TargetList{addrs: make([]u128, 0, len(addrs))}
	for _, a := range addrs {
		if !a.Is6() || a.Is4In6() {
			return nil, fmt.Errorf("%s: %w", a, ErrListAddr)
		}
		l.addrs = append(l.addrs, u128From(a))
	}
	l.normalize()
	return l, nil
}

func (l *TargetList) normalize() {
	slices.SortFunc(l.addrs, cmpU128)
	l.addrs = slices.Compact(l.addrs)
}

// ReadTargetList reads a target list from r: one IPv6 address per line, as
// netip.ParseAddr reads it ("2001:db8::1"). Everything from a '#' to the end
// of its line is a comment; surrounding whitespace, blank lines, CRLF line
// ends and a leading UTF-8 byte order mark are ignored. Duplicates are
// dropped. name labels the source in errors.
//
// It stops at the first malformed line and returns a *prefixes.ParseError
// naming it, wrapping ErrListAddr (an IPv4 or IPv4-mapped address, a zone, a
// prefix, anything but one address) or prefixes.ErrLineTooLong (a line over
// prefixes.MaxLineLen bytes); a read error is returned wrapped.
func ReadTargetList(r io.Reader, name string) (*TargetList, error) {
	l := &TargetList{}
	parse := func(b []byte) (netip.Addr, bool) {
		a, err := netip.ParseAddr(string(b))
		return a, err == nil && a.Is6() && !a.Is4In6() && a.Zone() == ""
	}
	if err := readAddrLines(r, name, parse, ErrListAddr, func(a netip.Addr) { l.addrs = append(l.addrs, u128From(a)) }); err != nil {
		return nil, err
	}
	l.normalize()
	return l, nil
}

// ReadTargetListFile reads the target list in the file at path (see
// ReadTargetList); "-" reads standard input.
func ReadTargetListFile(path string) (*TargetList, error) {
	return readPath(path, "target list", ReadTargetList)
}

// Len returns the number of distinct addresses in l.
func (l *TargetList) Len() int {
	if l == nil {
		return 0
	}
	return len(l.addrs)
}

// Addr returns the i-th address of l in ascending order, 0 <= i < Len().
func (l *TargetList) Addr(i int) netip.Addr { return l.addrs[i].addr() }

// unblocked returns the addresses of l that bl does not block, l's own
// slice when none is blocked. Both lists are sorted, so it is one merge.
func (l *TargetList) unblocked(bl *prefixes.Blocklist) []u128 {
	if l.Len() == 0 {
		return nil
	}
	ranges := bl.IPSet().Ranges()
	var out []u128
	r := 0
	for i, a := range l.addrs {
		for r < len(ranges) && cmpU128(u128From(ranges[r].To()), a) < 0 {
			r++
		}
		blocked := r < len(ranges) && cmpU128(u128From(ranges[r].From()), a) <= 0
		switch {
		case blocked && out == nil:
			out = append(make([]u128, 0, len(l.addrs)-1), l.addrs[:i]...)
		case !blocked && out != nil:
			out = append(out, a)
		}
	}
	if out == nil {
		return l.addrs
	}
	return out
}
