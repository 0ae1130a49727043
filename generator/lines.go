package generator

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/p2pnet/widescan/prefixes"
)

// readPath opens path ("-" is standard input, named "stdin") and reads it
// with read, which is given the name to report; an open error is wrapped
// with what.
func readPath[T any](path, what string, read func(io.Reader, string) (T, error)) (T, error) {
	if path == "-" {
		return read(os.Stdin, "stdin")
	}
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	return read(f, path)
}

// readAddrLines reads one address per line from r, as target lists and seed
// files are written: '#' starts a comment, blank lines are skipped, a leading
// UTF-8 byte-order mark and surrounding space are ignored. parse turns a
// trimmed, non-empty line into an address; a line it refuses stops the read
// with a *prefixes.ParseError naming name and the 1-based line, wrapping bad.
// A line over prefixes.MaxLineLen bytes wraps prefixes.ErrLineTooLong; a read
// error is returned wrapped with name.
func readAddrLines(r io.Reader, name string, parse func([]byte) (netip.Addr, bool), bad error, each func(netip.Addr)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), prefixes.MaxLineLen)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		if i := bytes.IndexByte(b, '#'); i >= 0 {
			b = b[:i]
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		a, ok := parse(b)
		if !ok {
			return &prefixes.ParseError{File: name, Line: line, Err: fmt.Errorf("%q: %w", b, bad)}
		}
		each(a)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return &prefixes.ParseError{File: name, Line: line + 1, Err: prefixes.ErrLineTooLong}
		}
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}
