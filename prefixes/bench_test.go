package prefixes

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"testing"
)

func regexpMust(s string) *regexp.Regexp { return regexp.MustCompile(s) }

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// repeatReader reads b over and over.
type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.off:])
		n += c
		r.off = (r.off + c) % len(r.b)
	}
	return n, nil
}

// synthRPSL builds about size bytes of RPSL in RIPE's split-dump layout from
// the objects of RIPE's TEST dump (testdata), with the inet6num and route6
// objects given varied prefixes, origins, countries and dates, and the other
// classes kept as they are.
func synthRPSL(tb testing.TB, size int) []byte {
	tb.Helper()
	dump, err := os.ReadFile("testdata/ripe-whois-TEST-dump.rpsl")
	if err != nil {
		tb.Fatal(err)
	}
	var others [][]byte
	for _, o := range bytes.Split(dump, []byte("\n\n")) {
		o = bytes.Trim(o, "\n")
		if len(o) > 0 && !bytes.HasPrefix(o, []byte("#")) && !bytes.HasPrefix(o, []byte("inet6num")) {
			others = append(others, o)
		}
	}
	countries := []string{"NL", "DE", "GB", "FR", "RU", "IT", "SE", "PL"}
	statuses := []string{"ALLOCATED-BY-RIR", "ALLOCATED-BY-LIR", "ASSIGNED PA", "AGGREGATED-BY-LIR", "ASSIGNED"}
	var b bytes.Buffer
	b.WriteString("#\n# The contents of this data file are subject to the RIPE Database Terms and Conditions\n#\n\n")
	for i := 0; b.Len() < size; i++ {
		pfx := fmt.Sprintf("2a%02x:%x::/32", i%256, (i*7919)&0xffff)
		if i%2 == 1 {
			pfx = fmt.Sprintf("2a%02x:%x:%x::/48", i%256, (i*7919)&0xffff, i&0xfff0)
		}
		fmt.Fprintf(&b, "inet6num:       %s\nnetname:        EXAMPLE-NET-%d\ncountry:        %s\n"+
			"org:            ORG-EX%d-RIPE\nadmin-c:        EX%d-RIPE\ntech-c:         EX%d-RIPE\n"+
			"status:         %s\nmnt-by:         RIPE-NCC-HM-MNT\nmnt-by:         EX%d-MNT\n"+
			"created:        20%02d-0%d-1%dT12:22:54Z\nlast-modified:  2024-08-09T19:04:13Z\nsource:         RIPE # Filtered\n\n",
			pfx, i, countries[i%len(countries)], i, i, i, statuses[i%len(statuses)], i, 10+i%14, 1+i%9, i%10)
		fmt.Fprintf(&b, "route6:         %s\norigin:         AS%d\nmnt-by:         EX%d-MNT\n"+
			"created:        2024-01-04T14:17:05Z\nlast-modified:  2024-08-09T19:08:36Z\nsource:         RIPE\n\n",
			pfx, 64496+i%1000, i)
		if i%8 == 0 {
			b.Write(others[i/8%len(others)])
			b.WriteString("\n\n")
		}
	}
	return b.Bytes()
}

// benchParse measures reading data (of format f) from memory, one pass per
// iteration.
func benchParse(b *testing.B, data []byte, f Format) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	recs := 0
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(data), "bench", f)
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			var pe *ParseError
			if err != nil && !errors.As(err, &pe) {
				b.Fatal(err)
			}
		}
		recs += r.Counts().Records
	}
	b.ReportMetric(float64(recs)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkParseRPSL(b *testing.B) {
	benchParse(b, synthRPSL(b, 32<<20), FormatRPSL)
}

// BenchmarkParseRPSL1GB streams a 1 GiB synthetic dump through the parser
// and a filter and reports the heap in use at the end (it must not grow with
// the input).
func BenchmarkParseRPSL1GB(b *testing.B) {
	block := synthRPSL(b, 4<<20)
	const size = 1 << 30
	f := Filter{Countries: []string{"NL"}, Statuses: []string{"ASSIGNED PA"}}
	b.SetBytes(size)
	b.ReportAllocs()
	recs, kept := 0, 0
	for b.Loop() {
		r, err := NewReader(io.LimitReader(&repeatReader{b: block}, size), "synth", FormatRPSL)
		if err != nil {
			b.Fatal(err)
		}
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err == nil && f.Match(&rec) {
				kept++
			}
		}
		recs += r.Counts().Records
	}
	b.ReportMetric(float64(recs)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(heapInuse())/(1<<20), "heap-MiB")
	_ = kept
}

func BenchmarkParseDelegated(b *testing.B) {
	benchParse(b, gunzipFile(b, "testdata/delegated-ripencc-extended-20130418.gz"), FormatDelegated)
}

func BenchmarkParseDelegatedGzip(b *testing.B) {
	data, err := os.ReadFile("testdata/delegated-ripencc-extended-20130418.gz")
	if err != nil {
		b.Fatal(err)
	}
	benchParse(b, data, FormatAuto)
}

func BenchmarkParseBGP(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("; IP-ASN32-DAT file\n; Prefixes-v6   : 200000\n; \n")
	for i := range 200000 {
		fmt.Fprintf(&buf, "2%03x:%x:%x::/48\t%d\n", i%0x1000, i&0xffff, i&0xff00, 1+i%65000)
	}
	benchParse(b, buf.Bytes(), FormatBGP)
}

func BenchmarkParseRIPEstat(b *testing.B) {
	var buf bytes.Buffer
	for i := range 200000 {
		if i%250 == 0 {
			buf.WriteString("prefixes,country code,country name\n")
		}
		fmt.Fprintf(&buf, "2%03x:%x::/48,NL,\"Netherlands, Kingdom of the\"\n", i%0x1000, i&0xffff)
	}
	benchParse(b, buf.Bytes(), FormatRIPEstat)
}

func BenchmarkParsePlain(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("# last updated\n")
	for i := range 200000 {
		fmt.Fprintf(&buf, "2%03x:%x::/48\n", i%0x1000, i&0xffff)
	}
	benchParse(b, buf.Bytes(), FormatPlain)
}

func gunzipFile(tb testing.TB, path string) []byte {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// TestBenchmarkInputsAreWellFormed keeps the benchmarks measuring the
// parsers, not their error paths.
func TestBenchmarkInputsAreWellFormed(t *testing.T) {
	r, err := NewReader(bytes.NewReader(synthRPSL(t, 1<<20)), "synth", FormatRPSL)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
	}
}
