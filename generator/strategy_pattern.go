package generator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strings"
)

// MaxPatternWildcards is the most wildcard nybbles a Pattern may have: 16^15
// = 2^60 addresses; 16 would make 2^64, past the index space.
const MaxPatternWildcards = 15

// ErrPattern is wrapped by ParsePattern for a malformed pattern.
var ErrPattern = errors.New("bad pattern")

// Pattern is a nybble template over a whole IPv6 address: each of the 32
// hex digits is fixed or a wildcard, and the pattern stands for the 16^W
// addresses that set the W wildcards to every value. It is written as an
// IPv6 address in which a hex digit may be "*" (ParsePattern), so
// "2001:db8::*:1" is the 16 addresses 2001:db8::0:1 … 2001:db8::f:1.
//
// Pattern is a small comparable value. The zero value is the single address
// "::".
type Pattern struct {
	addr [16]byte // fixed nybbles; the wildcards are zero
	wild uint32   // bit 31-i set: nybble i (0 the most significant) is a wildcard
}

// ParsePattern parses a pattern: IPv6 text (RFC 4291 §2.2, with at most one
// "::" standing for one or more zero groups, and no embedded IPv4 or zone) in
// which each hex digit may instead be "*", a wildcard nybble. A group is
// one to four digits and wildcards, right aligned as in an address: "*"
// is the group 000*, "**" the group 00**, "****" the whole group, "1*"
// 001*. So "2001:db8:*:*::1:*" has three wildcards, 4,096 addresses, the
// last being 2001:db8:f:f::1:f. At most MaxPatternWildcards wildcards are
// allowed. Errors wrap ErrPattern; String round-trips the result.
// Surrounding whitespace is ignored.
func ParsePattern(s string) (Pattern, error) {
	s = strings.TrimSpace(s)
	fail := func(why string) (Pattern, error) {
		return Pattern{}, fmt.Errorf("%q: %s: %w", s, why, ErrPattern)
	}
	var left, right []string
	head, tail, gap := strings.Cut(s, "::")
	if head != "" {
		left = strings.Split(head, ":")
	}
	if gap {
		if strings.Contains(tail, "::") {
			return fail(`more than one "::"`)
		}
		if tail != "" {
			right = strings.Split(tail, ":")
		}
	}
	switch n := len(left) + len(right); {
	case !gap && n != 8:
		return fail("want 8 groups or a \"::\"")
	case gap && n > 7:
		return fail(`"::" must stand for at least one group`)
	}
	groups := make([]string, 0, 8)
	groups = append(groups, left...)
	for range 8 - len(left) - len(right) {
		groups = append(groups, "0")
	}
	groups = append(groups, right...)
	var p Pattern
	for g, grp := range groups {
		if len(grp) < 1 || len(grp) > 4 {
			return fail("a group must have 1 to 4 hex digits or wildcards")
		}
		for i := range len(grp) {
			c := grp[i]
			nyb := 4*g + 4 - len(grp) + i // nybble index from the left
			var v byte
			switch {
			case c == '*':
				p.wild |= 1 << (31 - uint(nyb))
				continue
			case '0' <= c && c <= '9':
				v = c - '0'
			case 'a' <= c && c <= 'f':
				v = c - 'a' + 10
			case 'A' <= c && c <= 'F':
				v = c - 'A' + 10
			default:
				return fail(fmt.Sprintf("%q is not a hex digit or *", c))
			}
			p.addr[nyb/2] |= v << (4 * uint(1-nyb%2))
		}
	}
	if w := p.Wildcards(); w > MaxPatternWildcards {
		return fail(fmt.Sprintf("%d wildcards, at most %d", w, MaxPatternWildcards))
	}
	return p, nil
}

// PatternFromAddr returns the pattern of the single address a (no
// wildcards). a must be IPv6; a zone is dropped.
func PatternFromAddr(a netip.Addr) Pattern { return Pattern{addr: a.As16()} }

// Wildcards returns W, the number of wildcard nybbles.
func (p Pattern) Wildcards() int { return bits.OnesCount32(p.wild) }

// Count returns the number of addresses of p, 16^W.
func (p Pattern) Count() uint64 { return 1 << (4 * uint(p.Wildcards())) }

// Addr returns the i-th address of p, i < Count(): the wildcards, read from
// left to right as the hex digits of one number, spell i. It panics if
// i >= Count().
func (p Pattern) Addr(i uint64) netip.Addr {
	if i >= p.Count() {
		panic("generator: Pattern.Addr index out of range")
	}
	hi, lo := p.at(i)
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], hi)
	binary.BigEndian.PutUint64(a[8:], lo)
	return netip.AddrFrom16(a)
}

// bounds returns the first and last address of p.
func (p Pattern) bounds() (first, last netip.Addr) {
	return p.Addr(0), p.Addr(p.Count() - 1)
}

// at returns the i-th address as a 128-bit integer.
func (p Pattern) at(i uint64) (hi, lo uint64) {
	hi = binary.BigEndian.Uint64(p.addr[:8])
	lo = binary.BigEndian.Uint64(p.addr[8:])
	for w := p.wild; w != 0; w &= w - 1 {
		nyb := bits.TrailingZeros32(w) // 0 the least significant nybble
		v := i & 15
		i >>= 4
		if nyb >= 16 {
			hi |= v << (4 * uint(nyb-16))
		} else {
			lo |= v << (4 * uint(nyb))
		}
	}
	return hi, lo
}

// String returns p as ParsePattern reads it: lower-case hex, leading zeros
// of each group dropped (wildcards are kept), and the longest run of two or
// more zero groups, the first of equal runs, written "::" (as RFC 5952 §4
// writes addresses).
func (p Pattern) String() string {
	const hex = "0123456789abcdef"
	var groups [8]string
	for g := range groups {
		var b []byte
		for i := range 4 {
			nyb := 4*g + i
			switch {
			case p.wild&(1<<(31-uint(nyb))) != 0:
				b = append(b, '*')
			case len(b) > 0 || i == 3 || p.addr[nyb/2]>>(4*uint(1-nyb%2))&15 != 0:
				b = append(b, hex[p.addr[nyb/2]>>(4*uint(1-nyb%2))&15])
			}
		}
		groups[g] = string(b)
	}
	best, bestLen := -1, 1
	for g := 0; g < 8; {
		if groups[g] != "0" {
			g++
			continue
		}
		e := g
		for e < 8 && groups[e] == "0" {
			e++
		}
		if e-g > bestLen {
			best, bestLen = g, e-g
		}
		g = e
	}
	if best < 0 {
		return strings.Join(groups[:], ":")
	}
	return strings.Join(groups[:best], ":") + "::" + strings.Join(groups[best+bestLen:], ":")
}
