package prefixes

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// readAll reads every record of in with format f and checks the invariants
// every Reader keeps: records are masked IPv6 prefixes with a line inside the
// input, ParseErrors name the file and a line inside the input, the counts
// agree, and nothing panics.
func readAll(t *testing.T, in []byte, f Format) []Record {
	t.Helper()
	r, err := NewReader(bytes.NewReader(in), "fuzz", f)
	if err != nil {
		return nil
	}
	lines := bytes.Count(in, []byte("\n")) + 1
	var recs []Record
	malformed := 0
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				if r.gz == nil {
					t.Fatalf("non-parse error on in-memory plain input: %v", err)
				}
				break
			}
			if pe.File != "fuzz" || pe.Line < 1 || (r.gz == nil && pe.Line > lines) || pe.Err == nil {
				t.Fatalf("ParseError %+v: bad file, line or reason", *pe)
			}
			malformed++
			continue
		}
		p := rec.Prefix
		if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() || p.Masked() != p {
			t.Fatalf("record %+v: not a masked IPv6 prefix", rec)
		}
		if rec.File != "fuzz" || rec.Line < 1 || (r.gz == nil && rec.Line > lines) {
			t.Fatalf("record %+v: bad file or line", rec)
		}
		recs = append(recs, rec)
	}
	if c := r.Counts(); c.Records != len(recs) || c.Malformed != malformed {
		t.Fatalf("counts %+v, saw %d records and %d malformed", c, len(recs), malformed)
	}
	return recs
}

// writeRPSL prints rec as an RPSL object, the reference the parser must
// read back.
func writeRPSL(w io.Writer, rec Record) {
	fmt.Fprintf(w, "%s: %s\n", rec.Class, rec.Prefix)
	if rec.Origin != 0 || rec.Class == "route6" {
		fmt.Fprintf(w, "origin: AS%d\n", rec.Origin)
	}
	for _, kv := range [][2]string{{"netname", rec.Netname}, {"country", rec.Country}, {"status", rec.Status}, {"org", rec.Org}} {
		if kv[1] != "" {
			fmt.Fprintf(w, "%s: %s\n", kv[0], kv[1])
		}
	}
	for _, m := range rec.MntBy {
		fmt.Fprintf(w, "mnt-by: %s\n", m)
	}
	if !rec.Created.IsZero() {
		fmt.Fprintf(w, "created: %s\n", rec.Created.Format(time.RFC3339Nano))
	}
	if !rec.LastModified.IsZero() {
		fmt.Fprintf(w, "last-modified: %s\n", rec.LastModified.Format(time.RFC3339Nano))
	}
	if rec.Source != "" {
		fmt.Fprintf(w, "source: %s\n", rec.Source)
	}
	fmt.Fprintln(w)
}

func sameRecord(a, b Record) bool {
	return a.Prefix == b.Prefix && a.Class == b.Class && a.Country == b.Country && a.Status == b.Status &&
		a.Netname == b.Netname && a.Org == b.Org && a.Origin == b.Origin && a.Source == b.Source &&
		strings.Join(a.MntBy, ",") == strings.Join(b.MntBy, ",") &&
		a.Created.Equal(b.Created) && a.LastModified.Equal(b.LastModified)
}

func FuzzRPSL(f *testing.F) {
	for _, s := range []string{
		"inet6num: 2001:db8::/32\nnetname: X\ncountry: nl # c\nstatus: ASSIGNED PA\nsource: RIPE\n\n",
		"route6: 2a11:f2c0:ffcb::/48\norigin: AS215778\nmnt-by: A-MNT, B-MNT\nmnt-by: C\ncreated: 2024-01-04T14:17:05Z\nlast-modified: 2024-08-09T19:08:36Z\nsource: RIPE\n",
		"% whois\n\nperson: X\naddress: a\n b\n\t c\n+ d\n\ninet6num:\t2001:db8:1::/48\nnetname:\tN\n\t more\n+\n",
		"inet6num: 2001:db8::1/32\n\nroute6: 2001:db8::/32\n\ninet6num: 10.0.0.0/8\n\n route6: x\n\ngarbage\ninet6num: ::/0\ncreated: yesterday\n",
		"INET6NUM: 2001:DB8::/48\nCountry: eu\n   \nroute6: ::/0\norigin: AS4294967296\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		recs := readAll(t, in, FormatRPSL)
		var buf bytes.Buffer
		for _, rec := range recs {
			if rec.Class != "inet6num" && rec.Class != "route6" {
				t.Fatalf("record class %q", rec.Class)
			}
			if rec.Class == "route6" && rec.Origin == 0 && !bytes.Contains(bytes.ToLower(in), []byte("origin")) {
				t.Fatalf("route6 %v without an origin line", rec.Prefix)
			}
			writeRPSL(&buf, rec)
		}
		// The records, printed as RPSL by the reference writer, read back
		// the same (when their values survive printing unchanged).
		again := readAll(t, buf.Bytes(), FormatRPSL)
		if len(again) != len(recs) {
			t.Fatalf("%d records re-read as %d from\n%s", len(recs), len(again), buf.Bytes())
		}
		for i := range recs {
			if !sameRecord(recs[i], again[i]) {
				t.Fatalf("record %+v re-read as %+v", recs[i], again[i])
			}
		}
	})
}

func FuzzDelegated(f *testing.F) {
	for _, s := range []string{
		"2|ripencc|1366322399|111223|19830705|20130418|+0200\nripencc|*|ipv6|*|33535|summary\nripencc|EU|ipv6|2001:600::|32|19990826|allocated\nripencc||ipv6|2a05::|16||available\n",
		"# conditions\n#\n2.3|apnic|20130417|46596||20130416|+1000\napnic|JP|ipv6|2001:200::|35|19990813|allocated|A916B6AA\napnic|AU|ipv4|1.0.0.0|256|20110811|assigned|A9173591\n",
		"arin|US|ipv6|2001:db8::1|32|20000230|assigned\nx|y\nlacnic|BR|ipv6|2001:1200::|23|00000000|allocated|id|ext|more|fields|here|and|more\n2|late\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		recs := readAll(t, in, FormatDelegated)
		var buf bytes.Buffer
		for _, rec := range recs {
			if rec.Status == "" || strings.ContainsRune(rec.Status, '|') {
				t.Fatalf("record %+v: bad status", rec)
			}
			date := ""
			if !rec.Created.IsZero() {
				date = rec.Created.Format("20060102")
			}
			fmt.Fprintf(&buf, "%s|%s|ipv6|%s|%d|%s|%s|%s\n", rec.Source, rec.Country, rec.Prefix.Addr(), rec.Prefix.Bits(), date, rec.Status, rec.Org)
		}
		again := readAll(t, buf.Bytes(), FormatDelegated)
		if len(again) != len(recs) {
			t.Fatalf("%d records re-read as %d", len(recs), len(again))
		}
		for i := range recs {
			if !sameRecord(recs[i], again[i]) {
				t.Fatalf("record %+v re-read as %+v", recs[i], again[i])
			}
		}
	})
}

func FuzzBGP(f *testing.F) {
	for _, s := range []string{
		"; IP-ASN32-DAT file\n; Prefixes-v6   : 2\n; \n2001::/32\t1101\n2001:4:112::/48\t112\n",
		"2001:db8::/32 AS64496 # lab\n192.0.2.0/24 64496\n2001:db8::/48 {1,2}\n2001:db8::/48\n2001:db8::1/32 1\n2001:db8::/32 1 2\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		recs := readAll(t, in, FormatBGP)
		var buf bytes.Buffer
		for _, rec := range recs {
			fmt.Fprintf(&buf, "%s\t%d\n", rec.Prefix, rec.Origin)
		}
		again := readAll(t, buf.Bytes(), FormatBGP)
		if len(again) != len(recs) {
			t.Fatalf("%d records re-read as %d", len(recs), len(again))
		}
		for i := range recs {
			if !sameRecord(recs[i], again[i]) {
				t.Fatalf("record %+v re-read as %+v", recs[i], again[i])
			}
		}
	})
}

func FuzzRIPEstat(f *testing.F) {
	for _, s := range []string{
		"prefixes,country code,country name\n2001:df2:ff80::/48,TV,Tuvalu\n2001:238::/35,TW,\"Taiwan, Province of China\"\nprefixes,country code,country name\n",
		"193.0.0.0/21,NL,Netherlands\n2001:db8::/32,nl\n2001:db8::/32\n2001:db8::1/32,NL,x\n,NL,\n2001:db8::/32,NLD,x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		recs := readAll(t, in, FormatRIPEstat)
		var buf bytes.Buffer
		for _, rec := range recs {
			if len(rec.Country) != 2 {
				t.Fatalf("record %+v: country not two letters", rec)
			}
			fmt.Fprintf(&buf, "%s,%s,name\n", rec.Prefix, rec.Country)
		}
		again := readAll(t, buf.Bytes(), FormatRIPEstat)
		if len(again) != len(recs) {
			t.Fatalf("%d records re-read as %d", len(recs), len(again))
		}
		for i := range recs {
			if !sameRecord(recs[i], again[i]) {
				t.Fatalf("record %+v re-read as %+v", recs[i], again[i])
			}
		}
	})
}

// FuzzReaderAuto feeds arbitrary bytes, gzip or not, through format detection
// and whichever parser it picks; plain lists are checked against
// ParsePrefixList.
func FuzzReaderAuto(f *testing.F) {
	for _, s := range []string{
		"# last updated\n::/10\n40::/11\n",
		"inet6num: 2001:db8::/32\n",
		"2|ripencc|1|2|3|4|+0200\n",
		"; x\n2001::/32\t1\n",
		"prefixes,country code,country name\n",
		"2001:db8::/32 64496\n",
	} {
		f.Add([]byte(s))
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		w.Write([]byte(s))
		w.Close()
		f.Add(gz.Bytes())
		f.Add(gz.Bytes()[:gz.Len()-5]) // truncated
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := NewReader(bytes.NewReader(in), "fuzz", FormatAuto)
		if err != nil {
			return
		}
		isPlain := r.Format() == FormatPlain && r.gz == nil
		recs := readAll(t, in, FormatAuto)
		if isPlain {
			ps, err := ParsePrefixList(bytes.NewReader(in), "fuzz")
			if err == nil {
				if len(ps) != len(recs) {
					t.Fatalf("ParsePrefixList: %d prefixes, Reader %d records", len(ps), len(recs))
				}
				for i := range ps {
					if ps[i] != recs[i].Prefix {
						t.Fatalf("prefix %d: ParsePrefixList %v, Reader %v", i, ps[i], recs[i].Prefix)
					}
				}
			}
		}
	})
}
