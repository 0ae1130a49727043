package testbed

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// Rebase moves a into 2001:db8::/32: it keeps bits 32..127 (the rest of the routing prefix,
// the subnet and the interface identifier) and replaces the first 32 bits with 2001:db8.
// This keeps the structure of real seed addresses while staying inside the documentation
// prefix. Any zone is dropped. Rebase of an IPv4 address or the zero Addr returns the zero
// Addr; an IPv4-mapped address is treated as the IPv6 address it is.
func Rebase(a netip.Addr) netip.Addr {
	if !a.Is6() {
		return netip.Addr{}
	}
	b := a.As16()
	b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
	return netip.AddrFrom16(b)
}

// SeedError reports a malformed line of a seed list. Unwrap returns Err.
type SeedError struct {
	Line int    // 1-based line number
	Text string // the offending text, comments and spaces removed
	Err  error
}

func (e *SeedError) Error() string {
	return fmt.Sprintf("seeds: line %d: %q: %v", e.Line, e.Text, e.Err)
}

// Unwrap returns the underlying error.
func (e *SeedError) Unwrap() error { return e.Err }

// LoadSeeds reads a seed list: one IPv6 address per line. Blank lines are skipped and '#'
// starts a comment that runs to the end of the line; spaces around an address are ignored.
// It returns the addresses in input order, duplicates kept. A malformed line, an IPv4
// address, or an address with a zone gives a *SeedError naming the line; a read error is
// returned as is.
func LoadSeeds(r io.Reader) ([]netip.Addr, error) {
	var out []netip.Addr
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		a, err := netip.ParseAddr(line)
		switch {
		case err != nil:
			return nil, &SeedError{Line: n, Text: line, Err: err}
		case !a.Is6():
			return nil, &SeedError{Line: n, Text: line, Err: fmt.Errorf("not an IPv6 address")}
		case a.Zone() != "":
			return nil, &SeedError{Line: n, Text: line, Err: fmt.Errorf("zone not allowed")}
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("seeds: read: %w", err)
	}
	return out, nil
}
