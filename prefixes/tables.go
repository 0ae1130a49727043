package prefixes

import (
	"bytes"
	"fmt"
)

// nextBGP reads a BGP prefix table: pyasn IPASN files ("prefix<TAB>asn" after
// ';' header lines) and plain "prefix asn" lists (blank-separated, '#'
// comments, "AS" before the number allowed). IPv4 entries are counted as
// ignored. A line with another number of fields, a bad prefix or an AS that
// is not a 32-bit number (an AS set such as "{1,2}") is malformed.
func (r *Reader) nextBGP() (Record, error) {
	for {
		line, err := r.contentLine()
		if err != nil {
			return Record{}, err
		}
		if line[0] == ';' {
			continue
		}
		i := bytes.IndexAny(line, " \t")
		if i < 0 {
			return Record{}, r.perr(r.line, fmt.Errorf("%w: %q has no origin AS", ErrBadSyntax, clip(line)))
		}
		pfx, asn := line[:i], bytes.TrimSpace(line[i+1:])
		if bytes.ContainsAny(asn, " \t") {
			return Record{}, r.perr(r.line, fmt.Errorf("%w: more than two fields", ErrBadSyntax))
		}
		p, err := parsePrefixBytes(pfx)
		if err != nil {
			if isIPv4(pfx) {
				r.counts.Ignored++
				continue
			}
			return Record{}, r.perr(r.line, err)
		}
		origin, ok := parseASN(asn)
		if !ok {
			return Record{}, r.perr(r.line, fmt.Errorf("%w %q", ErrBadOrigin, clip(asn)))
		}
		return Record{Prefix: p, Class: "bgp", Origin: origin, Line: r.line}, nil
	}
}

// isIPv4 reports whether b looks like an IPv4 address or prefix.
func isIPv4(b []byte) bool {
	return bytes.IndexByte(b, '.') >= 0 && bytes.IndexByte(b, ':') < 0
}

// nextRIPEstat reads RIPEstat-style CSV, "prefix,cc,name" (the name may be
// quoted: "Taiwan, Province of China"). A line whose first field is a word
// ("prefixes,country code,country name") is a header wherever it appears;
// IPv4 rows are counted as ignored.
func (r *Reader) nextRIPEstat() (Record, error) {
	for {
		line, tooLong, err := r.nextLine()
		if err != nil {
			return Record{}, err
		}
		if tooLong {
			return Record{}, r.perr(r.line, ErrLineTooLong)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		i := bytes.IndexByte(line, ',')
		if i < 0 {
			return Record{}, r.perr(r.line, fmt.Errorf("%w: no ',' (want prefix,cc,name)", ErrBadSyntax))
		}
		pfx, rest := bytes.TrimSpace(line[:i]), line[i+1:]
		if isHeaderWord(pfx) {
			r.counts.Ignored++
			continue
		}
		cc := rest
		if j := bytes.IndexByte(rest, ','); j >= 0 {
			cc = rest[:j]
		}
		cc = bytes.Trim(cc, " \t\"")
		p, err := parsePrefixBytes(bytes.Trim(pfx, "\""))
		if err != nil {
			if isIPv4(pfx) {
				r.counts.Ignored++
				continue
			}
			return Record{}, r.perr(r.line, err)
		}
		if len(cc) != 2 || !isLetter(cc[0]) || !isLetter(cc[1]) {
			return Record{}, r.perr(r.line, fmt.Errorf("%w: country %q is not a two-letter code", ErrBadField, clip(cc)))
		}
		return Record{Prefix: p, Class: "ripestat", Country: r.str(bytes.ToUpper(cc)), Line: r.line}, nil
	}
}

// isHeaderWord reports whether b is a CSV header word: letters, blanks, '_'
// and quotes only.
func isHeaderWord(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isLetter(c) && c != ' ' && c != '_' && c != '"' {
			return false
		}
	}
	return true
}

// nextPlain reads a plain list: one IPv6 prefix or address (as /128) per
// line, '#' comments, as ParsePrefixList does.
func (r *Reader) nextPlain() (Record, error) {
	line, err := r.contentLine()
	if err != nil {
		return Record{}, err
	}
	p, err := parsePrefixOrAddr(string(line))
	if err != nil {
		return Record{}, r.perr(r.line, fmt.Errorf("%w: %w", ErrBadPrefix, err))
	}
	return Record{Prefix: p, Class: "plain", Line: r.line}, nil
}

// contentLine returns the next line that holds something once its '#'
// comment is cut and surrounding space trimmed (never empty), as the BGP
// table and plain list formats are written. A line over MaxLineLen is an
// error naming it; io.EOF ends the input.
func (r *Reader) contentLine() ([]byte, error) {
	for {
		line, tooLong, err := r.nextLine()
		if err != nil {
			return nil, err
		}
		if tooLong {
			return nil, r.perr(r.line, ErrLineTooLong)
		}
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			return line, nil
		}
	}
}
