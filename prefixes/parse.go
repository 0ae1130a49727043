package prefixes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// MaxLineLen is the longest line, in bytes without its line terminator, that
// the list parsers accept. A longer line is reported as a ParseError wrapping
// ErrLineTooLong and skipped; parsing goes on with the next line.
const MaxLineLen = 64 << 10

// MaxParseErrors is the number of malformed lines a list parser reports one
// by one; beyond it the returned error only counts the rest.
const MaxParseErrors = 20

// ErrLineTooLong is wrapped by the ParseError of a line longer than MaxLineLen.
var ErrLineTooLong = fmt.Errorf("line longer than %d bytes", MaxLineLen)

// ParseError reports a malformed line of a prefix source. Unwrap returns Err.
type ParseError struct {
	// File names the source, as given by the caller (a path, "-", "stdin").
	File string
	// Line is the 1-based line number.
	Line int
	// Err says what is wrong with the line.
	Err error
}

// Error returns "FILE:LINE: reason", or "line LINE: reason" when File is empty.
func (e *ParseError) Error() string {
	if e.File == "" {
		return "line " + strconv.Itoa(e.Line) + ": " + e.Err.Error()
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Err.Error()
}

// Unwrap returns e.Err.
func (e *ParseError) Unwrap() error { return e.Err }

// ParseTargets reads a plain target list from r: one target per line, in any
// form ParseWindow accepts ("2001:db8::/32-64", "2001:db8::/48",
// "2001:db8::1"), with maxLen applied to plain prefixes as ParseWindow does
// (0 means DefaultMaxLen). Everything from a '#' to the end of its line is a
// comment; surrounding whitespace, blank lines, CRLF line ends and a leading
// UTF-8 byte order mark are ignored. name labels the source in errors.
//
// Windows are returned in input order, duplicates and overlaps included
// (Blocklist.Subtract merges them). ParseTargets reads r to the end and
// reports every malformed line at once: a single bad line gives a
// *ParseError, several give an errors.Join of *ParseError values (at most
// MaxParseErrors, then a line counting the rest), so errors.As finds the
// first. A read error from r is returned wrapped with name. On any error the
// windows are nil.
func ParseTargets(r io.Reader, name string, maxLen int) ([]Window, error) {
	if maxLen < 0 || maxLen > 128 {
		return nil, fmt.Errorf("max length /%d outside 0..128", maxLen)
	}
	var ws []Window
	err := parseLines(r, name, func(s string) error {
		w, err := ParseWindow(s, maxLen)
		if err != nil {
			return err
		}
		ws = append(ws, w)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ws, nil
}

// ParseTargetFile is ParseTargets on the file at path, with path as the name
// in errors. An error opening the file is wrapped with path and matches
// fs.ErrNotExist and the like with errors.Is.
func ParseTargetFile(path string, maxLen int) ([]Window, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("target list: %w", err)
	}
	defer f.Close()
	return ParseTargets(f, path, maxLen)
}

// ParsePrefixList reads a blocklist or opt-out list from r: one IPv6 prefix
// ("2001:db8::/48") or single address ("2001:db8::1", read as /128) per line,
// with the comment, whitespace and error rules of ParseTargets. A prefix must
// be masked; IPv4 (ErrNotIPv6), zones and windows ("2001:db8::/32-64") are
// errors. Prefixes are returned in input order, not merged.
func ParsePrefixList(r io.Reader, name string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	err := parseLines(r, name, func(s string) error {
		p, err := parsePrefixOrAddr(s)
		if err != nil {
			return err
		}
		ps = append(ps, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ps, nil
}

// ParsePrefixFile is ParsePrefixList on the file at path, with path as the
// name in errors. An error opening the file is wrapped with path.
func ParsePrefixFile(path string) ([]netip.Prefix, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("prefix list: %w", err)
	}
	defer f.Close()
	return ParsePrefixList(f, path)
}

// parsePrefixOrAddr parses one line of a prefix list.
func parsePrefixOrAddr(s string) (netip.Prefix, error) {
	if strings.IndexByte(s, '/') < 0 {
		a, err := parseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, 128), nil
	}
	if pfx, _, ok := strings.Cut(s, "-"); ok && strings.IndexByte(pfx, '/') >= 0 {
		return netip.Prefix{}, fmt.Errorf("window %q in a prefix list (give the prefix %s)", s, pfx)
	}
	return parsePrefix(s)
}

// parseLines calls fn with every non-blank line of r, comments and
// surrounding whitespace removed, and collects fn's errors as ParseErrors.
func parseLines(r io.Reader, name string, fn func(string) error) error {
	return scanLines(r, name, true, func(_ int, s string) error { return fn(s) })
}

// scanLines is parseLines; with stripComments false, '#' lines and tails
// reach fn (after trimming) for the caller to interpret.
// fn also gets the 1-based line number.
func scanLines(r io.Reader, name string, stripComments bool, fn func(int, string) error) error {
	br := bufio.NewReaderSize(r, 16<<10)
	var (
		errs  []error
		extra int
		buf   []byte
	)
	report := func(n int, err error) {
		if len(errs) < MaxParseErrors {
			errs = append(errs, &ParseError{File: name, Line: n, Err: err})
		} else {
			extra++
		}
	}
	for n := 1; ; n++ {
		line, tooLong, err := readLine(br, buf[:0])
		if err == io.EOF {
			break
		}
		if err != nil {
			if name == "" {
				return fmt.Errorf("read: %w", err)
			}
			return fmt.Errorf("read %s: %w", name, err)
		}
		buf = line[:0]
		if tooLong {
			report(n, ErrLineTooLong)
			continue
		}
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\uFEFF"))
		}
		if i := bytes.IndexByte(line, '#'); i >= 0 && stripComments {
			line = line[:i]
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if err := fn(n, string(line)); err != nil {
			report(n, err)
		}
	}
	switch {
	case len(errs) == 0:
		return nil
	case len(errs) == 1:
		return errs[0]
	}
	if extra > 0 {
		more := fmt.Errorf("and %d more malformed lines", extra)
		if name != "" {
			more = fmt.Errorf("%s: %w", name, more)
		}
		errs = append(errs, more)
	}
	return errors.Join(errs...)
}

// readLine appends the next line of br, without its "\n" or "\r\n", to buf
// and returns it. A line longer than MaxLineLen is consumed and reported with
// tooLong set and its content dropped. At the end of input, err is io.EOF; a
// final line without "\n" is still returned first.
func readLine(br *bufio.Reader, buf []byte) (line []byte, tooLong bool, err error) {
	read := false
	for {
		frag, err := br.ReadSlice('\n')
		read = read || len(frag) > 0
		if !tooLong && len(buf)+len(frag) <= MaxLineLen+2 { // +2: "\r\n"
			buf = append(buf, frag...)
		} else {
			tooLong, buf = true, buf[:0]
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && !read:
			return nil, false, io.EOF
		case err != nil && err != io.EOF:
			return nil, false, err
		case tooLong:
			return buf, true, nil
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		buf = bytes.TrimSuffix(buf, []byte("\r"))
		return buf, len(buf) > MaxLineLen, nil
	}
}
