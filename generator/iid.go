package generator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// IIDMode says how the host bits after a window's End (the interface
// identifier when End is 64) are filled. The zero value is IIDLow.
type IIDMode int

const (
	// IIDLow fills the low addresses ::1, ::2 … ::K of every subnet: K
	// targets per subnet.
	IIDLow IIDMode = iota
	// IIDFixed fills one given suffix: one target per subnet.
	IIDFixed
	// IIDRandom fills keyed pseudo-random bits, a different value for every
	// subnet, the same for the same PermSeed: one target per subnet. The
	// value is not checked: in a window with few host bits it can be all
	// zeros (the subnet-router anycast address). See Generator.Candidate.
	IIDRandom
	// IIDEUI64 fills modified EUI-64 interface identifiers (RFC 4291
	// Appendix A: OUI with the universal/local bit inverted, ff:fe, NIC
	// part) built from MAC addresses: one target per MAC address per
	// subnet, 2^24 per whole OUI. The MAC ranges are IID.MACRanges; the
	// default is every OUI of the built-in list (Vendors). It needs windows
	// with at least 64 host bits (End <= 64).
	IIDEUI64
)

// String returns "low", "fixed", "random" or "eui64", the names ParseIID
// reads.
func (m IIDMode) String() string {
	switch m {
	case IIDLow:
		return "low"
	case IIDFixed:
		return "fixed"
	case IIDRandom:
		return "random"
	case IIDEUI64:
		return "eui64"
	}
	return "IIDMode(" + strconv.Itoa(int(m)) + ")"
}

// IID is an IID mode and its parameter. The zero value is low:1 (the address
// ::1 of every subnet). IID is a small comparable value.
type IID struct {
	Mode IIDMode
	// Count is K for IIDLow: the targets ::1 … ::K of each subnet. 0 means 1.
	// It must be below 2^HostBits of every window with End < 128.
	Count uint64
	// Suffix holds the host bits for IIDFixed, as an IPv6 address in network
	// byte order (::1 is {15: 1}). No bit before a window's End may be set.
	Suffix [16]byte
	// macs holds the MAC ranges of IIDEUI64, sorted and merged, packed by
	// packMACs; "" means the built-in list. A string keeps IID comparable.
	macs string
}

// EUI64 returns the IIDEUI64 mode over the given MAC ranges: the targets of
// each subnet are the modified EUI-64 IIDs of every MAC address in the
// ranges, each once (overlapping ranges are merged). No ranges means the
// built-in list (Vendors). It returns an error wrapping ErrIID if a range
// has From > To or To >= 2^48.
func EUI64(ranges ...MACRange) (IID, error) {
	for _, r := range ranges {
		if r.From > r.To || r.To >= 1<<48 {
			return IID{}, fmt.Errorf("MAC range %#x-%#x: want From <= To < 2^48: %w", r.From, r.To, ErrIID)
		}
	}
	iid := IID{Mode: IIDEUI64}
	if len(ranges) > 0 {
		iid.macs = packMACs(mergeMACs(ranges))
	}
	return iid, nil
}

// MACRanges returns the MAC ranges of an IIDEUI64 IID, sorted, disjoint and
// not adjacent; the built-in list's when none were given. It returns nil for
// the other modes. The slice is a copy.
func (iid IID) MACRanges() []MACRange {
	if iid.Mode != IIDEUI64 {
		return nil
	}
	if iid.macs == "" {
		return unpackMACs(builtinMACs)
	}
	return unpackMACs(iid.macs)
}

// ErrIID is wrapped by ParseIID for a malformed IID.
var ErrIID = errors.New("bad IID")

// ParseIID parses an IID mode: "low:K" (the targets ::1 … ::K of each
// subnet, K >= 1 in decimal; "low" alone is low:1), "fixed:SUFFIX" (SUFFIX an
// IPv6 address such as ::1 or ::dead:beef:0:1 giving the host bits),
// "random", or "eui64[:MACS]".
//
// MACS is a comma-separated list of MAC address sets whose modified EUI-64
// IIDs (RFC 4291 Appendix A) fill each subnet; "eui64" alone is the
// built-in OUI list (Vendors). Each item is one of
//
//	intel                                   a vendor key of the built-in list: all its OUIs
//	00:1b:21                                an OUI: its 2^24 MAC addresses
//	00:1b:21:00:00:00/40                    an aligned block: the 2^(48-40) MACs sharing the first 40 bits
//	00:1b:21:00:00:00-00:1b:21:00:ff:ff     an inclusive range of MAC addresses
//
// (hex digits in either case, octets separated by colons). Overlapping items
// are merged, so each MAC is enumerated once; the IIDs per subnet are the
// number of MACs, 2^24 per OUI unless narrowed. Errors wrap ErrIID. String
// round-trips the result.
func ParseIID(s string) (IID, error) {
	mode, arg, hasArg := strings.Cut(strings.TrimSpace(s), ":")
	switch mode {
	case "low":
		if !hasArg {
			return IID{Mode: IIDLow, Count: 1}, nil
		}
		k, err := strconv.ParseUint(arg, 10, 64)
		if err != nil || k == 0 {
			return IID{}, fmt.Errorf("%q: count must be a decimal integer from 1 to 2^64-1: %w", s, ErrIID)
		}
		return IID{Mode: IIDLow, Count: k}, nil
	case "fixed":
		a, err := netip.ParseAddr(arg)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return IID{}, fmt.Errorf("%q: suffix must be an IPv6 address such as ::1: %w", s, ErrIID)
		}
		return IID{Mode: IIDFixed, Suffix: a.As16()}, nil
	case "random":
		if hasArg {
			return IID{}, fmt.Errorf("%q: random takes no argument: %w", s, ErrIID)
		}
		return IID{Mode: IIDRandom}, nil
	case "eui64":
		if !hasArg {
			return IID{Mode: IIDEUI64}, nil
		}
		rs, err := parseMACRanges(arg)
		if err != nil {
			return IID{}, fmt.Errorf("eui64: %w: %w", err, ErrIID)
		}
		return IID{Mode: IIDEUI64, macs: packMACs(rs)}, nil
	}
	return IID{}, fmt.Errorf("%q: want low:K, fixed:SUFFIX, random or eui64[:MACS]: %w", s, ErrIID)
}

// String returns the IID in the form ParseIID reads: "low:K",
// "fixed:SUFFIX", "random", "eui64" (the built-in list) or
// "eui64:RANGE,…" with the merged MAC ranges in MACRange.String form. The
// zero value is "low:1".
func (iid IID) String() string {
	switch iid.Mode {
	case IIDLow:
		return "low:" + strconv.FormatUint(iid.count(), 10)
	case IIDFixed:
		return "fixed:" + netip.AddrFrom16(iid.Suffix).String()
	case IIDEUI64:
		if iid.macs == "" {
			return "eui64"
		}
		var b strings.Builder
		b.WriteString("eui64:")
		for i, r := range unpackMACs(iid.macs) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(r.String())
		}
		return b.String()
	}
	return iid.Mode.String()
}

// Validate reports whether the mode is known.
func (iid IID) Validate() error {
	switch iid.Mode {
	case IIDLow, IIDFixed, IIDRandom, IIDEUI64:
		return nil
	}
	return fmt.Errorf("%s: unknown mode: %w", iid.Mode, ErrIID)
}

// count returns the IIDs per subnet: K for low (0 meaning 1), the number of
// MAC addresses for eui64, else 1.
func (iid IID) count() uint64 {
	switch {
	case iid.Mode == IIDLow && iid.Count > 1:
		return iid.Count
	case iid.Mode == IIDEUI64:
		var n uint64
		for _, r := range iid.MACRanges() {
			n += r.Len()
		}
		return n
	}
	return 1
}

// fits reports whether the IID fits in hostBits (1..128) low bits.
func (iid IID) fits(hostBits int) bool {
	switch iid.Mode {
	case IIDLow:
		return hostBits >= 64 || iid.count() < 1<<uint(hostBits)
	case IIDFixed:
		hi := binary.BigEndian.Uint64(iid.Suffix[:8])
		lo := binary.BigEndian.Uint64(iid.Suffix[8:])
		mhi, mlo := hostMask(uint(hostBits))
		return hi&^mhi == 0 && lo&^mlo == 0
	case IIDEUI64:
		return hostBits >= 64
	}
	return true
}

// hostMask returns the 128-bit mask of the low hostBits (0..128) bits.
func hostMask(hostBits uint) (hi, lo uint64) {
	if hostBits >= 64 {
		return ^uint64(0) >> (128 - hostBits), ^uint64(0)
	}
	return 0, 1<<hostBits - 1
}
