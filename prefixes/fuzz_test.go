package prefixes

import (
	"errors"
	"strings"
	"testing"
)

// checkWindow fails t unless w is valid and its String re-parses to w.
func checkWindow(t *testing.T, w Window, maxLen int) {
	t.Helper()
	if err := w.Validate(); err != nil {
		t.Fatalf("parsed window %v does not validate: %v", w, err)
	}
	s := w.String()
	w2, err := ParseWindow(s, maxLen)
	if err != nil {
		t.Fatalf("ParseWindow(%q) of a parsed window's String: %v", s, err)
	}
	if w2 != w {
		t.Fatalf("ParseWindow(%q) = %v, want the window it was printed from, %v", s, w2, w)
	}
	if n, ok := w.Subnets(); ok {
		if last := w.Subnet(n - 1); !w.Prefix.Contains(last.Addr()) || last.Bits() != w.End {
			t.Fatalf("%v.Subnet(%d) = %v lies outside the window", w, n-1, last)
		}
	}
}

func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{
		"2001:db8::/32-64", "2001:db8::/48", "2001:db8::1", "::/0-128", "::/0",
		"2001:db8::1/32", "192.0.2.0/24", "::ffff:192.0.2.1", "fe80::1%eth0",
		"fe80::%eth0/64", "2001:db8::/48-32", "2001:db8::/32-129", "2001:db8::/32-",
		"2001:db8::/32-+64", "2001:db8::/32-064", "2001-db8::/32", " 3fff::/20-128 ",
	} {
		f.Add(s, 0)
	}
	f.Add("2001:db8::/48", 56)
	f.Add("2001:db8::/48", 129)
	f.Add("2001:db8:0:1:2::/80", -1)
	f.Fuzz(func(t *testing.T, s string, maxLen int) {
		w, err := ParseWindow(s, maxLen)
		if err != nil {
			if w != (Window{}) {
				t.Fatalf("ParseWindow(%q, %d) returned %v with error %v", s, maxLen, w, err)
			}
			return
		}
		checkWindow(t, w, maxLen)
	})
}

func FuzzParseTargets(f *testing.F) {
	f.Add("2001:db8::/32-64\n2001:db8:1::/48 # lab\n\n# comment\n2001:db8::1\n", 0)
	f.Add("\uFEFF2001:db8::/48\r\n3fff::/20-24\r\n", 56)
	f.Add("192.0.2.0/24\nfoo\n2001:db8::1/32\n", 0)
	f.Add("2001:db8::/48#x\n#\n  \t\n2001:db8::/32-", 128)
	f.Add(strings.Repeat("bad\n", MaxParseErrors+2), 0)
	f.Fuzz(func(t *testing.T, in string, maxLen int) {
		ws, err := ParseTargets(strings.NewReader(in), "fuzz.txt", maxLen)
		if err != nil {
			if ws != nil {
				t.Fatalf("ParseTargets returned %d windows with error %v", len(ws), err)
			}
			if maxLen >= 0 && maxLen <= 128 {
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("ParseTargets error %q holds no *ParseError", err)
				}
				if pe.File != "fuzz.txt" || pe.Line < 1 || pe.Line > strings.Count(in, "\n")+1 || pe.Err == nil {
					t.Fatalf("ParseError %+v: bad file, line or reason", *pe)
				}
			}
			return
		}
		for _, w := range ws {
			checkWindow(t, w, maxLen)
		}
		ps, perr := ParsePrefixList(strings.NewReader(in), "fuzz.txt")
		if perr == nil {
			// Every prefix-list line is also a target line.
			if len(ps) != len(ws) {
				t.Fatalf("ParsePrefixList found %d prefixes, ParseTargets %d windows", len(ps), len(ws))
			}
			for i, p := range ps {
				if p != ws[i].Prefix {
					t.Fatalf("line %d: ParsePrefixList %v, ParseTargets %v", i, p, ws[i])
				}
			}
		}
	})
}

func FuzzParsePrefixList(f *testing.F) {
	f.Add("2001:db8::/32 # docs\n2001:db8:1::1\n\n3fff::/20\n")
	f.Add("2001:db8::/32-64\n192.0.2.0/24\nfe80::1%eth0\n2001:db8::1/32\n")
	f.Fuzz(func(t *testing.T, in string) {
		ps, err := ParsePrefixList(strings.NewReader(in), "block.txt")
		if err != nil {
			var pe *ParseError
			if ps != nil || !errors.As(err, &pe) || pe.Line < 1 || pe.File != "block.txt" {
				t.Fatalf("ParsePrefixList = %v, %v: want no prefixes and a *ParseError", ps, err)
			}
			return
		}
		for _, p := range ps {
			if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "" || p.Masked() != p {
				t.Fatalf("ParsePrefixList returned %v, not a masked IPv6 prefix", p)
			}
			again, err := ParsePrefixList(strings.NewReader(p.String()), "again")
			if err != nil || len(again) != 1 || again[0] != p {
				t.Fatalf("%v re-parses to %v, %v", p, again, err)
			}
		}
	})
}
