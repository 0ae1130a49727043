package prefixes

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Record is one prefix read from a registry or routing source: an RPSL
// inet6num or route6 object, an ipv6 line of an RIR delegated-extended
// statistics file, a BGP table entry, a RIPEstat CSV row or a line of a plain
// list. Fields a format does not carry are left zero. Record is a plain value;
// its strings and slices are never modified by the Reader after it is
// returned, so a caller may keep it.
type Record struct {
	// Prefix is the record's IPv6 prefix, masked, as the file gives it
	// (RPSL inet6num/route6 key, delegated start/value, table prefix).
	Prefix netip.Prefix
	// Class is the RPSL object class ("inet6num", "route6"), or for other
	// formats the format's name: "delegated", "bgp", "ripestat", "plain".
	Class string
	// Country is the ISO 3166 code in upper case ("NL"), or the registry's
	// pseudo-codes ("EU", "ZZ"); empty when the source has none.
	Country string
	// Status is the registry's status, as written: "ALLOCATED-BY-RIR",
	// "ASSIGNED PA" (RPSL), "allocated", "assigned", "available",
	// "reserved" (delegated files).
	Status string
	// Netname is the RPSL netname.
	Netname string
	// Org is the RPSL org handle ("ORG-TT1-TEST"); for delegated files it is
	// the opaque-id, which identifies the holder across records.
	Org string
	// Origin is the origin AS number (RPSL route6 origin, BGP table); 0 when
	// the source has none.
	Origin uint32
	// Source is the registry: the RPSL source ("RIPE", "TEST") or the
	// delegated file's registry field ("ripencc", "apnic").
	Source string
	// MntBy lists the RPSL mnt-by maintainers in file order.
	MntBy []string
	// Created and LastModified are the RPSL created and last-modified times
	// (UTC); Created is also a delegated file's date (midnight UTC). Zero when
	// absent ("", "00000000").
	Created, LastModified time.Time
	// File is the name the Reader was given for the source.
	File string
	// Line is the 1-based line on which the record starts (the RPSL class
	// attribute, the delegated or table line).
	Line int
}

// Format is a prefix source format. The zero value, FormatAuto, asks
// NewReader to detect the format from the content.
type Format int

// The formats a Reader parses.
const (
	// FormatAuto detects the format from the first lines (see DetectFormat).
	FormatAuto Format = iota
	// FormatPlain is a plain list: one prefix or address per line, '#'
	// comments, as ParsePrefixList reads (Team Cymru's fullbogons, opt-out
	// lists).
	FormatPlain
	// FormatRPSL is RPSL as in RIPE's split database dumps
	// (ripe.db.inet6num, ripe.db.route6) and whois output (RFC 2622 §2).
	FormatRPSL
	// FormatDelegated is an RIR delegated-extended statistics file
	// (registry|cc|type|start|value|date|status[|opaque-id...]), as all five
	// RIRs publish it, with its version header, summary lines and '#'
	// comments.
	FormatDelegated
	// FormatBGP is a BGP prefix table: pyasn IPASN files ("prefix<TAB>asn",
	// ';' comments) and plain "prefix asn" lists.
	FormatBGP
	// FormatRIPEstat is RIPEstat-style CSV, "prefix,cc,name", with header
	// lines anywhere (concatenated exports repeat them).
	FormatRIPEstat
)

var formatNames = [...]string{"auto", "plain", "rpsl", "delegated", "bgp", "ripestat"}

// String returns the format's name as ParseFormat accepts it: "auto",
// "plain", "rpsl", "delegated", "bgp", "ripestat".
func (f Format) String() string {
	if f >= 0 && int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat returns the Format named s (see Format.String); "ipasn" and
// "pyasn" are accepted for FormatBGP, "csv" for FormatRIPEstat.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "ipasn", "pyasn":
		return FormatBGP, nil
	case "csv":
		return FormatRIPEstat, nil
	}
	for i, n := range formatNames {
		if strings.EqualFold(s, n) {
			return Format(i), nil
		}
	}
	return FormatAuto, fmt.Errorf("unknown format %q (want auto, plain, rpsl, delegated, bgp or ripestat)", s)
}

// Reasons a record is malformed. A *ParseError returned by a Reader wraps one
// of them (or ErrLineTooLong, ErrNotIPv6), so errors.Is groups rejects.
var (
	ErrBadPrefix  = errors.New("bad prefix")
	ErrBadOrigin  = errors.New("bad origin AS")
	ErrBadDate    = errors.New("bad date")
	ErrBadField   = errors.New("bad field")
	ErrBadSyntax  = errors.New("bad syntax")
	ErrMissing    = errors.New("missing attribute")
	ErrObjectSize = fmt.Errorf("object longer than %d bytes", MaxObjectLen)
)

// MaxObjectLen bounds, in bytes, the attribute values an RPSL object may keep
// (the attributes a Record uses, continuation lines included; at most
// MaxObjectLen/64 such attributes). A larger
// object is reported as a ParseError wrapping ErrObjectSize and skipped, so a
// hostile file cannot grow memory without bound.
const MaxObjectLen = 1 << 20

// Reasons returns the sentinel errors a malformed record's ParseError wraps,
// for grouping rejects (as the CLI's --stats does).
func Reasons() []error {
	return []error{ErrLineTooLong, ErrNotIPv6, ErrBadPrefix, ErrBadOrigin, ErrBadDate, ErrBadField, ErrBadSyntax, ErrMissing, ErrObjectSize}
}

// Counts are a Reader's running totals.
type Counts struct {
	// Lines is the number of lines read.
	Lines int
	// Records is the number of records returned.
	Records int
	// Malformed is the number of ParseErrors returned (records skipped).
	Malformed int
	// Ignored is the number of well-formed entries that are not IPv6 prefix
	// records: other RPSL classes, ipv4 and asn lines and summaries of
	// delegated files, IPv4 rows of tables.
	Ignored int
}

// Reader reads Records from one prefix source, streaming: memory does not
// grow with the input (lines are bounded by MaxLineLen, RPSL objects by
// MaxObjectLen). Gzip input is detected by its magic bytes and decompressed.
// A Reader is not safe for concurrent use.
type Reader struct {
	name   string
	format Format
	gz     *gzip.Reader
	br     *bufio.Reader
	closer io.Closer
	err    error // sticky: a read error, or io.EOF
	line   int
	buf    []byte
	counts Counts
	intern map[string]string
	rpsl   rpslState
	seen   bool // delegated: a header or record was read
}

// peekLen is how much of the input DetectFormat sees.
const peekLen = 64 << 10

// NewReader returns a Reader of r. Input that starts with the gzip magic
// bytes (1f 8b) is decompressed (multi-member files too). With FormatAuto the
// format is detected from the first 64 KiB of content (see DetectFormat).
// name labels the source in Records and errors. The error is a read error or
// a bad gzip header, wrapped with name.
func NewReader(r io.Reader, name string, format Format) (*Reader, error) {
	if format < FormatAuto || format > FormatRIPEstat {
		return nil, fmt.Errorf("%s: unknown format %d", name, int(format))
	}
	rd := &Reader{name: name, format: format, intern: map[string]string{}}
	br := bufio.NewReaderSize(r, peekLen)
	magic, err := br.Peek(2)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read %s: gzip: %w", name, err)
		}
		rd.gz = gz
		br = bufio.NewReaderSize(gz, peekLen)
	}
	rd.br = br
	if format == FormatAuto {
		head, err := br.Peek(peekLen)
		if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
			return nil, rd.readErr(err)
		}
		rd.format = DetectFormat(head)
	}
	return rd, nil
}

// Open opens the file at path and returns a Reader of it named path; Close
// closes the file. An error opening it matches fs.ErrNotExist and the like
// with errors.Is.
func Open(path string, format Format) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f, path, format)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// Close closes the file of a Reader made by Open; otherwise it does nothing.
func (r *Reader) Close() error {
	if r.closer == nil {
		return nil
	}
	c := r.closer
	r.closer = nil
	return c.Close()
}

// Format returns the format being read (the detected one for FormatAuto).
func (r *Reader) Format() Format { return r.format }

// Name returns the name the Reader was given.
func (r *Reader) Name() string { return r.name }

// Counts returns the totals so far.
func (r *Reader) Counts() Counts { return r.counts }

// Next returns the next record. At the end of the input it returns io.EOF. A
// malformed record or line gives a *ParseError naming the file, the line and
// the reason (wrapping ErrBadPrefix, ErrLineTooLong, ...): it is skipped, and
// the caller may call Next again to go on (or stop, for strict parsing). Any
// other error (a read error, a truncated or corrupt gzip stream, wrapped with
// the file's name) is final and returned again by later calls.
func (r *Reader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	var (
		rec Record
		err error
	)
	switch r.format {
	case FormatRPSL:
		rec, err = r.nextRPSL()
	case FormatDelegated:
		rec, err = r.nextDelegated()
	case FormatBGP:
		rec, err = r.nextBGP()
	case FormatRIPEstat:
		rec, err = r.nextRIPEstat()
	default:
		rec, err = r.nextPlain()
	}
	if err != nil {
		if _, ok := err.(*ParseError); ok {
			r.counts.Malformed++
		} else {
			r.err = err
		}
		return Record{}, err
	}
	r.counts.Records++
	rec.File = r.name
	return rec, nil
}

// All returns an iterator over the remaining records. It yields each record
// with a nil error, each malformed record as a zero Record and its
// *ParseError (iteration goes on if the loop does), and a final read error
// (after which it stops). The end of input is not yielded.
func (r *Reader) All() iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for {
			rec, err := r.Next()
			if err == io.EOF {
				return
			}
			if !yield(rec, err) {
				return
			}
			if err != nil && r.err != nil {
				return
			}
		}
	}
}

// Records opens each file in turn with the given format (FormatAuto detects
// each one) and yields its records as Reader.All does. An error opening a
// file, or a final read error, is yielded and ends the iteration.
func Records(format Format, paths ...string) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for _, p := range paths {
			r, err := Open(p, format)
			if err != nil {
				yield(Record{}, err)
				return
			}
			failed := false
			for rec, err := range r.All() {
				if !yield(rec, err) {
					r.Close()
					return
				}
				failed = err != nil && r.err != nil
			}
			r.Close()
			if failed {
				return
			}
		}
	}
}

// readErr wraps an error of the underlying stream with the file name.
func (r *Reader) readErr(err error) error {
	if r.gz != nil {
		if err == io.ErrUnexpectedEOF {
			return fmt.Errorf("read %s: truncated gzip stream: %w", r.name, err)
		}
		return fmt.Errorf("read %s: gzip: %w", r.name, err)
	}
	return fmt.Errorf("read %s: %w", r.name, err)
}

// nextLine returns the next line without its terminator, valid until the next
// call. A line longer than MaxLineLen comes back empty with tooLong set. At
// the end it returns io.EOF; other errors are wrapped read errors.
func (r *Reader) nextLine() (line []byte, tooLong bool, err error) {
	line, tooLong, err = readLine(r.br, r.buf[:0])
	if err != nil {
		if err == io.EOF {
			return nil, false, io.EOF
		}
		return nil, false, r.readErr(err)
	}
	r.buf = line[:0]
	r.line++
	r.counts.Lines++
	if r.line == 1 {
		line = bytes.TrimPrefix(line, []byte("\uFEFF"))
	}
	return line, tooLong, nil
}

// perr returns a ParseError for line n.
func (r *Reader) perr(n int, err error) *ParseError {
	return &ParseError{File: r.name, Line: n, Err: err}
}

// maxIntern bounds the string cache of a Reader.
const maxIntern = 8192

// str returns b as a string, shared with earlier equal values while the cache
// has room, so repeated countries, statuses and maintainers cost nothing.
func (r *Reader) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := r.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(r.intern) < maxIntern && len(b) <= 64 {
		r.intern[s] = s
	}
	return s
}

// DetectFormat guesses the format of a source from its first bytes
// (decompressed): it looks at the first line that is not blank and not a '#'
// comment. A line with '|' is a delegated file; one starting with ';' a pyasn
// IPASN file; "name:" followed by a blank or the line end, or a '%' comment,
// is RPSL; a line with ',' is RIPEstat CSV; a prefix followed by a second
// field is a BGP table; anything else is a plain list. Empty input is
// FormatPlain.
func DetectFormat(head []byte) Format {
	for len(head) > 0 {
		var line []byte
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			line, head = head, nil
		}
		line = bytes.TrimPrefix(line, []byte("\uFEFF"))
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		switch {
		case t[0] == ';':
			return FormatBGP
		case t[0] == '%' || isAttrLine(line):
			return FormatRPSL
		case bytes.IndexByte(t, '|') >= 0:
			return FormatDelegated
		case bytes.IndexByte(t, ',') >= 0:
			return FormatRIPEstat
		}
		if i := bytes.IndexByte(t, '#'); i >= 0 {
			t = bytes.TrimSpace(t[:i])
		}
		if len(bytes.Fields(t)) >= 2 {
			return FormatBGP
		}
		return FormatPlain
	}
	return FormatPlain
}

// isAttrLine reports whether line starts with an RPSL attribute name and a
// colon followed by a blank or the line end ("inet6num:  ..."). An IPv6
// address never has a blank after a colon.
func isAttrLine(line []byte) bool {
	if len(line) == 0 || !isLetter(line[0]) {
		return false
	}
	for i := 1; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ':':
			return i+1 == len(line) || line[i+1] == ' ' || line[i+1] == '\t' || line[i+1] == '\r'
		case isLetter(c) || c >= '0' && c <= '9' || c == '-' || c == '_':
		default:
			return false
		}
	}
	return false
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// parseASN parses "64496", "AS64496" or "as64496" as an AS number.
func parseASN(b []byte) (uint32, bool) {
	if len(b) > 2 && b[0]|0x20 == 'a' && b[1]|0x20 == 's' {
		b = b[2:]
	}
	if len(b) == 0 || len(b) > 10 || (len(b) > 1 && b[0] == '0') {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return uint32(n), n <= 1<<32-1
}

// parsePrefixBytes parses a masked IPv6 prefix. IPv4 gives an error wrapping
// ErrNotIPv6, anything else malformed one wrapping ErrBadPrefix.
func parsePrefixBytes(b []byte) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(string(b))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%w %q", ErrBadPrefix, b)
	}
	if !p.Addr().Is6() || p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%s: %w", b, ErrNotIPv6)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%w %s: bits set beyond /%d", ErrBadPrefix, p, p.Bits())
	}
	return p, nil
}
