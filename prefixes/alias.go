package prefixes

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Alias is one entry of a known aliased-prefix list: a prefix in which
// (nearly) every address answers, because one host or middlebox responds for
// the whole prefix. Hits inside it say nothing about live hosts. Alias is a
// plain value.
type Alias struct {
	// Prefix is the aliased prefix, masked.
	Prefix netip.Prefix
	// Possibility is the list's own confidence score: the number after
	// "alised_possibility:" in the TBT format (1 to 8 in the 2020 list,
	// 8 for 20,022 of its 20,300 entries); 0 when the format has none (a
	// plain list, or a TBT line without the field).
	Possibility int
	// Line is the 1-based line of the entry.
	Line int
}

// ParseAliasList reads a known aliased-prefix list from r. Two line formats
// are accepted, mixed freely:
//
//   - the IPv6 Hitlist's aliased-prefixes list (Gasser et al., "Clusters in
//     the Expanse", IMC 2018; https://ipv6hitlist.github.io): one IPv6
//     prefix (or address, read as /128) per line, '#' comments, as
//     ParsePrefixList reads;
//   - the list of the TBT aliased-prefix detector
//     (github.com/sixiangdeweicao/Aliased_prefixs_TBT,
//     memo/aliased-prefixes/aliased-prefixes.txt), whose entries are
//     written as comments: "# <n> <prefix> alised_possibility:<k>" (the
//     spelling is theirs; "aliased_possibility" is accepted too, and the
//     field may be absent). A '#' line counts as such an entry when its
//     first word is a decimal number and its second contains '/' and ':';
//     every other '#' line is a comment.
//
// Blank lines, surrounding whitespace, CRLF and a leading byte order mark are
// ignored. Entries are returned in input order, not merged. Like ParseTargets
// it reads to the end and reports every malformed line as a *ParseError
// naming name and the line (wrapping ErrBadPrefix or ErrBadSyntax; IPv4 is an
// error wrapping ErrNotIPv6), joined with errors.Join when there are several;
// on any error the entries are nil.
func ParseAliasList(r io.Reader, name string) ([]Alias, error) {
	var as []Alias
	err := scanLines(r, name, false, func(n int, s string) error {
		a, ok, err := parseAliasLine(s)
		if err != nil || !ok {
			return err
		}
		a.Line = n
		as = append(as, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return as, nil
}

// ParseAliasFile is ParseAliasList on the file at path, with path as the name
// in errors. An error opening the file is wrapped with path and matches
// fs.ErrNotExist and the like with errors.Is.
func ParseAliasFile(path string) ([]Alias, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("aliased-prefix list: %w", err)
	}
	defer f.Close()
	return ParseAliasList(f, path)
}

// AliasPrefixes returns the prefixes of the entries whose Possibility is 0
// (no score) or at least minPossibility, in order. minPossibility <= 0 keeps
// every entry.
func AliasPrefixes(as []Alias, minPossibility int) []netip.Prefix {
	ps := make([]netip.Prefix, 0, len(as))
	for _, a := range as {
		if a.Possibility == 0 || a.Possibility >= minPossibility {
			ps = append(ps, a.Prefix)
		}
	}
	return ps
}

// parseAliasLine parses one trimmed, non-blank line; ok is false for a
// comment.
func parseAliasLine(s string) (a Alias, ok bool, err error) {
	if rest, isComment := strings.CutPrefix(s, "#"); isComment {
		f := strings.Fields(rest)
		if len(f) < 2 || !isDecimal(f[0]) || !strings.Contains(f[1], "/") || !strings.Contains(f[1], ":") {
			return Alias{}, false, nil
		}
		p, err := parsePrefix(f[1])
		if err != nil {
			return Alias{}, false, fmt.Errorf("%w: %w", ErrBadPrefix, err)
		}
		a = Alias{Prefix: p}
		switch len(f) {
		case 2:
		case 3:
			k, v, found := strings.Cut(f[2], ":")
			if !found || (k != "alised_possibility" && k != "aliased_possibility") {
				return Alias{}, false, fmt.Errorf("%w: %q: want alised_possibility:N", ErrBadSyntax, clip([]byte(f[2])))
			}
			if !isDecimal(v) || len(v) > 9 {
				return Alias{}, false, fmt.Errorf("%w: possibility %q is not a number", ErrBadField, clip([]byte(v)))
			}
			a.Possibility, _ = strconv.Atoi(v)
		default:
			return Alias{}, false, fmt.Errorf("%w: %d fields after the prefix (want alised_possibility:N at most)", ErrBadSyntax, len(f)-2)
		}
		return a, true, nil
	}
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	p, err := parsePrefixOrAddr(s)
	if err != nil {
		return Alias{}, false, fmt.Errorf("%w: %w", ErrBadPrefix, err)
	}
	return Alias{Prefix: p}, true, nil
}

// isDecimal reports whether s is a non-empty string of ASCII digits.
func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
