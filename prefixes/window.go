package prefixes

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultMaxLen is the default end of the enumerated bit range for a plain
// prefix: a prefix with no explicit range enumerates every /64 inside it.
const DefaultMaxLen = 64

// Window is a target window: a prefix plus the bit range enumerated inside it,
// written in XMap notation as "2001:db8::/32-64" (every /64 inside the /32).
//
// Bits Prefix.Bits() .. End-1 are enumerated; the bits End .. 127 (the
// interface identifier, when End is 64) are filled by the generator's IID
// mode. A window with End == 128 enumerates whole addresses and has no IID.
// Window is a small comparable value; the zero value is not a valid window.
type Window struct {
	// Prefix is masked (no bits set beyond Prefix.Bits()) and IPv6 (not
	// IPv4-mapped).
	Prefix netip.Prefix
	// End is the end of the enumerated bit range, Prefix.Bits() <= End <= 128.
	End int
}

// ErrNotIPv6 is returned for an IPv4 or IPv4-mapped prefix or address.
var ErrNotIPv6 = errors.New("not an IPv6 prefix")

// String returns the window in XMap notation, "2001:db8::/32-64".
func (w Window) String() string {
	return w.Prefix.String() + "-" + strconv.Itoa(w.End)
}

// SubnetBits is the number of enumerated bits, End - Prefix.Bits().
func (w Window) SubnetBits() int { return w.End - w.Prefix.Bits() }

// HostBits is the number of bits after the window, 128 - End, that an IID
// mode fills.
func (w Window) HostBits() int { return 128 - w.End }

// Subnets returns the number of enumerated subnets, 2^(End - Prefix.Bits()).
// ok is false when that does not fit in a uint64 (64 or more enumerated bits).
func (w Window) Subnets() (n uint64, ok bool) {
	b := w.SubnetBits()
	if b >= 64 {
		return 0, false
	}
	return 1 << uint(b), true
}

// Validate reports whether w is a well-formed window: a masked IPv6 prefix and
// Prefix.Bits() <= End <= 128.
func (w Window) Validate() error {
	if !w.Prefix.IsValid() {
		return errors.New("invalid prefix")
	}
	if !w.Prefix.Addr().Is6() || w.Prefix.Addr().Is4In6() {
		return ErrNotIPv6
	}
	if w.Prefix.Masked() != w.Prefix {
		return fmt.Errorf("prefix %s has bits set beyond /%d (use %s)", w.Prefix, w.Prefix.Bits(), w.Prefix.Masked())
	}
	if w.End < w.Prefix.Bits() || w.End > 128 {
		return fmt.Errorf("window end /%d outside /%d..128", w.End, w.Prefix.Bits())
	}
	return nil
}

// Subnet returns the i-th enumerated subnet of w, a prefix of length End, in
// address order: Subnet(0) has the enumerated bits all zero. i should be below
// Subnets(); a larger i is taken modulo Subnets(), so the result always lies
// inside w.Prefix. For a window of 64 or more enumerated bits, i sets the low
// 64 enumerated bits and the higher ones stay zero. Subnet does not allocate;
// w must be valid (see Validate).
func (w Window) Subnet(i uint64) netip.Prefix {
	if b := w.SubnetBits(); b < 64 {
		i &= 1<<uint(b) - 1
	}
	a := w.Prefix.Addr().As16()
	shift := uint(128 - w.End)
	hi := binary.BigEndian.Uint64(a[:8])
	lo := binary.BigEndian.Uint64(a[8:])
	// (hi, lo) |= i << shift, as a 128-bit OR.
	if shift >= 64 {
		hi |= i << (shift - 64)
	} else {
		lo |= i << shift
		if shift > 0 {
			hi |= i >> (64 - shift)
		}
	}
	binary.BigEndian.PutUint64(a[:8], hi)
	binary.BigEndian.PutUint64(a[8:], lo)
	return netip.PrefixFrom(netip.AddrFrom16(a), w.End)
}

// ParseWindow parses one target: a window in XMap notation
// ("2001:db8::/32-64"), a prefix ("2001:db8::/48", enumerating the /maxLen
// subnets inside it, or only itself when it is longer than maxLen), or a
// single address ("2001:db8::1", the window 2001:db8::1/128-128).
// Surrounding whitespace is ignored.
//
// maxLen is a prefix length in bits, 0..128; 0 means DefaultMaxLen (64). It
// applies only to plain prefixes: an explicit range wins.
//
// The result always passes Validate, and its String re-parses to the same
// window. ParseWindow rejects, with an error naming the input: IPv4 and
// IPv4-mapped input (wrapping ErrNotIPv6), addresses with a zone
// ("fe80::1%eth0"), unmasked prefixes ("2001:db8::1/32" is an error, not a
// silent mask), and a window end that is not a decimal number in
// Prefix.Bits()..128. It is safe for concurrent use.
func ParseWindow(s string, maxLen int) (Window, error) {
	if maxLen == 0 {
		maxLen = DefaultMaxLen
	}
	if maxLen < 0 || maxLen > 128 {
		return Window{}, fmt.Errorf("max length /%d outside 0..128", maxLen)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return Window{}, errors.New("empty target")
	}
	slash := strings.IndexByte(s, '/')
	if slash < 0 {
		a, err := parseAddr(s)
		if err != nil {
			return Window{}, err
		}
		return Window{Prefix: netip.PrefixFrom(a, 128), End: 128}, nil
	}
	pfx, rng, hasRange := strings.Cut(s, "-")
	if hasRange && strings.IndexByte(pfx, '/') < 0 {
		// A '-' before the '/' is not a range separator: let the prefix
		// parser report the malformed address.
		pfx, hasRange = s, false
	}
	p, err := parsePrefix(pfx)
	if err != nil {
		return Window{}, err
	}
	w := Window{Prefix: p, End: max(p.Bits(), maxLen)}
	if hasRange {
		end, ok := parseBits(rng)
		if !ok {
			return Window{}, fmt.Errorf("bad window end %q in %q", rng, s)
		}
		w.End = end
	}
	if err := w.Validate(); err != nil {
		return Window{}, fmt.Errorf("%s: %w", s, err)
	}
	return w, nil
}

// parseAddr parses a single IPv6 address without a zone.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("bad address %q", s)
	}
	if !a.Is6() || a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%s: %w", s, ErrNotIPv6)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("address %q has a zone", s)
	}
	return a, nil
}

// parsePrefix parses a masked IPv6 prefix without a zone.
func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if strings.IndexByte(s, '%') >= 0 {
			return netip.Prefix{}, fmt.Errorf("prefix %q has a zone", s)
		}
		return netip.Prefix{}, fmt.Errorf("bad prefix %q", s)
	}
	if !p.Addr().Is6() || p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%s: %w", s, ErrNotIPv6)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("prefix %s has bits set beyond /%d (use %s)", p, p.Bits(), p.Masked())
	}
	return p, nil
}

// parseBits parses a bit length as netip.ParsePrefix does: decimal digits, no
// sign, no leading zero, at most 128.
func parseBits(s string) (int, bool) {
	if s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= 128
}
