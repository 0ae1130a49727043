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
)

// String returns "low", "fixed" or "random", the names ParseIID reads.
func (m IIDMode) String() string {
	switch m {
	case IIDLow:
		return "low"
	case IIDFixed:
		return "fixed"
	case IIDRandom:
		return "random"
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
}

// ErrIID is wrapped by ParseIID for a malformed IID.
var ErrIID = errors.New("bad IID")

// ParseIID parses an IID mode: "low:K" (the targets ::1 … ::K of each
// subnet, K >= 1 in decimal; "low" alone is low:1), "fixed:SUFFIX" (SUFFIX an
// IPv6 address such as ::1 or ::dead:beef:0:1 giving the host bits) or
// "random". Errors wrap ErrIID. String round-trips the result.
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
	}
	return IID{}, fmt.Errorf("%q: want low:K, fixed:SUFFIX or random: %w", s, ErrIID)
}

// String returns the IID in the form ParseIID reads: "low:K",
// "fixed:SUFFIX" or "random". The zero value is "low:1".
func (iid IID) String() string {
	switch iid.Mode {
	case IIDLow:
		return "low:" + strconv.FormatUint(iid.count(), 10)
	case IIDFixed:
		return "fixed:" + netip.AddrFrom16(iid.Suffix).String()
	}
	return iid.Mode.String()
}

// Validate reports whether the mode is known.
func (iid IID) Validate() error {
	switch iid.Mode {
	case IIDLow, IIDFixed, IIDRandom:
		return nil
	}
	return fmt.Errorf("%s: unknown mode: %w", iid.Mode, ErrIID)
}

// count returns the IIDs per subnet: K for low (0 meaning 1), else 1.
func (iid IID) count() uint64 {
	if iid.Mode == IIDLow && iid.Count > 1 {
		return iid.Count
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
