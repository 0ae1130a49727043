package prefixes

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/xml"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"go4.org/netipx"
)

// The IANA IPv6 Special-Purpose Address Registry, as published on 2023-03-15
// (see registry/NOTICE for its source and licence).
//
//go:embed registry/iana-ipv6-special-registry-20230315.xml
var ianaSpecialXML []byte

// Registry rows added after that snapshot (2024–2025) and the multicast block.
//
//go:embed registry/additions.txt
var ianaAdditions []byte

// BuiltinEntry is one range of the built-in blocklist.
type BuiltinEntry struct {
	// Prefix is the blocked range, masked; ::ffff:0:0/96 is the one
	// IPv4-mapped entry.
	Prefix netip.Prefix
	// Name is the registry's name for the range, e.g. "Documentation".
	Name string
	// Spec is the defining document, e.g. "rfc3849" (the registry's xref) or
	// "RFC 9637 (2024-07)" (registry/additions.txt), when one is given.
	Spec string
}

// Builtin returns the built-in blocklist: every row of the IANA IPv6
// Special-Purpose Address Registry (RFC 6890; the embedded snapshot of
// 2023-03-15 plus its 2024–2025 additions 2001:1::3/128, 5f00::/16, 3fff::/20
// and 100:0:0:1::/64) and the multicast block ff00::/8 (RFC 4291 §2.7).
// Entries overlap (2001::/32 lies inside 2001::/23); they are sorted by
// address, then prefix length (netip.Prefix.Compare). The slice is freshly
// allocated on each call and owned by the caller. Builtin is safe for
// concurrent use.
func Builtin() []BuiltinEntry {
	entries, err := parseBuiltin(ianaSpecialXML, ianaAdditions)
	if err != nil {
		// The embedded files are fixed at build time and checked by the tests.
		panic("prefixes: embedded registry: " + err.Error())
	}
	return entries
}

func parseBuiltin(xmlData, additions []byte) ([]BuiltinEntry, error) {
	var reg struct {
		Records []struct {
			Address string `xml:"address"`
			Name    string `xml:"name"`
			Spec    []struct {
				Type string `xml:"type,attr"`
				Data string `xml:"data,attr"`
			} `xml:"spec>xref"`
		} `xml:"registry>record"`
	}
	if err := xml.Unmarshal(xmlData, &reg); err != nil {
		return nil, fmt.Errorf("registry XML: %w", err)
	}
	var out []BuiltinEntry
	for _, r := range reg.Records {
		// <address> may hold a trailing <xref> note; keep the first field.
		f := strings.Fields(r.Address)
		if len(f) == 0 {
			return nil, fmt.Errorf("registry XML: record %q has no address", r.Name)
		}
		p, err := netip.ParsePrefix(f[0])
		if err != nil {
			return nil, fmt.Errorf("registry XML: %w", err)
		}
		e := BuiltinEntry{Prefix: p, Name: strings.TrimSpace(r.Name)}
		if len(r.Spec) > 0 {
			e.Spec = r.Spec[0].Data
		}
		out = append(out, e)
	}
	sc := bufio.NewScanner(bytes.NewReader(additions))
	for n := 1; sc.Scan(); n++ {
		line, comment, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		p, err := netip.ParsePrefix(line)
		if err != nil {
			return nil, fmt.Errorf("additions line %d: %w", n, err)
		}
		name, spec, _ := strings.Cut(strings.TrimSpace(comment), ",")
		out = append(out, BuiltinEntry{Prefix: p, Name: strings.TrimSpace(name), Spec: strings.TrimSpace(spec)})
	}
	slices.SortFunc(out, func(a, b BuiltinEntry) int { return a.Prefix.Compare(b.Prefix) })
	return out, nil
}

// ErrUnblock is wrapped by NewBlocklist when an unblock prefix names space that
// is not entirely in the built-in blocklist.
var ErrUnblock = errors.New("unblock prefix is not inside the built-in blocklist")

// Blocklist is the set of addresses a scan never probes: the built-in list
// (see Builtin) minus the ranges explicitly lifted with unblock prefixes, plus
// any user blocklist (opt-out files). A Blocklist is immutable and safe for
// concurrent use. Create one with NewBlocklist; the zero value is not usable.
type Blocklist struct {
	set *netipx.IPSet
}

// NewBlocklist returns the built-in blocklist with the unblock prefixes lifted
// and the extra prefixes added. Each unblock prefix must lie entirely inside
// the built-in list (so a typo cannot open unrelated space): otherwise the
// error wraps ErrUnblock. Unblock prefixes never lift extra prefixes. The
// testbed, for example, lifts exactly 2001:db8::/32 and 3fff::/20.
//
// Unblock prefixes must be masked IPv6 prefixes. Extra prefixes (from
// ParsePrefixFile, say) must be IPv6; one with bits set beyond its length is
// masked, which can only block more. IPv4 or IPv4-mapped prefixes in either
// list are errors wrapping ErrNotIPv6. NewBlocklist is safe for concurrent
// use; it does not keep the slices.
func NewBlocklist(extra, unblock []netip.Prefix) (*Blocklist, error) {
	var builtin netipx.IPSetBuilder
	for _, e := range Builtin() {
		builtin.AddPrefix(e.Prefix)
	}
	bset, err := builtin.IPSet()
	if err != nil {
		return nil, fmt.Errorf("built-in blocklist: %w", err)
	}
	var b netipx.IPSetBuilder
	b.AddSet(bset)
	for _, u := range unblock {
		if !u.IsValid() || !u.Addr().Is6() || u.Addr().Is4In6() {
			return nil, fmt.Errorf("unblock %s: %w", u, ErrNotIPv6)
		}
		if u.Masked() != u {
			return nil, fmt.Errorf("unblock %s: bits set beyond /%d", u, u.Bits())
		}
		if !bset.ContainsPrefix(u) {
			return nil, fmt.Errorf("unblock %s: %w", u, ErrUnblock)
		}
		b.RemovePrefix(u)
	}
	for _, p := range extra {
		if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() {
			return nil, fmt.Errorf("blocklist entry %s: %w", p, ErrNotIPv6)
		}
		b.AddPrefix(p.Masked())
	}
	set, err := b.IPSet()
	if err != nil {
		return nil, fmt.Errorf("blocklist: %w", err)
	}
	return &Blocklist{set: set}, nil
}

// Contains reports whether a is blocked. It does not allocate.
func (b *Blocklist) Contains(a netip.Addr) bool { return b.set.Contains(a) }

// Prefixes returns the blocked space as a minimal list of disjoint prefixes,
// sorted by address. The slice is freshly allocated and owned by the caller.
func (b *Blocklist) Prefixes() []netip.Prefix { return b.set.Prefixes() }

// IPSet returns the blocked space as an IP set. The set is immutable and
// shared with b.
func (b *Blocklist) IPSet() *netipx.IPSet { return b.set }

// Subtract removes blocked space from windows and merges overlapping and
// adjacent windows that share an End into the fewest windows: the result
// enumerates every unblocked subnet of ws once per End value. A subnet that is only partly blocked (a blocked range longer
// than the window's End) is kept whole in the result, and the blocked ranges
// inside it are returned in partial: the generator drops the addresses that
// fall in them. Windows are returned sorted by End, then by address; partial
// is sorted by address and its prefixes are disjoint, so both can be
// binary-searched. Windows with different Ends that overlap are not merged.
// Fully blocked windows, including blocked single addresses, disappear.
// Subtract returns an error naming the first window that fails Validate.
// The input slice is not modified.
func (b *Blocklist) Subtract(ws []Window) (kept []Window, partial []netip.Prefix, err error) {
	byEnd := map[int]*netipx.IPSetBuilder{}
	var ends []int
	for _, w := range ws {
		if err := w.Validate(); err != nil {
			return nil, nil, fmt.Errorf("window %s: %w", w, err)
		}
		bld := byEnd[w.End]
		if bld == nil {
			bld = new(netipx.IPSetBuilder)
			byEnd[w.End] = bld
			ends = append(ends, w.End)
		}
		bld.AddPrefix(w.Prefix)
	}
	slices.Sort(ends)
	var cut netipx.IPSetBuilder // partly blocked subnets, all Ends
	for _, end := range ends {
		bld := byEnd[end]
		bld.RemoveSet(b.set)
		set, err := bld.IPSet()
		if err != nil {
			return nil, nil, fmt.Errorf("subtract blocklist: %w", err)
		}
		// Round the unblocked space out to whole subnets of this End, then
		// aggregate, so a partly blocked subnet does not fragment the window
		// around it.
		var whole netipx.IPSetBuilder
		for _, p := range set.Prefixes() {
			if p.Bits() > end {
				p = netip.PrefixFrom(p.Addr(), end).Masked()
				cut.AddPrefix(p)
			}
			whole.AddPrefix(p)
		}
		wset, err := whole.IPSet()
		if err != nil {
			return nil, nil, fmt.Errorf("subtract blocklist: %w", err)
		}
		for _, p := range wset.Prefixes() { // sorted by address
			kept = append(kept, Window{Prefix: p, End: end})
		}
	}
	cut.Intersect(b.set)
	cset, err := cut.IPSet()
	if err != nil {
		return nil, nil, fmt.Errorf("subtract blocklist: %w", err)
	}
	partial = cset.Prefixes()
	if len(partial) == 0 {
		partial = nil
	}
	return kept, partial, nil
}
