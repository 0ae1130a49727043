package prefixes

import (
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseTargets(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		maxLen int
		want   []string
	}{
		{"an empty list has no targets", "", 0, nil},
		{"a list of only comments and blanks has no targets", "# nothing\n\n   \n\t# still nothing\n", 0, nil},
		{"each line is one target in input order", "2001:db8::/32-64\n2001:db8:1::/48\n2001:db8::1\n", 0,
			[]string{"2001:db8::/32-64", "2001:db8:1::/48-64", "2001:db8::1/128-128"}},
		{"whole-line and trailing comments are dropped", "# header\n2001:db8::/48 # lab\n2001:db8::1#no space\n", 0,
			[]string{"2001:db8::/48-64", "2001:db8::1/128-128"}},
		{"surrounding whitespace and CRLF are ignored", "  2001:db8::/48  \r\n\t2001:db8:1::/48\r\n", 0,
			[]string{"2001:db8::/48-64", "2001:db8:1::/48-64"}},
		{"a last line without a newline is read", "2001:db8::/48\n2001:db8:1::/48", 0,
			[]string{"2001:db8::/48-64", "2001:db8:1::/48-64"}},
		{"a leading byte order mark is ignored", "\uFEFF2001:db8::/48\n", 0, []string{"2001:db8::/48-64"}},
		{"maxLen applies to plain prefixes only", "2001:db8::/48\n2001:db8::/32-40\n", 56,
			[]string{"2001:db8::/48-56", "2001:db8::/32-40"}},
		{"duplicates are kept for Subtract to merge", "2001:db8::/48\n2001:db8::/48\n", 0,
			[]string{"2001:db8::/48-64", "2001:db8::/48-64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, err := ParseTargets(strings.NewReader(tt.in), "targets.txt", tt.maxLen)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range ws {
				got = append(got, w.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParseTargets(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseTargetsErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  []string // the Error of each *ParseError, in order
		extra string   // when set, the joined error's text must contain it
	}{
		{"a bad line is named by file and line",
			"# targets\n2001:db8::/48\n192.0.2.0/24\n",
			[]string{"targets.txt:3: 192.0.2.0/24: not an IPv6 prefix"}, ""},
		{"an unmasked prefix names the masked one",
			"\n\n2001:db8::1/32 # typo\n",
			[]string{"targets.txt:3: prefix 2001:db8::1/32 has bits set beyond /32 (use 2001:db8::/32)"}, ""},
		{"comment and blank lines still count toward the line number",
			"# a\n\n# b\n\nnot-an-address\n",
			[]string{`targets.txt:5: bad address "not-an-address"`}, ""},
		{"every bad line is reported at once",
			"2001:db8::/48\nfoo\n2001:db8::/32-20\nbar\n",
			[]string{
				`targets.txt:2: bad address "foo"`,
				"targets.txt:3: 2001:db8::/32-20: window end /20 outside /32..128",
				`targets.txt:4: bad address "bar"`,
			}, ""},
		{"past MaxParseErrors the rest are counted",
			strings.Repeat("bad\n", MaxParseErrors+3),
			nil, "targets.txt: and 3 more malformed lines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, err := ParseTargets(strings.NewReader(tt.in), "targets.txt", 0)
			if err == nil {
				t.Fatalf("ParseTargets(%q) = %v, want an error", tt.in, ws)
			}
			if ws != nil {
				t.Errorf("ParseTargets returned windows %v with its error", ws)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %q (%T) holds no *ParseError", err, err)
			}
			if pe.File != "targets.txt" || pe.Line < 1 || pe.Err == nil {
				t.Errorf("first ParseError = %+v, want File targets.txt, Line >= 1 and an Err", *pe)
			}
			got := parseErrorTexts(err)
			if tt.want != nil && !slices.Equal(got, tt.want) {
				t.Errorf("ParseTargets(%q) errors:\n got %q\nwant %q", tt.in, got, tt.want)
			}
			if tt.extra != "" {
				if len(got) != MaxParseErrors {
					t.Errorf("got %d ParseErrors, want %d", len(got), MaxParseErrors)
				}
				if !strings.Contains(err.Error(), tt.extra) {
					t.Errorf("error %q does not contain %q", err, tt.extra)
				}
			}
		})
	}
}

// parseErrorTexts returns the Error text of each *ParseError in err, which is
// either one *ParseError or an errors.Join of errors.
func parseErrorTexts(err error) []string {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []string
	for _, e := range errs {
		if pe, ok := e.(*ParseError); ok {
			out = append(out, pe.Error())
		}
	}
	return out
}

func TestParseErrorUnwrapsToTheReason(t *testing.T) {
	_, err := ParseTargets(strings.NewReader("2001:db8::/32\n192.0.2.1\n"), "t.txt", 0)
	if !errors.Is(err, ErrNotIPv6) {
		t.Errorf("errors.Is(%q, ErrNotIPv6) = false, want true", err)
	}
	pe := &ParseError{Line: 7, Err: errors.New("bad")}
	if got, want := pe.Error(), "line 7: bad"; got != want {
		t.Errorf("ParseError without a file: Error() = %q, want %q", got, want)
	}
}

func TestParseTargetsLongLines(t *testing.T) {
	longComment := "2001:db8::/48 # " + strings.Repeat("x", 100<<10) + "\n"
	tooLong := strings.Repeat(" ", MaxLineLen+1) + "2001:db8::/48\n"
	exact := strings.Repeat(" ", MaxLineLen-len("2001:db8::/48")) + "2001:db8::/48"

	t.Run("a line of exactly MaxLineLen bytes is read", func(t *testing.T) {
		for _, in := range []string{exact, exact + "\n", exact + "\r", exact + "\r\n"} {
			ws, err := ParseTargets(strings.NewReader(in), "long.txt", 0)
			if err != nil || len(ws) != 1 {
				t.Errorf("ParseTargets(%d bytes) = %v, %v, want one window", len(in), ws, err)
			}
		}
	})
	t.Run("a line past MaxLineLen is an error naming its line, and parsing goes on", func(t *testing.T) {
		in := "2001:db8::/48\n" + longComment + tooLong + "bad\n"
		_, err := ParseTargets(strings.NewReader(in), "long.txt", 0)
		want := []string{
			"long.txt:2: " + ErrLineTooLong.Error(),
			"long.txt:3: " + ErrLineTooLong.Error(),
			`long.txt:4: bad address "bad"`,
		}
		if got := parseErrorTexts(err); !slices.Equal(got, want) {
			t.Errorf("errors:\n got %q\nwant %q", got, want)
		}
		if !errors.Is(err, ErrLineTooLong) {
			t.Errorf("errors.Is(err, ErrLineTooLong) = false")
		}
	})
	t.Run("a final over-long line without a newline is an error", func(t *testing.T) {
		_, err := ParseTargets(strings.NewReader(strings.Repeat("#", MaxLineLen+1)), "long.txt", 0)
		if got, want := parseErrorTexts(err), []string{"long.txt:1: " + ErrLineTooLong.Error()}; !slices.Equal(got, want) {
			t.Errorf("errors %q, want %q", got, want)
		}
	})
}

func TestParseTargetsReadsOneByteAtATime(t *testing.T) {
	in := "2001:db8::/48 # a\n\n2001:db8::1\n"
	ws, err := ParseTargets(iotest.OneByteReader(strings.NewReader(in)), "t.txt", 0)
	if err != nil || len(ws) != 2 {
		t.Errorf("ParseTargets = %v, %v, want two windows", ws, err)
	}
}

func TestParseTargetsReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("2001:db8::/48\n"), iotest.ErrReader(boom))
	_, err := ParseTargets(r, "t.txt", 0)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "t.txt") {
		t.Errorf("ParseTargets on a failing reader: %v, want the read error wrapped with the name", err)
	}
}

func TestParseTargetsRejectsBadMaxLen(t *testing.T) {
	if _, err := ParseTargets(strings.NewReader("2001:db8::/48\n"), "t.txt", 129); err == nil {
		t.Error("ParseTargets with maxLen 129: nil error")
	}
}

func TestParseTargetFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "targets.txt")
	if err := os.WriteFile(path, []byte("2001:db8::/32-48\n2001:db8::zz\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ParseTargetFile(path, 0)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.File != path || pe.Line != 2 {
		t.Errorf("ParseTargetFile error %v, want a ParseError at %s:2", err, path)
	}

	missing := filepath.Join(dir, "missing.txt")
	_, err = ParseTargetFile(missing, 0)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("ParseTargetFile(missing) = %v, want fs.ErrNotExist naming the path", err)
	}
}

func TestParsePrefixList(t *testing.T) {
	in := `# opt-out list
2001:db8::/32        # whole documentation prefix
2001:db8:1::1        # one host
3fff::/20
`
	got, err := ParsePrefixList(strings.NewReader(in), "optout.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("2001:db8:1::1/128"),
		netip.MustParsePrefix("3fff::/20"),
	}
	if !slices.Equal(got, want) {
		t.Errorf("ParsePrefixList = %v, want %v", got, want)
	}
}

func TestParsePrefixListErrors(t *testing.T) {
	tests := []struct {
		name string
		line string
		want string
	}{
		{"a window is not a prefix", "2001:db8::/32-64", `optout.txt:2: window "2001:db8::/32-64" in a prefix list (give the prefix 2001:db8::/32)`},
		{"an IPv4 prefix is not IPv6", "192.0.2.0/24", "optout.txt:2: 192.0.2.0/24: not an IPv6 prefix"},
		{"an unmasked prefix is an error", "2001:db8::1/32", "optout.txt:2: prefix 2001:db8::1/32 has bits set beyond /32 (use 2001:db8::/32)"},
		{"an address with a zone is an error", "fe80::1%eth0", `optout.txt:2: address "fe80::1%eth0" has a zone`},
		{"garbage is an error", "localhost", `optout.txt:2: bad address "localhost"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := "2001:db8::/48\n" + tt.line + " # comment\n"
			ps, err := ParsePrefixList(strings.NewReader(in), "optout.txt")
			if err == nil {
				t.Fatalf("ParsePrefixList(%q) = %v, want an error", in, ps)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %q holds no *ParseError", err)
			}
			if got := pe.Error(); got != tt.want {
				t.Errorf("error = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParsePrefixFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "block.txt")
	if err := os.WriteFile(path, []byte("2001:db8::/48\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ps, err := ParsePrefixFile(path)
	if err != nil || len(ps) != 1 || ps[0] != netip.MustParsePrefix("2001:db8::/48") {
		t.Errorf("ParsePrefixFile = %v, %v", ps, err)
	}
	if _, err := ParsePrefixFile(path + ".missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ParsePrefixFile(missing) = %v, want fs.ErrNotExist", err)
	}
}
