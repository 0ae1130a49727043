package generator

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/p2pnet/widescan/prefixes"
)

func TestParseSeeds(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
		line int // error line, 0 for none
	}{
		{"compressed and hex forms are the same address", "2001:db8::1\n20010db8000000000000000000000001\n", []string{"2001:db8::1"}, 0},
		{"comments, blanks, CRLF and a BOM are ignored", "\xef\xbb\xbf# seeds\r\n\r\n2001:db8::2 # two\r\n  2001:DB8::1\n", []string{"2001:db8::1", "2001:db8::2"}, 0},
		{"upper-case hex is read", "20010DB80000000000000000000000FF", []string{"2001:db8::ff"}, 0},
		{"an IPv4 address is an error with its line", "2001:db8::1\n\n192.0.2.1\n", nil, 3},
		{"an IPv4-mapped address is an error", "::ffff:192.0.2.1", nil, 1},
		{"31 hex digits are an error", "# x\n20010db800000000000000000000001", nil, 2},
		{"a prefix is an error", "2001:db8::/32", nil, 1},
		{"a zone is an error", "fe80::1%eth0", nil, 1},
		{"bad hex is an error", "20010db80000000000000000000000zz", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSeeds(strings.NewReader(tt.in), "f")
			if tt.line != 0 {
				var pe *prefixes.ParseError
				if !errors.As(err, &pe) || pe.Line != tt.line || pe.File != "f" || !errors.Is(err, ErrSeed) {
					t.Fatalf("ParseSeeds = %v, %v; want a ParseError at line %d wrapping ErrSeed", got, err, tt.line)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want []netip.Addr
			for _, s := range tt.want {
				want = append(want, netip.MustParseAddr(s))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("ParseSeeds = %v, want %v", got, want)
			}
		})
	}
}

func TestParseSeedsLongLine(t *testing.T) {
	_, err := ParseSeeds(strings.NewReader("::1\n"+strings.Repeat("a", prefixes.MaxLineLen+1)), "f")
	var pe *prefixes.ParseError
	if !errors.As(err, &pe) || pe.Line != 2 || !errors.Is(err, prefixes.ErrLineTooLong) {
		t.Fatalf("ParseSeeds = %v; want ErrLineTooLong at line 2", err)
	}
}

// FuzzParseSeeds checks ParseSeeds against a slow reference: every
// accepted file gives sorted, distinct IPv6 addresses, each of which some
// line spells, and every error is a *prefixes.ParseError with a line number
// inside the input.
func FuzzParseSeeds(f *testing.F) {
	for _, s := range []string{"2001:db8::1\n", "20010db8000000000000000000000001", "# c\n::1 # x\r\n", "192.0.2.1",
		"::ffff:1.2.3.4", "fe80::1%eth0", "2001:db8::/32", "\xef\xbb\xbf::2\n::1\n::2", "0000000000000000000000000000000g", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseSeeds(strings.NewReader(s), "fuzz")
		if err != nil {
			var pe *prefixes.ParseError
			if !errors.As(err, &pe) || pe.Line < 1 || pe.Line > strings.Count(s, "\n")+1 {
				t.Fatalf("ParseSeeds(%q): %v: want a ParseError with a line in the input", s, err)
			}
			return
		}
		// Reference: each non-comment line, parsed on its own.
		var want []netip.Addr
		for i, l := range strings.Split(s, "\n") {
			if i == 0 {
				l = strings.TrimPrefix(l, "\xef\xbb\xbf")
			}
			l, _, _ = strings.Cut(l, "#")
			l = strings.TrimSpace(l)
			if l == "" {
				continue
			}
			a, ok := parseSeed([]byte(l))
			if !ok || !a.Is6() || a.Is4In6() {
				t.Fatalf("ParseSeeds(%q) accepted line %q", s, l)
			}
			want = append(want, a)
		}
		slices.SortFunc(want, netip.Addr.Compare)
		want = slices.Compact(want)
		if !slices.Equal(got, want) {
			t.Fatalf("ParseSeeds(%q) = %v, want %v", s, got, want)
		}
	})
}
