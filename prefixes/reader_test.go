package prefixes

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/p2pnet/widescan/internal/testutil"
	"go4.org/netipx"
)

// readFile returns every record of path and the malformed ones' errors; a
// final error fails t.
func readFile(t testing.TB, path string, f Format) ([]Record, []error, *Reader) {
	t.Helper()
	r, err := Open(path, f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var (
		recs []Record
		errs []error
	)
	for rec, err := range r.All() {
		var pe *ParseError
		switch {
		case errors.As(err, &pe):
			errs = append(errs, err)
		case err != nil:
			t.Fatal(err)
		default:
			recs = append(recs, rec)
		}
	}
	return recs, errs, r
}

func readString(t *testing.T, in string, f Format) ([]Record, []error) {
	t.Helper()
	r, err := NewReader(strings.NewReader(in), "test", f)
	if err != nil {
		t.Fatal(err)
	}
	var (
		recs []Record
		errs []error
	)
	for rec, err := range r.All() {
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatal(err)
			}
			errs = append(errs, err)
			continue
		}
		recs = append(recs, rec)
	}
	return recs, errs
}

func TestTheRIPETestDumpHas32Inet6nums(t *testing.T) {
	recs, errs, r := readFile(t, "testdata/ripe-whois-TEST-dump.rpsl", FormatAuto)
	if r.Format() != FormatRPSL {
		t.Fatalf("detected %v, want rpsl", r.Format())
	}
	if len(errs) > 0 {
		t.Errorf("malformed records in RIPE's own dump: %v", errs)
	}
	// awk '/^inet6num:/{n++} END{print n}' testdata/ripe-whois-TEST-dump.rpsl  => 32
	// (SOURCES.md: 32 inet6num, no route6).
	if len(recs) != 32 {
		t.Fatalf("%d records, want 32 inet6num objects", len(recs))
	}
	// awk '/^inet6num:/{print $2}' testdata/ripe-whois-TEST-dump.rpsl | head -3
	for i, want := range []string{"::/0", "2001:db8:60::/48", "2001:db8:1::/48"} {
		if got := recs[i].Prefix.String(); got != want {
			t.Errorf("record %d: %s, want %s", i, got, want)
		}
	}
	root := recs[0]
	if root.Class != "inet6num" || root.Netname != "ROOT" || root.Country != "EU" || root.Status != "ALLOCATED-BY-RIR" ||
		root.Org != "ORG-TT1-TEST" || root.Source != "TEST" || !slices.Equal(root.MntBy, []string{"TEST-ROOT-MNT"}) || root.Line != 102 {
		t.Errorf("first record %+v", root)
	}
	// grep -i '^status' testdata/ripe-whois-TEST-dump.rpsl | sort | uniq -c counts every class;
	// of the inet6nums, 31 are ALLOCATED-BY-RIR and one 2001:db8:60::/48 ... see below.
	statuses := map[string]int{}
	for _, rec := range recs {
		statuses[rec.Status]++
	}
	// awk '/^inet6num:/{o=1} /^$/{o=0} o && /^status:/{$1=""; print}' testdata/ripe-whois-TEST-dump.rpsl | sort | uniq -c
	if statuses["ALLOCATED-BY-RIR"] != 32 {
		t.Errorf("statuses %v, want 32 ALLOCATED-BY-RIR", statuses)
	}
	// Objects of other classes are ignored. SOURCES.md says 214 objects, but
	// counting paragraphs gives 220:
	//   awk 'BEGIN{RS=""} {n=split($0,L,"\n"); for(i=1;i<=n;i++) if (L[i] !~ /^#/) {t++; break}} END{print t}' \
	//     testdata/ripe-whois-TEST-dump.rpsl  => 220
	if c := r.Counts(); c.Records != 32 || c.Malformed != 0 || c.Ignored != 220-32 {
		t.Errorf("counts %+v, want 32 records and 188 other objects (220 in all)", c)
	}
}

func TestRealRIPEObjects(t *testing.T) {
	recs, errs, _ := readFile(t, testutil.SharedData(t, "ripe-real-objects-as215778.rpsl"), FormatAuto)
	if len(errs) > 0 || len(recs) != 2 {
		t.Fatalf("%d records, errors %v; want the inet6num and the route6", len(recs), errs)
	}
	p := netip.MustParsePrefix("2a11:f2c0:ffcb::/48")
	in, rt := recs[0], recs[1]
	if in.Class != "inet6num" || in.Prefix != p || in.Netname != "LIKHNER-NET" || in.Country != "LV" ||
		in.Status != "ALLOCATED-BY-LIR" || in.Org != "ORG-AL998-RIPE" || in.Source != "RIPE" ||
		!slices.Equal(in.MntBy, []string{"AS207960-MNT", "LIKHNER-MNT"}) ||
		!in.Created.Equal(time.Date(2024, 1, 3, 12, 22, 54, 0, time.UTC)) ||
		!in.LastModified.Equal(time.Date(2024, 8, 9, 19, 4, 13, 0, time.UTC)) || in.Line != 1 {
		t.Errorf("inet6num %+v", in)
	}
	if rt.Class != "route6" || rt.Prefix != p || rt.Origin != 215778 || rt.Line != 14 ||
		!rt.Created.Equal(time.Date(2024, 1, 4, 14, 17, 5, 0, time.UTC)) {
		t.Errorf("route6 %+v", rt)
	}
}

func TestDelegatedRIPENCC(t *testing.T) {
	recs, errs, r := readFile(t, "testdata/delegated-ripencc-extended-20130418.gz", FormatAuto)
	if r.Format() != FormatDelegated || len(errs) > 0 {
		t.Fatalf("format %v, errors %v", r.Format(), errs)
	}
	// zcat testdata/delegated-ripencc-extended-20130418.gz | awk -F'|' '$3=="ipv6" && $4!="*"' | wc -l  => 33535
	if len(recs) != 33535 {
		t.Fatalf("%d records, want 33535 ipv6 lines", len(recs))
	}
	// zcat ... | awk -F'|' '$3=="ipv6" && $4!="*"{s[$7]++} END{for(k in s) print k, s[k]}'
	want := map[string]int{"allocated": 5548, "assigned": 1364, "available": 7785, "reserved": 18838}
	got := map[string]int{}
	for _, rec := range recs {
		got[rec.Status]++
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("status %s: %d, want %d", k, got[k], n)
		}
	}
	first := recs[0]
	if first.Prefix != netip.MustParsePrefix("2001:600::/32") || first.Country != "EU" || first.Source != "ripencc" ||
		!first.Created.Equal(time.Date(1999, 8, 26, 0, 0, 0, 0, time.UTC)) || first.Class != "delegated" {
		t.Errorf("first record %+v", first)
	}
	// The header, 3 summaries and the ipv4 and asn lines are ignored:
	// zcat ... | wc -l => 111227; 111227 - 33535 = 77692.
	if c := r.Counts(); c.Lines != 111227 || c.Ignored != 111227-33535 {
		t.Errorf("counts %+v", c)
	}
}

func TestDelegatedFilterMatchesAwk(t *testing.T) {
	// testdata/golden/ripencc-20130418-NL-allocated-assigned.txt is
	//   zcat testdata/delegated-ripencc-extended-20130418.gz |
	//   awk -F'|' '$3=="ipv6" && $4!="*" && $2=="NL" && ($7=="allocated"||$7=="assigned"){print $4"/"$5}'
	// (494 lines).
	golden, err := os.ReadFile("testdata/golden/ripencc-20130418-NL-allocated-assigned.txt")
	if err != nil {
		t.Fatal(err)
	}
	var want []netip.Prefix
	for _, l := range strings.Fields(string(golden)) {
		want = append(want, netip.MustParsePrefix(l))
	}
	recs, _, _ := readFile(t, "testdata/delegated-ripencc-extended-20130418.gz", FormatAuto)
	f := Filter{Countries: []string{"nl"}, Statuses: []string{"allocated", "ASSIGNED"}}
	var got []netip.Prefix
	for _, rec := range recs {
		if f.Match(&rec) {
			got = append(got, rec.Prefix)
		}
	}
	if len(want) != 494 || !slices.Equal(got, want) {
		t.Fatalf("filter kept %d prefixes, awk %d; they differ", len(got), len(want))
	}
}

func TestDelegatedAPNICWithCommentHeader(t *testing.T) {
	recs, errs, r := readFile(t, "testdata/delegated-apnic-extended-sample.gz", FormatAuto)
	if r.Format() != FormatDelegated || len(errs) > 0 {
		t.Fatalf("format %v, errors %v", r.Format(), errs)
	}
	// zcat ... | awk -F'|' '$3=="ipv6" && $4!="*"{s[$7]++} END{for(k in s) print k, s[k]}'
	// => available 15849, allocated 2277, reserved 163, assigned 620 (18909 in all)
	want := map[string]int{"allocated": 2277, "assigned": 620, "available": 15849, "reserved": 163}
	got := map[string]int{}
	for _, rec := range recs {
		got[rec.Status]++
	}
	if len(recs) != 18909 || !mapsEqual(got, want) {
		t.Fatalf("%d records with statuses %v, want 18909 with %v", len(recs), got, want)
	}
	if recs[0].Prefix != netip.MustParsePrefix("2001:200::/35") || recs[0].Org != "A916B6AA" || recs[0].Source != "apnic" {
		t.Errorf("first record %+v", recs[0])
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestPyasnIPASN(t *testing.T) {
	recs, errs, r := readFile(t, testutil.SharedData(t, "pyasn-ipasn-20211128-ipv6.dat"), FormatAuto)
	if r.Format() != FormatBGP || len(errs) > 0 {
		t.Fatalf("format %v, errors %v", r.Format(), errs[:min(len(errs), 3)])
	}
	// awk -F'\t' '!/^;/ && NF==2 {n++} END{print n}' pyasn-ipasn-20211128-ipv6.dat  => 150928
	if len(recs) != 150928 {
		t.Fatalf("%d records, want 150928", len(recs))
	}
	// awk -F'\t' '!/^;/ && $2==3320' pyasn-ipasn-20211128-ipv6.dat | wc -l  => 28
	n := 0
	f := Filter{Origins: []uint32{3320}}
	for _, rec := range recs {
		if f.Match(&rec) {
			n++
		}
	}
	if n != 28 {
		t.Errorf("%d prefixes originated by AS3320, want 28", n)
	}
	if recs[0].Prefix != netip.MustParsePrefix("2001::/32") || recs[0].Origin != 1101 || recs[0].Line != 7 {
		t.Errorf("first record %+v", recs[0])
	}
}

func TestRIPEstatCSVWithRepeatedHeaders(t *testing.T) {
	recs, errs, r := readFile(t, testutil.SharedData(t, "ripestat-country-ipv6-prefixes-2022.csv"), FormatAuto)
	if r.Format() != FormatRIPEstat || len(errs) > 0 {
		t.Fatalf("format %v, errors %v", r.Format(), errs[:min(len(errs), 3)])
	}
	// grep -vc '^prefixes,' ripestat-country-ipv6-prefixes-2022.csv  => 59249
	// grep -c '^prefixes,' ... => 230 header lines, all skipped.
	if len(recs) != 59249 || r.Counts().Ignored != 230 {
		t.Fatalf("%d records, %d ignored; want 59249 and 230 headers", len(recs), r.Counts().Ignored)
	}
	// awk -F, '!/^prefixes,/ && $2=="NL"' ripestat-country-ipv6-prefixes-2022.csv | wc -l  => 2075
	n := 0
	for _, rec := range recs {
		if rec.Country == "NL" {
			n++
		}
	}
	if n != 2075 {
		t.Errorf("%d NL prefixes, want 2075", n)
	}
}

func TestCymruFullbogonsArePlain(t *testing.T) {
	recs, errs, r := readFile(t, testutil.SharedData(t, "cymru-fullbogons-ipv6-20240310.txt"), FormatAuto)
	// awk '!/^#/' cymru-fullbogons-ipv6-20240310.txt | wc -l  => 143544
	if r.Format() != FormatPlain || len(errs) > 0 || len(recs) != 143544 {
		t.Fatalf("format %v, %d records, errors %v; want plain, 143544", r.Format(), len(recs), errs[:min(len(errs), 3)])
	}
	// Subtracting the bogons from the RIPE NCC allocations leaves only
	// unbogon space, and nothing bogon survives.
	bogons := make([]netip.Prefix, len(recs))
	for i, rec := range recs {
		bogons[i] = rec.Prefix
	}
	del, _, _ := readFile(t, "testdata/delegated-ripencc-extended-20130418.gz", FormatAuto)
	var alloc []netip.Prefix
	for _, rec := range del {
		if rec.Status == "allocated" {
			alloc = append(alloc, rec.Prefix)
		}
	}
	left, err := Subtract(alloc, bogons)
	if err != nil {
		t.Fatal(err)
	}
	bset, _ := SetOf(bogons)
	bl := NewLookup(bset)
	for _, p := range left {
		if bl.Overlaps(p) {
			t.Fatalf("%v survived subtraction but overlaps a bogon", p)
		}
	}
	if len(left) == 0 {
		t.Fatal("nothing of the 2013 allocations left outside the 2024 fullbogons")
	}
}

func TestRPSLSyntax(t *testing.T) {
	in := "% whois header\n" +
		"#comment\n\n" +
		"person: X\naddress: a\n b\n\t c\n+ d\n\n" +
		"INET6NUM:  2001:db8::/32\n" +
		"netname: NET\n  -CONTINUED\n+\n" +
		"country: nl # lower case\n" +
		"status:  ASSIGNED PA\n" +
		"mnt-by: A-MNT, B-MNT\n" +
		"source: RIPE # Filtered\n" +
		"   \n" + // a blank-looking line ends the object
		"route6: 2001:db8::/48\n" +
		"origin: as64496\n"
	recs, errs := readString(t, in, FormatAuto)
	if len(errs) > 0 || len(recs) != 2 {
		t.Fatalf("records %+v, errors %v", recs, errs)
	}
	want := Record{Prefix: netip.MustParsePrefix("2001:db8::/32"), Class: "inet6num", Netname: "NET -CONTINUED",
		Country: "NL", Status: "ASSIGNED PA", MntBy: []string{"A-MNT", "B-MNT"}, Source: "RIPE", File: "test", Line: 10}
	if !sameRecord(recs[0], want) || recs[0].Line != 10 || recs[0].File != "test" {
		t.Errorf("inet6num %+v, want %+v", recs[0], want)
	}
	if recs[1].Origin != 64496 || recs[1].Line != 19 {
		t.Errorf("route6 %+v", recs[1])
	}
}

func TestMalformedRecordsAreReportedAndSkipped(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		in     string
		kept   int
		line   int
		reason error
	}{
		{"an RPSL prefix with host bits", FormatRPSL, "inet6num: 2001:db8::1/32\n\ninet6num: 2001:db8::/32\n", 1, 1, ErrBadPrefix},
		{"an IPv4 inet6num", FormatRPSL, "\ninet6num: 192.0.2.0/24\n", 0, 2, ErrNotIPv6},
		{"a route6 without origin", FormatRPSL, "route6: 2001:db8::/32\nsource: X\n\ninet6num: ::/0\n", 1, 1, ErrMissing},
		{"a bad origin", FormatRPSL, "route6: 2001:db8::/32\norigin: ASX\n", 0, 2, ErrBadOrigin},
		{"a bad created date", FormatRPSL, "inet6num: 2001:db8::/32\ncreated: yesterday\n", 0, 2, ErrBadDate},
		{"a line that is no attribute", FormatRPSL, "inet6num: 2001:db8::/32\nnot an attribute\n\ninet6num: ::/0\n", 1, 2, ErrBadSyntax},
		{"an object with too many attributes", FormatRPSL, "inet6num: ::/0\n" + strings.Repeat("netname: x\n", MaxObjectLen/64+1) + "\ninet6num: ::/1\n", 1, 1, ErrObjectSize},
		{"an object with too long values", FormatRPSL, "inet6num: ::/0\n" + strings.Repeat("netname: "+strings.Repeat("x", 60000)+"\n", 20) + "\ninet6num: ::/1\n", 1, 1, ErrObjectSize},
		{"a stray continuation", FormatRPSL, "  floating\n\ninet6num: ::/0\n", 1, 1, ErrBadSyntax},
		{"a delegated line with few fields", FormatDelegated, "ripencc|NL|ipv6|2001:db8::|32\nripencc|NL|ipv6|2001:db8::|32|20000101|allocated\n", 1, 1, ErrBadSyntax},
		{"a delegated prefix length over 128", FormatDelegated, "ripencc|NL|ipv6|2001:db8::|129|20000101|allocated\n", 0, 1, ErrBadPrefix},
		{"a delegated date that does not exist", FormatDelegated, "ripencc|NL|ipv6|2001:db8::|32|20000231|allocated\n", 0, 1, ErrBadDate},
		{"a delegated unknown type", FormatDelegated, "ripencc|NL|ipv7|2001:db8::|32|20000101|allocated\n", 0, 1, ErrBadField},
		{"a BGP AS set", FormatBGP, "2001:db8::/32\t{1,2}\n2001:db8::/33 1\n", 1, 1, ErrBadOrigin},
		{"a BGP line without AS", FormatBGP, "2001:db8::/32 1\n2001:db8::/33\n", 1, 2, ErrBadSyntax},
		{"a CSV row with a bad country", FormatRIPEstat, "2001:db8::/32,NLD,x\n2001:db8::/33,NL,x\n", 1, 1, ErrBadField},
		{"a plain line that is not a prefix", FormatPlain, "2001:db8::/32\nfoo\n", 1, 2, ErrBadPrefix},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, errs := readString(t, tt.in, tt.format)
			if len(recs) != tt.kept || len(errs) != 1 {
				t.Fatalf("%d records, errors %v; want %d records and one error", len(recs), errs, tt.kept)
			}
			var pe *ParseError
			if !errors.As(errs[0], &pe) || pe.File != "test" || pe.Line != tt.line || !errors.Is(errs[0], tt.reason) {
				t.Errorf("error %v (line %d), want line %d wrapping %q", errs[0], pe.Line, tt.line, tt.reason)
			}
		})
	}
}

func TestAHugeLineIsAnErrorNotAnOOM(t *testing.T) {
	for _, f := range []Format{FormatRPSL, FormatDelegated, FormatBGP, FormatRIPEstat, FormatPlain} {
		t.Run(f.String(), func(t *testing.T) {
			huge := io.MultiReader(
				strings.NewReader("inet6num: 2001:db8::/32\n"),
				io.LimitReader(repeatByte('a'), 10<<20),
				strings.NewReader("\n\n"+map[Format]string{
					FormatRPSL:      "inet6num: 2001:db8::/33\n",
					FormatDelegated: "r|NL|ipv6|2001:db8::|33|20000101|allocated\n",
					FormatBGP:       "2001:db8::/33 1\n",
					FormatRIPEstat:  "2001:db8::/33,NL,x\n",
					FormatPlain:     "2001:db8::/33\n",
				}[f]))
			r, err := NewReader(huge, "huge", f)
			if err != nil {
				t.Fatal(err)
			}
			var recs []Record
			sawLong := false
			for rec, err := range r.All() {
				if errors.Is(err, ErrLineTooLong) {
					sawLong = true
				} else if err == nil {
					recs = append(recs, rec)
				}
			}
			if !sawLong || len(recs) == 0 || recs[len(recs)-1].Prefix.Bits() != 33 {
				t.Errorf("long line reported %v, records %v; want the error and parsing going on", sawLong, recs)
			}
		})
	}
}

type repeatByte byte

func (b repeatByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestTruncatedGzipNamesTheFile(t *testing.T) {
	full, err := os.ReadFile("testdata/delegated-ripencc-extended-20130418.gz")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cut.gz")
	if err := os.WriteFile(path, full[:len(full)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var final error
	n := 0
	for _, err := range r.All() {
		if err != nil {
			final = err
		} else {
			n++
		}
	}
	if final == nil || !strings.Contains(final.Error(), path) || !strings.Contains(final.Error(), "truncated") ||
		!errors.Is(final, io.ErrUnexpectedEOF) {
		t.Fatalf("after %d records: error %v, want a truncated-gzip error naming %s", n, final, path)
	}
	if _, err := r.Next(); err != final {
		t.Errorf("Next after the final error returned %v", err)
	}
}

func TestGzipIsDetectedByContent(t *testing.T) {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write([]byte("; pyasn\n2001:db8::/32\t64496\n"))
	w.Close()
	r, err := NewReader(&buf, "table.dat", FormatAuto) // no .gz suffix
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Next()
	if err != nil || r.Format() != FormatBGP || rec.Origin != 64496 {
		t.Fatalf("%+v, %v (format %v)", rec, err, r.Format())
	}
}

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		in   string
		want Format
	}{
		{"", FormatPlain},
		{"# Cymru\n::/10\n", FormatPlain},
		{"dead:beef::/32\n", FormatPlain},
		{"inet6num:       2001:db8::/32\n", FormatRPSL},
		{"% This is the RIPE Database query service.\n", FormatRPSL},
		{"###\n\nperson:  X\n", FormatRPSL},
		{"2|ripencc|1366322399|111223|19830705|20130418|+0200\n", FormatDelegated},
		{"#\n# CONDITIONS OF USE\n2.3|apnic|20130417|46596||20130416|+1000\n", FormatDelegated},
		{"; IP-ASN32-DAT file\n", FormatBGP},
		{"2001:db8::/32 64496\n", FormatBGP},
		{"prefixes,country code,country name\n", FormatRIPEstat},
	}
	for _, tt := range tests {
		if got := DetectFormat([]byte(tt.in)); got != tt.want {
			t.Errorf("DetectFormat(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseFormatRoundTrips(t *testing.T) {
	for f := FormatAuto; f <= FormatRIPEstat; f++ {
		if g, err := ParseFormat(f.String()); err != nil || g != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f, g, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("ParseFormat(xml) succeeded")
	}
}

func TestRecordsIteratesFiles(t *testing.T) {
	n := 0
	for _, err := range Records(FormatAuto, "testdata/ripe-whois-TEST-dump.rpsl", "testdata/delegated-apnic-extended-sample.gz") {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 32+18909 {
		t.Errorf("%d records, want 32 + 18909", n)
	}
	for _, err := range Records(FormatAuto, "testdata/no-such-file") {
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("missing file: %v", err)
		}
	}
}

func TestFilter(t *testing.T) {
	rec := Record{Prefix: netip.MustParsePrefix("2001:db8::/48"), Class: "inet6num", Country: "NL", Status: "ASSIGNED PA",
		Netname: "EXAMPLE-NET", Org: "ORG-X", Origin: 64496, Source: "RIPE",
		Created: time.Date(2020, 5, 1, 0, 0, 0, 0, time.UTC)}
	rs, _ := SetOf([]netip.Prefix{netip.MustParsePrefix("2001:db8::/32")})
	es, _ := SetOf([]netip.Prefix{netip.MustParsePrefix("2001:db9::/32")})
	routed, elsewhere := NewLookup(rs), NewLookup(es)
	tests := []struct {
		name string
		f    Filter
		want bool
	}{
		{"the zero filter keeps everything", Filter{}, true},
		{"countries compare case-insensitively", Filter{Countries: []string{"de", "nl"}}, true},
		{"another country drops it", Filter{Countries: []string{"DE"}}, false},
		{"a registry status matches exactly", Filter{Statuses: []string{"assigned pa"}}, true},
		{"a status prefix does not match", Filter{Statuses: []string{"ASSIGNED"}}, false},
		{"netname regexp", Filter{Netname: regexpMust("^EXAMPLE")}, true},
		{"org regexp", Filter{Org: regexpMust("^ORG-Y")}, false},
		{"origin", Filter{Origins: []uint32{1, 64496}}, true},
		{"source", Filter{Sources: []string{"ripe"}}, true},
		{"class", Filter{Classes: []string{"route6"}}, false},
		{"length range", Filter{MinLen: 32, MaxLen: 48}, true},
		{"too long", Filter{MaxLen: 40}, false},
		{"created after", Filter{CreatedAfter: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}, true},
		{"created before", Filter{CreatedBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}, false},
		{"a modified bound drops records without the date", Filter{ModifiedAfter: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}, false},
		{"routed space keeps it", Filter{Routed: routed}, true},
		{"unrouted space drops it", Filter{Routed: elsewhere}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Match(&rec); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSetAlgebra(t *testing.T) {
	pp := func(ss ...string) []netip.Prefix {
		var ps []netip.Prefix
		for _, s := range ss {
			ps = append(ps, netip.MustParsePrefix(s))
		}
		return ps
	}
	agg, err := Aggregate(pp("2001:db8::/33", "2001:db8:8000::/33", "2001:db8:1::/48"), pp("2001:db8::/32"))
	if err != nil || !slices.Equal(agg, pp("2001:db8::/32")) {
		t.Errorf("Aggregate = %v, %v", agg, err)
	}
	sub, err := Subtract(pp("2001:db8::/32"), pp("2001:db8:8000::/33"), pp("2001:db8::/34"))
	if err != nil || !slices.Equal(sub, pp("2001:db8:4000::/34")) {
		t.Errorf("Subtract = %v, %v", sub, err)
	}
	set, _ := SetOf(pp("2001:db8::/48"))
	in, err := Intersect(pp("2001:db8::/32", "3fff::/20"), set)
	if err != nil || !slices.Equal(in, pp("2001:db8::/48")) {
		t.Errorf("Intersect = %v, %v", in, err)
	}
	if r := Remainder(netip.MustParsePrefix("2001:db8::/47"), NewLookup(set)); !slices.Equal(r, pp("2001:db8:1::/48")) {
		t.Errorf("Remainder = %v", r)
	}
	ms := MostSpecific(pp("2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::/48", "2001:db8:2::/47", "2001:db8:2::/48", "3fff::/20"))
	if !slices.Equal(ms, pp("2001:db8:1::/48", "2001:db8:2::/48", "3fff::/20")) {
		t.Errorf("MostSpecific = %v", ms)
	}
}

// TestMostSpecificMatchesReference checks MostSpecific against the quadratic
// definition on random prefix lists.
func TestMostSpecificMatchesReference(t *testing.T) {
	rnd := testRand(t)
	for range 200 {
		var ps []netip.Prefix
		for range rnd.IntN(30) {
			var a [16]byte
			a[0], a[1], a[2] = 0x20, 0x01, byte(rnd.IntN(4))
			a[3] = byte(rnd.IntN(256))
			ps = append(ps, netip.PrefixFrom(netip.AddrFrom16(a), 16+rnd.IntN(17)).Masked())
		}
		var want []netip.Prefix
		for _, p := range ps {
			hasChild := false
			for _, q := range ps {
				if q.Bits() > p.Bits() && p.Contains(q.Addr()) {
					hasChild = true
				}
			}
			if !hasChild && !slices.Contains(want, p) {
				want = append(want, p)
			}
		}
		slices.SortFunc(want, netip.Prefix.Compare)
		if got := MostSpecific(ps); !slices.Equal(got, want) {
			t.Fatalf("MostSpecific(%v) = %v, want %v", ps, got, want)
		}
	}
}

// TestRPSLStreamsInConstantMemory parses 32 MiB of generated RPSL and checks
// that the heap does not grow with it.
func TestRPSLStreamsInConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	block := synthRPSL(t, 1<<20)
	r, err := NewReader(bufio.NewReader(io.LimitReader(&repeatReader{b: block}, 32<<20)), "synth", FormatRPSL)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	heap := func() uint64 { return heapInuse() }
	var base uint64
	for _, err := range r.All() {
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatal(err)
			}
			continue
		}
		n++
		if n == 10000 {
			base = heap()
		}
	}
	if end := heap(); end > base+8<<20 {
		t.Errorf("heap grew from %d to %d bytes over %d records", base, end, n)
	}
	if n < 40000 {
		t.Errorf("only %d records", n)
	}
}

// TestSetOpsMatchNetipx checks Subtract, Intersect, Remainder and Lookup
// against netipx's (slower) IPSetBuilder and IPSet methods on random lists.
func TestSetOpsMatchNetipx(t *testing.T) {
	rnd := testRand(t)
	randList := func() []netip.Prefix {
		var ps []netip.Prefix
		for range rnd.IntN(20) {
			var a [16]byte
			a[0], a[1], a[2], a[3] = 0x20, 0x01, byte(rnd.IntN(2)), byte(rnd.IntN(256))
			a[4] = byte(rnd.IntN(256))
			ps = append(ps, netip.PrefixFrom(netip.AddrFrom16(a), 16+rnd.IntN(25)).Masked())
		}
		return ps
	}
	for range 300 {
		a, b := randList(), randList()
		as, _ := SetOf(a)
		bs, _ := SetOf(b)
		var db netipx.IPSetBuilder
		db.AddSet(as)
		db.RemoveSet(bs)
		want, _ := db.IPSet()
		got, _ := Subtract(a, b)
		if !slices.Equal(got, want.Prefixes()) {
			t.Fatalf("Subtract(%v, %v) = %v, want %v", a, b, got, want.Prefixes())
		}
		var ib netipx.IPSetBuilder
		ib.AddSet(as)
		ib.Intersect(bs)
		iwant, _ := ib.IPSet()
		igot, _ := Intersect(a, bs)
		if !slices.Equal(igot, iwant.Prefixes()) {
			t.Fatalf("Intersect(%v, %v) = %v, want %v", a, b, igot, iwant.Prefixes())
		}
		l := NewLookup(bs)
		for _, p := range a {
			if l.Overlaps(p) != bs.OverlapsPrefix(p) || l.Contains(p) != bs.ContainsPrefix(p) {
				t.Fatalf("Lookup of %v in %v disagrees with netipx", p, b)
			}
			var rb netipx.IPSetBuilder
			rb.AddPrefix(p)
			rb.RemoveSet(bs)
			rs, _ := rb.IPSet()
			if got := Remainder(p, l); !slices.Equal(got, rs.Prefixes()) && !(len(got) == 0 && len(rs.Prefixes()) == 0) {
				t.Fatalf("Remainder(%v, %v) = %v, want %v", p, b, got, rs.Prefixes())
			}
		}
	}
}
