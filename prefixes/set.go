package prefixes

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"go4.org/netipx"
)

// Set algebra on prefix lists, built on go4.org/netipx IP sets. The functions
// take masked IPv6 prefixes (Records' prefixes are), never modify their
// arguments, return freshly allocated slices sorted by address, and are safe
// for concurrent use. Their only error is netipx's for an invalid prefix.

// SetOf returns the set of addresses covered by the prefixes of all lists.
func SetOf(lists ...[]netip.Prefix) (*netipx.IPSet, error) {
	var b netipx.IPSetBuilder
	for _, ps := range lists {
		for _, p := range ps {
			b.AddPrefix(p)
		}
	}
	s, err := b.IPSet()
	if err != nil {
		return nil, fmt.Errorf("prefix set: %w", err)
	}
	return s, nil
}

// Aggregate returns the union of the lists as the fewest disjoint prefixes
// covering exactly the same addresses: duplicates and covered prefixes
// disappear and adjacent ones merge.
func Aggregate(lists ...[]netip.Prefix) ([]netip.Prefix, error) {
	s, err := SetOf(lists...)
	if err != nil {
		return nil, err
	}
	return s.Prefixes(), nil
}

// Subtract returns the addresses of ps that are in none of the minus lists
// (blocklists, opt-out files, Team Cymru's fullbogons, the built-in
// blocklist's Prefixes) as the fewest disjoint prefixes. It runs in time
// linear in the sizes of the sets after sorting (netipx's RemoveSet is
// quadratic on lists as long as the fullbogons).
func Subtract(ps []netip.Prefix, minus ...[]netip.Prefix) ([]netip.Prefix, error) {
	a, err := SetOf(ps)
	if err != nil {
		return nil, err
	}
	m, err := SetOf(minus...)
	if err != nil {
		return nil, err
	}
	return sweep(a.Ranges(), m.Ranges(), false), nil
}

// Intersect returns the addresses of ps that are also in set (a routing
// table, say) as the fewest disjoint prefixes.
func Intersect(ps []netip.Prefix, set *netipx.IPSet) ([]netip.Prefix, error) {
	a, err := SetOf(ps)
	if err != nil {
		return nil, err
	}
	return sweep(a.Ranges(), set.Ranges(), true), nil
}

// sweep returns a ∩ b (intersect) or a − b as prefixes; a and b are sorted,
// disjoint and non-adjacent, as an IPSet's ranges are, so the result's ranges
// are too and their prefixes are the fewest.
func sweep(a, b []netipx.IPRange, intersect bool) []netip.Prefix {
	var out []netip.Prefix
	j := 0
	for _, r := range a {
		for j < len(b) && b[j].To().Less(r.From()) {
			j++
		}
		cur, done := r.From(), false
		for k := j; k < len(b) && !r.To().Less(b[k].From()); k++ {
			lo, hi := b[k].From(), b[k].To()
			if intersect {
				out = netipx.IPRangeFrom(maxAddr(lo, r.From()), minAddr(hi, r.To())).AppendPrefixes(out)
				continue
			}
			if cur.Less(lo) {
				out = netipx.IPRangeFrom(cur, lo.Prev()).AppendPrefixes(out)
			}
			if !hi.Less(r.To()) {
				done = true
				break
			}
			cur = hi.Next()
		}
		if !intersect && !done {
			out = netipx.IPRangeFrom(cur, r.To()).AppendPrefixes(out)
		}
	}
	return out
}

func maxAddr(a, b netip.Addr) netip.Addr {
	if a.Less(b) {
		return b
	}
	return a
}

func minAddr(a, b netip.Addr) netip.Addr {
	if a.Less(b) {
		return a
	}
	return b
}

// Remainder returns the parts of p outside set: nil when set covers p, p
// itself when they do not overlap, and otherwise the fewest disjoint
// prefixes covering p minus set, sorted by address. It splits p in halves
// only where set cuts it, so it costs O(log n) set lookups per prefix of the
// result and allocates only the result.
func Remainder(p netip.Prefix, set *Lookup) []netip.Prefix {
	if !set.Overlaps(p) {
		return []netip.Prefix{p}
	}
	return remainder(nil, p.Masked(), set)
}

func remainder(out []netip.Prefix, p netip.Prefix, set *Lookup) []netip.Prefix {
	switch {
	case !set.Overlaps(p):
		return append(out, p)
	case set.Contains(p) || p.Bits() == p.Addr().BitLen():
		return out
	}
	lo := netip.PrefixFrom(p.Addr(), p.Bits()+1)
	hi := netip.PrefixFrom(netipx.PrefixLastIP(lo).Next(), p.Bits()+1)
	out = remainder(out, lo, set)
	return remainder(out, hi, set)
}

// MostSpecific returns the distinct prefixes of ps that contain no other
// prefix of ps: a registry allocation with assignments registered inside it
// is dropped, the assignments are kept (for targeting assignments rather
// than allocations). The result is sorted by address, then length.
func MostSpecific(ps []netip.Prefix) []netip.Prefix {
	s := slices.Clone(ps)
	slices.SortFunc(s, netip.Prefix.Compare)
	s = slices.Compact(s)
	// Sorted by address then length, a prefix contains another prefix of the
	// list exactly when it contains its successor: the successor's address
	// lies between the prefix's and that of any prefix inside it.
	out := s[:0]
	for i, p := range s {
		if i+1 < len(s) && p.Bits() < s[i+1].Bits() && p.Contains(s[i+1].Addr()) {
			continue
		}
		out = append(out, p)
	}
	return slices.Clip(out)
}

// Lookup answers "does this prefix overlap, or lie inside, the set?" in
// O(log n) time without allocating; netipx's IPSet.OverlapsPrefix and
// ContainsPrefix scan every range, which is too slow per record against a
// BGP table or the fullbogons (10^5 ranges). A Lookup is immutable and safe
// for concurrent use; the zero value and nil are the empty set.
type Lookup struct {
	rr []netipx.IPRange // sorted, disjoint
}

// NewLookup returns a Lookup of s (nil is the empty set).
func NewLookup(s *netipx.IPSet) *Lookup {
	if s == nil {
		return &Lookup{}
	}
	return &Lookup{rr: s.Ranges()}
}

// find returns the first range that ends at or after a.
func (l *Lookup) find(a netip.Addr) int {
	return sort.Search(len(l.rr), func(i int) bool { return !l.rr[i].To().Less(a) })
}

// Overlaps reports whether any address of p is in the set.
func (l *Lookup) Overlaps(p netip.Prefix) bool {
	if l == nil {
		return false
	}
	p = p.Masked()
	i := l.find(p.Addr())
	return i < len(l.rr) && !netipx.PrefixLastIP(p).Less(l.rr[i].From())
}

// Contains reports whether every address of p is in the set.
func (l *Lookup) Contains(p netip.Prefix) bool {
	if l == nil {
		return false
	}
	p = p.Masked()
	i := l.find(p.Addr())
	return i < len(l.rr) && !p.Addr().Less(l.rr[i].From()) && !l.rr[i].To().Less(netipx.PrefixLastIP(p))
}
