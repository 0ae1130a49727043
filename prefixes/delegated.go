package prefixes

import (
	"bytes"
	"fmt"
	"net/netip"
	"time"
)

// maxFields is the most '|'-separated fields a delegated line is split into;
// later ones (extensions) stay in the last field.
const maxFields = 10

// splitFields splits line at sep into dst and returns the number of fields.
func splitFields(line []byte, sep byte, dst *[maxFields][]byte) int {
	n := 0
	for n < maxFields-1 {
		i := bytes.IndexByte(line, sep)
		if i < 0 {
			break
		}
		dst[n] = line[:i]
		line = line[i+1:]
		n++
	}
	dst[n] = line
	return n + 1
}

// nextDelegated reads an RIR delegated-extended statistics file
// (https://www.apnic.net/about-apnic/corporate-documents/documents/resource-guidelines/rir-statistics-exchange-format/):
// an optional version header "2|ripencc|serial|records|start|end|utcoffset",
// summary lines "registry|*|type|*|count|summary", and records
// "registry|cc|type|start|value|date|status[|opaque-id[|extensions]]". Only
// ipv6 records are returned; value is the prefix length. '#' lines (APNIC's
// conditions of use) and blank lines are skipped.
func (r *Reader) nextDelegated() (Record, error) {
	var f [maxFields][]byte
	for {
		line, tooLong, err := r.nextLine()
		if err != nil {
			return Record{}, err
		}
		if tooLong {
			return Record{}, r.perr(r.line, ErrLineTooLong)
		}
		line = bytes.TrimRight(line, " \t\r")
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		n := splitFields(line, '|', &f)
		for i := range n {
			f[i] = bytes.TrimSpace(f[i])
		}
		if len(f[0]) > 0 && f[0][0] >= '0' && f[0][0] <= '9' {
			if r.seen {
				return Record{}, r.perr(r.line, fmt.Errorf("%w: version header %q after the first line", ErrBadSyntax, clip(line)))
			}
			r.seen = true
			r.counts.Ignored++
			continue
		}
		r.seen = true
		if n >= 6 && string(f[5]) == "summary" {
			r.counts.Ignored++
			continue
		}
		if n < 7 {
			return Record{}, r.perr(r.line, fmt.Errorf("%w: %d fields, want at least 7 (registry|cc|type|start|value|date|status)", ErrBadSyntax, n))
		}
		switch string(f[2]) {
		case "ipv6":
		case "ipv4", "asn":
			r.counts.Ignored++
			continue
		default:
			return Record{}, r.perr(r.line, fmt.Errorf("%w: type %q, want ipv4, ipv6 or asn", ErrBadField, clip(f[2])))
		}
		a, err := netip.ParseAddr(string(f[3]))
		if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
			return Record{}, r.perr(r.line, fmt.Errorf("%w: start %q is not an IPv6 address", ErrBadPrefix, clip(f[3])))
		}
		bits, ok := parseBits(string(f[4]))
		if !ok {
			return Record{}, r.perr(r.line, fmt.Errorf("%w: value %q is not a prefix length", ErrBadPrefix, clip(f[4])))
		}
		p := netip.PrefixFrom(a, bits)
		if p.Masked() != p {
			return Record{}, r.perr(r.line, fmt.Errorf("%w %s: bits set beyond /%d", ErrBadPrefix, p, bits))
		}
		date, ok := parseYMD(f[5])
		if !ok {
			return Record{}, r.perr(r.line, fmt.Errorf("%w %q (want YYYYMMDD)", ErrBadDate, clip(f[5])))
		}
		if len(f[6]) == 0 {
			return Record{}, r.perr(r.line, fmt.Errorf("%w: empty status", ErrBadField))
		}
		rec := Record{
			Prefix:  p,
			Class:   "delegated",
			Country: r.str(f[1]),
			Status:  r.str(f[6]),
			Source:  r.str(f[0]),
			Created: date,
			Line:    r.line,
		}
		if n >= 8 {
			rec.Org = r.str(f[7])
		}
		return rec, nil
	}
}

// parseYMD parses a delegated file's YYYYMMDD date; "" and "00000000" are the
// zero time.
func parseYMD(b []byte) (time.Time, bool) {
	if len(b) == 0 || string(b) == "00000000" {
		return time.Time{}, true
	}
	if len(b) != 8 {
		return time.Time{}, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
		n = n*10 + int(c-'0')
	}
	y, m, d := n/10000, n/100%100, n%100
	if m < 1 || m > 12 || d < 1 || d > 31 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d {
		return time.Time{}, false // 20130231
	}
	return t, true
}
