package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const testdata = "../../prefixes/testdata/"

// runPrefixesCmd runs "widescan prefixes argv..." and returns its stdout and
// stderr.
func runPrefixesCmd(t *testing.T, argv ...string) (string, string, error) {
	t.Helper()
	cmd := newPrefixesCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(argv)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func TestPrefixesNLAllocatedAssignedMatchesAwk(t *testing.T) {
	out, _, err := runPrefixesCmd(t, "--country", "NL", "--status", "allocated,assigned", testdata+"delegated-ripencc-extended-20130418.gz")
	if err != nil {
		t.Fatal(err)
	}
	// The golden file is the awk output (see its name and prefixes/reader_test.go):
	// zcat ... | awk -F'|' '$3=="ipv6" && $4!="*" && $2=="NL" && ($7=="allocated"||$7=="assigned"){print $4"/"$5}'
	golden, err := os.ReadFile(testdata + "golden/ripencc-20130418-NL-allocated-assigned.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, want := strings.Fields(out), strings.Fields(string(golden))
	if len(want) != 494 || !slices.Equal(got, want) {
		t.Fatalf("printed %d prefixes, awk %d; they differ", len(got), len(want))
	}
}

func TestPrefixesStatsCountTheInet6nums(t *testing.T) {
	out, stderr, err := runPrefixesCmd(t, "--stats", testdata+"ripe-whois-TEST-dump.rpsl")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(out)); n != 32 {
		t.Errorf("printed %d prefixes, want 32", n)
	}
	for _, want := range []string{"records=32 rejected=0", "class\tinet6num\t32", "status\tALLOCATED-BY-RIR\t32", "length\t/48\t"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stats lack %q:\n%s", want, stderr)
		}
	}
}

func TestPrefixesDefaultsPrintEveryRecordAsIs(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "list.txt")
	os.WriteFile(in, []byte("2001:db8::/32\n2001:db8::/32\nfe80::/10\n2001:db8:1::/48\n"), 0o644)
	out, _, err := runPrefixesCmd(t, in)
	if err != nil {
		t.Fatal(err)
	}
	if out != "2001:db8::/32\n2001:db8::/32\nfe80::/10\n2001:db8:1::/48\n" {
		t.Errorf("output %q: want every line, duplicates and link-local included", out)
	}
	out, _, _ = runPrefixesCmd(t, "--aggregate", "--subtract-builtin", in)
	if out != "" {
		t.Errorf("aggregate minus builtin = %q, want nothing (all documentation or link-local space)", out)
	}
	out, _, _ = runPrefixesCmd(t, "--most-specific", "--window-to", "64", in)
	if out != "fe80::/10-64\n2001:db8:1::/48-64\n" {
		t.Errorf("most specific windows = %q", out)
	}
}

func TestPrefixesMalformedAndStrict(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "bad.dat")
	os.WriteFile(in, []byte("; pyasn\n2001:db8::/32\t64496\n2001:db8::1/32\t1\n2001:db8:1::/48\t{1,2}\n"), 0o644)
	out, stderr, err := runPrefixesCmd(t, "--stats", in)
	if err != nil {
		t.Fatal(err)
	}
	if out != "2001:db8::/32\n" || !strings.Contains(stderr, in+":3: bad prefix") || !strings.Contains(stderr, in+":4: bad origin AS") ||
		!strings.Contains(stderr, "rejected\tbad prefix\t1") {
		t.Errorf("stdout %q, stderr:\n%s", out, stderr)
	}
	_, _, err = runPrefixesCmd(t, "--strict", in)
	if err == nil || !strings.Contains(err.Error(), in+":3:") {
		t.Errorf("--strict: %v, want the first bad line", err)
	}
}

func TestPrefixesJSONAndFilters(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "db.rpsl")
	os.WriteFile(in, []byte("inet6num: 2001:db8::/32\nnetname: BIG\ncountry: NL\nstatus: ALLOCATED-BY-RIR\nsource: RIPE\n\n"+
		"inet6num: 2001:db8:1::/48\nnetname: SMALL-NET\ncountry: NL\nstatus: ASSIGNED PA\ncreated: 2024-01-03T12:22:54Z\nsource: RIPE\n\n"+
		"route6: 2001:db8:1::/48\norigin: AS64496\nsource: RIPE\n"), 0o644)
	routed := filepath.Join(dir, "ipasn.dat")
	os.WriteFile(routed, []byte("; x\n2001:db8:1::/48\t64496\n"), 0o644)
	out, _, err := runPrefixesCmd(t, "--format", "json", "--status", "ASSIGNED PA", "--netname", "^SMALL", "--created-after", "2024-01-01", "--routed", routed, in)
	if err != nil {
		t.Fatal(err)
	}
	var rec prefixRecord
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if rec.Prefix != "2001:db8:1::/48" || rec.Country != "NL" || rec.Status != "ASSIGNED PA" || rec.File != in || rec.Line != 7 {
		t.Errorf("JSON %+v", rec)
	}
	out, _, _ = runPrefixesCmd(t, "--origin", "AS64496", in)
	if out != "2001:db8:1::/48\n" {
		t.Errorf("--origin: %q", out)
	}
	block := filepath.Join(dir, "block.txt")
	os.WriteFile(block, []byte("# opt-out\n2001:db8:1::/48\n"), 0o644)
	out, _, _ = runPrefixesCmd(t, "--blocklist", block, "--class", "inet6num", in)
	p := strings.Fields(out)
	if len(p) != 16 || slices.Contains(p, "2001:db8:1::/48") || netip.MustParsePrefix(p[15]).Bits() != 33 {
		t.Errorf("--blocklist cut the /48 out of the /32 as %d parts: %v", len(p), p)
	}
}

func TestPrefixesBadFlags(t *testing.T) {
	for _, argv := range [][]string{
		{"--format", "xml", "x"}, {"--window-to", "129", "x"}, {"--netname", "(", "x"}, {"--origin", "ASX", "x"},
		{"--created-after", "yesterday", "x"}, {"--input-format", "xml", "x"}, {"no-such-file"},
	} {
		if _, _, err := runPrefixesCmd(t, argv...); err == nil {
			t.Errorf("%q succeeded", argv)
		}
	}
}
