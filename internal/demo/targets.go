package main

import (
	"cmp"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// The demo's own reading of the target-file contract (independent of the widescan
// packages): a line is a single address (probed as it is), a prefix P/a (the window
// P/a-max(a, maxLen)), or an XMap window P/a-b; '#' starts a comment. For a window the bits
// after b are filled with 1..k (--iid low:k), unless b is 128.
const maxLen = 64

// target is one parsed line of the target file.
type target struct {
	prefix netip.Prefix
	end    int // window end; 128 for a single address
}

// parseTargets reads a target file's text.
func parseTargets(text string) ([]target, error) {
	var ts []target
	for n, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		t, err := parseTarget(line)
		if err != nil {
			return nil, fmt.Errorf("targets line %d: %w", n+1, err)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

func parseTarget(s string) (target, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() || a.Is4In6() {
			return target{}, fmt.Errorf("%q: not an IPv6 address", s)
		}
		return target{netip.PrefixFrom(a, 128), 128}, nil
	}
	ps, rng, hasRange := strings.Cut(s, "-")
	p, err := netip.ParsePrefix(ps)
	if err != nil || !p.Addr().Is6() || p != p.Masked() {
		return target{}, fmt.Errorf("%q: not a masked IPv6 prefix", s)
	}
	end := max(p.Bits(), maxLen)
	if hasRange {
		if end, err = strconv.Atoi(rng); err != nil || end < p.Bits() || end > 128 {
			return target{}, fmt.Errorf("%q: bad window end", s)
		}
	}
	return target{p, end}, nil
}

// probes returns the number of probes t takes with IIDs 1..k.
func (t target) probes(k int) *big.Int {
	n := new(big.Int).Lsh(big.NewInt(1), uint(t.end-t.prefix.Bits()))
	if t.end < 128 {
		n.Mul(n, big.NewInt(int64(k)))
	}
	return n
}

// covers reports whether t probes a with IIDs 1..k: a is inside t's prefix and its bits
// after the window end are in 1..k (or, for a window ending at 128, a is inside it).
func (t target) covers(a netip.Addr, k int) bool {
	if !t.prefix.Contains(a) {
		return false
	}
	if t.end == 128 {
		return true
	}
	host := hostBits(a, t.end)
	return host.Sign() > 0 && host.Cmp(big.NewInt(int64(k))) <= 0
}

// hostBits returns bits end..127 of a as a number.
func hostBits(a netip.Addr, end int) *big.Int {
	b := a.As16()
	v := new(big.Int).SetBytes(b[:])
	mask := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(128-end)), big.NewInt(1))
	return v.And(v, mask)
}

// expected returns the planted addresses that ts probes with IIDs 1..k, sorted.
func expected(ts []target, planted []netip.Addr, k int) []netip.Addr {
	var e []netip.Addr
	for _, a := range planted {
		for _, t := range ts {
			if t.covers(a, k) {
				e = append(e, a)
				break
			}
		}
	}
	return e
}

// totalProbes sums the probes of ts.
func totalProbes(ts []target, k int) *big.Int {
	n := new(big.Int)
	for _, t := range ts {
		n.Add(n, t.probes(k))
	}
	return n
}

// low64 returns the interface identifier (bits 64..127) of a.
func low64(a netip.Addr) uint64 {
	b := a.As16()
	var v uint64
	for _, x := range b[8:] {
		v = v<<8 | uint64(x)
	}
	return v
}

// densest counts the planted addresses with IIDs 1..k under each /bits prefix whose bits
// 48..bits-1 are not all zero (so the prefix never contains subnet 0 of its /48), leaves
// out those inside any of skip, and returns the n with the most, most first (ties in
// address order).
func densest(planted []netip.Addr, k, bits, n int, skip []netip.Prefix) []netip.Prefix {
	counts := map[netip.Prefix]int{}
	for _, a := range planted {
		if iid := low64(a); iid < 1 || iid > uint64(k) {
			continue
		}
		p := netip.PrefixFrom(a, bits).Masked()
		if netip.PrefixFrom(p.Addr(), 48).Masked().Addr() == p.Addr() {
			continue // bits 48..bits-1 are zero: overlaps the /32-48 window
		}
		if slices.ContainsFunc(skip, func(s netip.Prefix) bool { return s.Overlaps(p) }) {
			continue
		}
		counts[p]++
	}
	ps := make([]netip.Prefix, 0, len(counts))
	for p := range counts {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := cmp.Compare(counts[b], counts[a]); c != 0 {
			return c
		}
		return a.Addr().Compare(b.Addr())
	})
	return ps[:min(n, len(ps))]
}

// buildTargets writes the demo's target file for the rebased, sorted planted set: about
// 1.3 M probes with --iid low:k (k = 16), mixing XMap windows, plain prefixes and single
// addresses, with no two lines probing the same address and nothing in the AnyIP prefix.
func buildTargets(planted []netip.Addr, k int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# widescan demo targets, written by internal/demo from testdata/hitlist-seeds-6graph-5k.txt\n")
	fmt.Fprintf(&b, "# (rebased into 2001:db8::/32); scanned with --iid low:%d. No two lines probe the same address.\n\n", k)

	fmt.Fprintf(&b, "# XMap window: subnet 0 of every /48 in 2001:db8::/32, IIDs ::1..::%d (%d probes)\n", k, (1<<16)*k)
	b.WriteString("2001:db8::/32-48\n\n")

	w52 := densest(planted, k, 52, 3, nil)
	fmt.Fprintf(&b, "# XMap windows: every /64 of the densest /52s off subnet 0 (%d probes each)\n", (1<<12)*k)
	for _, p := range w52 {
		fmt.Fprintf(&b, "%s-64\n", p)
	}
	b.WriteByte('\n')

	p56 := densest(planted, k, 56, 20, w52)
	fmt.Fprintf(&b, "# XMap windows around dense /64s: every /64 of a /56 (%d probes each)\n", (1<<8)*k)
	for _, p := range p56[:min(10, len(p56))] {
		fmt.Fprintf(&b, "%s-64   # /56-64\n", p)
	}
	fmt.Fprintf(&b, "# plain prefixes: a /56 means /56-64 (--max-len 64)\n")
	for _, p := range p56[min(10, len(p56)):] {
		fmt.Fprintf(&b, "%s\n", p)
	}
	b.WriteByte('\n')

	p60 := densest(planted, k, 60, 10, append(slices.Clone(w52), p56...))
	fmt.Fprintf(&b, "# plain /60 prefixes: 16 /64s each (%d probes each)\n", (1<<4)*k)
	for _, p := range p60 {
		fmt.Fprintf(&b, "%s\n", p)
	}
	b.WriteByte('\n')

	// Single addresses: planted hosts with IIDs above k (no window probes them), every
	// n-th so they spread over the space, and neighbours of them that are not planted.
	var big []netip.Addr
	for _, a := range planted {
		if low64(a) > uint64(k) {
			big = append(big, a)
		}
	}
	const nPlanted, nDead = 80, 20
	fmt.Fprintf(&b, "# single addresses: %d planted hosts with large IIDs\n", nPlanted)
	step := max(1, len(big)/nPlanted)
	for i := 0; i < nPlanted && i*step < len(big); i++ {
		fmt.Fprintf(&b, "%s\n", big[i*step])
	}
	fmt.Fprintf(&b, "# single addresses that are not planted (must stay silent)\n")
	for i, n := 0, 0; n < nDead && i*step+step/2 < len(big); i++ {
		a := big[i*step+step/2].As16()
		a[15] ^= 0x80
		d := netip.AddrFrom16(a)
		if _, found := slices.BinarySearchFunc(planted, d, netip.Addr.Compare); found || low64(d) <= uint64(k) {
			continue
		}
		fmt.Fprintf(&b, "%s\n", d)
		n++
	}
	return b.String()
}
