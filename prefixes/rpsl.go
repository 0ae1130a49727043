package prefixes

import (
	"bytes"
	"fmt"
	"io"
	"time"
)

// RPSL attributes a Record uses.
const (
	attrNone = iota
	attrKey  // inet6num or route6
	attrOrigin
	attrNetname
	attrCountry
	attrStatus
	attrOrg
	attrMntBy
	attrCreated
	attrModified
	attrSource
)

// maxAttrs bounds the kept attributes of one object, so that many empty
// values cannot grow memory either.
const maxAttrs = MaxObjectLen / 64

// rpslAttr is one kept attribute of the current object: its value is
// buf[start:end].
type rpslAttr struct {
	kind       int
	line       int
	start, end int
}

// rpslState is the RPSL parser's object in progress.
type rpslState struct {
	inObj   bool // inside an object (a line since the last blank)
	keep    bool // the object is an inet6num or route6
	broken  bool // the object was already reported malformed
	class   string
	objLine int
	attrs   []rpslAttr
	last    int // kind of the last attribute line, for continuations
	buf     []byte
}

// attrKind maps an attribute name (lower case) to what a Record keeps of it.
func attrKind(name []byte) int {
	switch string(name) {
	case "inet6num", "route6":
		return attrKey
	case "origin":
		return attrOrigin
	case "netname":
		return attrNetname
	case "country":
		return attrCountry
	case "status":
		return attrStatus
	case "org":
		return attrOrg
	case "mnt-by":
		return attrMntBy
	case "created":
		return attrCreated
	case "last-modified":
		return attrModified
	case "source":
		return attrSource
	}
	return attrNone
}

// lowerASCII lower-cases b in place when it has upper-case letters.
func lowerASCII(b []byte) []byte {
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}

// rpslValue trims a value and drops an end-of-line '#' comment (RFC 2622 §2).
func rpslValue(v []byte) []byte {
	if i := bytes.IndexByte(v, '#'); i >= 0 {
		v = v[:i]
	}
	return bytes.TrimSpace(v)
}

// nextRPSL reads RPSL objects until it can return an inet6num or route6
// record, a malformed one, or the end. Objects are separated by blank lines;
// lines starting with '#' or '%' are comments; a line starting with a blank,
// tab or '+' continues the attribute before it.
func (r *Reader) nextRPSL() (Record, error) {
	st := &r.rpsl
	for {
		line, tooLong, err := r.nextLine()
		if err == io.EOF {
			if st.inObj {
				st.inObj = false
				if st.keep && !st.broken {
					return r.rpslRecord()
				}
			}
			return Record{}, io.EOF
		}
		if err != nil {
			return Record{}, err
		}
		if tooLong {
			if st.inObj && !st.keep {
				continue // inside an object nobody reads
			}
			if st.inObj {
				st.broken = true
			}
			return Record{}, r.perr(r.line, ErrLineTooLong)
		}
		if len(line) == 0 {
			if !st.inObj {
				continue
			}
			st.inObj = false
			if st.keep && !st.broken {
				return r.rpslRecord()
			}
			continue
		}
		switch c := line[0]; c {
		case '#', '%':
			continue
		case ' ', '\t', '+':
			rest := line[1:]
			if len(bytes.TrimSpace(rest)) == 0 && c != '+' {
				// A blank-looking line ends the object, as in RIPE's dumps.
				if !st.inObj {
					continue
				}
				st.inObj = false
				if st.keep && !st.broken {
					return r.rpslRecord()
				}
				continue
			}
			if !st.inObj {
				st.inObj, st.keep, st.broken = true, false, true
				return Record{}, r.perr(r.line, fmt.Errorf("%w: continuation line outside an object", ErrBadSyntax))
			}
			if !st.keep || st.broken || st.last == attrNone {
				continue
			}
			v := rpslValue(rest)
			if len(v) == 0 {
				continue
			}
			if len(st.buf)+len(v)+1 > MaxObjectLen {
				st.broken = true
				return Record{}, r.perr(st.objLine, ErrObjectSize)
			}
			a := &st.attrs[len(st.attrs)-1]
			if a.end > a.start {
				st.buf = append(st.buf, ' ')
			}
			st.buf = append(st.buf, v...)
			a.end = len(st.buf)
			continue
		}
		if st.inObj && (!st.keep || st.broken) {
			continue // inside an object nobody reads
		}
		colon := bytes.IndexByte(line, ':')
		if !st.inObj {
			st.inObj, st.keep, st.broken = true, false, false
			st.objLine = r.line
			st.attrs, st.buf, st.last = st.attrs[:0], st.buf[:0], attrNone
			if !isAttrName(line, colon) {
				st.broken = true
				return Record{}, r.perr(r.line, fmt.Errorf("%w: %q is not an attribute line", ErrBadSyntax, clip(line)))
			}
			name := lowerASCII(line[:colon])
			switch string(name) {
			case "inet6num":
				st.keep, st.class = true, "inet6num"
			case "route6":
				st.keep, st.class = true, "route6"
			default:
				r.counts.Ignored++
			}
			if !st.keep {
				continue
			}
		}
		if !isAttrName(line, colon) {
			st.broken = true
			return Record{}, r.perr(r.line, fmt.Errorf("%w: %q is not an attribute line", ErrBadSyntax, clip(line)))
		}
		kind := attrKind(lowerASCII(line[:colon]))
		st.last = kind
		if kind == attrNone {
			continue
		}
		v := rpslValue(line[colon+1:])
		if len(st.buf)+len(v) > MaxObjectLen || len(st.attrs) >= maxAttrs {
			st.broken = true
			return Record{}, r.perr(st.objLine, ErrObjectSize)
		}
		start := len(st.buf)
		st.buf = append(st.buf, v...)
		st.attrs = append(st.attrs, rpslAttr{kind: kind, line: r.line, start: start, end: len(st.buf)})
	}
}

// isAttrName reports whether line[:colon] is an RPSL attribute name: a
// letter, then letters, digits, '-' or '_'. The value may follow the colon
// directly ("status:ASSIGNED PA").
func isAttrName(line []byte, colon int) bool {
	if colon <= 0 || !isLetter(line[0]) {
		return false
	}
	for _, c := range line[1:colon] {
		if !isLetter(c) && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// clip shortens b for an error message.
func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// rpslRecord builds the Record of the finished object in r.rpsl.
func (r *Reader) rpslRecord() (Record, error) {
	st := &r.rpsl
	rec := Record{Class: st.class, Line: st.objLine}
	var haveKey, haveOrigin bool
	for _, a := range st.attrs {
		v := st.buf[a.start:a.end]
		switch a.kind {
		case attrKey:
			if haveKey {
				continue
			}
			p, err := parsePrefixBytes(v)
			if err != nil {
				return Record{}, r.perr(a.line, fmt.Errorf("%s: %w", st.class, err))
			}
			rec.Prefix, haveKey = p, true
		case attrOrigin:
			if haveOrigin {
				continue
			}
			asn, ok := parseASN(v)
			if !ok {
				return Record{}, r.perr(a.line, fmt.Errorf("%w %q", ErrBadOrigin, clip(v)))
			}
			rec.Origin, haveOrigin = asn, true
		case attrNetname:
			if rec.Netname == "" {
				rec.Netname = string(v)
			}
		case attrCountry:
			if rec.Country == "" {
				rec.Country = r.str(bytes.ToUpper(v))
			}
		case attrStatus:
			if rec.Status == "" {
				rec.Status = r.str(v)
			}
		case attrOrg:
			if rec.Org == "" {
				rec.Org = r.str(v)
			}
		case attrSource:
			if rec.Source == "" {
				rec.Source = r.str(v)
			}
		case attrMntBy:
			for len(v) > 0 {
				var m []byte
				if i := bytes.IndexByte(v, ','); i >= 0 {
					m, v = v[:i], v[i+1:]
				} else {
					m, v = v, nil
				}
				if m = bytes.TrimSpace(m); len(m) > 0 {
					rec.MntBy = append(rec.MntBy, r.str(m))
				}
			}
		case attrCreated, attrModified:
			t, err := time.Parse(time.RFC3339, string(v))
			if err != nil {
				return Record{}, r.perr(a.line, fmt.Errorf("%w %q", ErrBadDate, clip(v)))
			}
			if a.kind == attrCreated {
				rec.Created = t.UTC()
			} else {
				rec.LastModified = t.UTC()
			}
		}
	}
	if !haveKey {
		return Record{}, r.perr(st.objLine, fmt.Errorf("%w: %s has no value", ErrMissing, st.class))
	}
	if st.class == "route6" && !haveOrigin {
		return Record{}, r.perr(st.objLine, fmt.Errorf("%w: route6 %s has no origin", ErrMissing, rec.Prefix))
	}
	return rec, nil
}
