package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p2pnet/widescan/internal/testbed"
	"github.com/p2pnet/widescan/internal/testutil"
	"github.com/p2pnet/widescan/widescan"
)

func parseAliasFlags(t *testing.T, argv ...string) (aliasFlags, []string) {
	t.Helper()
	return parseFlags[aliasFlags](t, argv...)
}

func TestAliasFlagsBecomeAConfig(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "p.txt")
	if err := os.WriteFile(list, []byte("# more\n2001:db8:2::/48\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, args := parseAliasFlags(t, "-i", "eth9", "--source-ip", "2001:db8::9", "--unblock", "2001:db8::/32",
		"-r", "500", "--cooldown", "0", "-P", "2", "--seed", "7", "-p", list, "2001:db8:1:2::/64")
	ps, cfg, err := f.config(args)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0] != netip.MustParsePrefix("2001:db8:1:2::/64") || ps[1] != netip.MustParsePrefix("2001:db8:2::/48") {
		t.Errorf("prefixes %v", ps)
	}
	if cfg.Interface != "eth9" || cfg.SourceIP != netip.MustParseAddr("2001:db8::9") || cfg.Rate != 500 ||
		cfg.Cooldown != widescan.NoCooldown || cfg.Probes != 2 || cfg.PermSeed != 7 || len(cfg.Unblock) != 1 {
		t.Errorf("config %+v", cfg)
	}
	for _, bad := range [][]string{
		{}, {"2001:db8::1/64"}, {"192.0.2.0/24"}, {"2001:db8::/125"}, {"-r", "-1", "2001:db8::/64"},
		{"-P", "0", "2001:db8::/64"}, {"--source-ip", "192.0.2.1", "2001:db8::/64"}, {"--unblock", "x", "2001:db8::/64"},
	} {
		f, args := parseAliasFlags(t, bad...)
		if _, _, err := f.config(args); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestAliasResultLines(t *testing.T) {
	res := []widescan.AliasResult{
		{Prefix: netip.MustParsePrefix("2001:db8:1::/64"), Answered: 16, AnsweredMask: 0xffff, Aliased: true},
		{Prefix: netip.MustParsePrefix("2001:db8:2::/48"), Answered: 3, AnsweredMask: 0x0111},
	}
	var text, js bytes.Buffer
	if err := writeAliasResults(&text, res, false); err != nil {
		t.Fatal(err)
	}
	if want := "2001:db8:1::/64 16/16 aliased\n2001:db8:2::/48 3/16 not-aliased\n"; text.String() != want {
		t.Errorf("text %q, want %q", text.String(), want)
	}
	if err := writeAliasResults(&js, res, true); err != nil {
		t.Fatal(err)
	}
	want := `{"prefix":"2001:db8:1::/64","answered":16,"probes":16,"aliased":true}` + "\n" +
		`{"prefix":"2001:db8:2::/48","answered":3,"probes":16,"aliased":false}` + "\n"
	if js.String() != want {
		t.Errorf("json %q, want %q", js.String(), want)
	}
}

func TestScanAliasFlags(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "aliased.txt")
	if err := os.WriteFile(list, []byte("# 1 2001:db8:1::/64 alised_possibility:8\n# 2 2001:db8:2::/64 alised_possibility:3\n2001:db8:3::/64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, args := parseScanFlags(t, "--aliased", list, "--alias-check", "--alias-threshold", "6", "2001:db8::/64")
	cfg, err := f.config(args)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Aliased) != 2 || cfg.Aliased[1] != netip.MustParsePrefix("2001:db8:3::/64") || cfg.AliasCheck != 6 {
		t.Errorf("aliased %v, alias check %d; want the entries scored 8 or unscored, and 6", cfg.Aliased, cfg.AliasCheck)
	}
	if f, args := parseScanFlags(t, "--alias-threshold", "0", "2001:db8::/64"); func() error { _, err := f.config(args); return err }() != nil {
		t.Error("--alias-threshold 0 without --alias-check was refused")
	}
	for _, bad := range [][]string{{"--alias-check", "--alias-threshold", "0"}, {"--aliased", filepath.Join(dir, "missing")}} {
		f, args := parseScanFlags(t, append(bad, "2001:db8::/64")...)
		if _, err := f.config(args); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if got := withField(defaultOutputFields, "aliased"); got != defaultOutputFields+",aliased" {
		t.Errorf("withField = %q", got)
	}
	if got := withField("saddr,aliased", "aliased"); got != "saddr,aliased" {
		t.Errorf("withField added a second aliased: %q", got)
	}
}

// TestAliasCommandAndScanInTheTestbed runs "widescan alias" and "widescan
// scan --aliased --alias-check" against an AnyIP prefix (aliased) next to
// planted hosts (not aliased).
func TestAliasCommandAndScanInTheTestbed(t *testing.T) {
	testutil.RequirePriv(t)
	name := fmt.Sprintf("wca%d", os.Getpid()%100000)
	t.Cleanup(func() {
		if err := testbed.Down(context.Background(), name); err != nil {
			t.Errorf("testbed down: %v", err)
		}
	})
	var planted []netip.Addr
	for i := 1; i <= 5; i++ {
		planted = append(planted, netip.MustParseAddr(fmt.Sprintf("2001:db8:77:1::%x", i)))
	}
	tb, err := testbed.Up(t.Context(), testbed.Config{Name: name, Planted: planted, AnyIP: []netip.Prefix{netip.MustParsePrefix("3fff:100::/48")}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	af, args := parseAliasFlags(t, "--json", "--unblock", "2001:db8::/32", "--unblock", "3fff::/20", "-r", "0",
		"--cooldown", "300ms", "-i", tb.ScanIface, "3fff:100:0:7::/64", "2001:db8:77:1::/64")
	var out bytes.Buffer
	if err := tb.Do(tb.ScannerNS, func() error { return runAlias(t.Context(), af, args, &out) }); err != nil {
		t.Fatalf("alias: %v", err)
	}
	want := `{"prefix":"3fff:100:0:7::/64","answered":16,"probes":16,"aliased":true}` + "\n" +
		`{"prefix":"2001:db8:77:1::/64","answered":0,"probes":16,"aliased":false}` + "\n"
	if out.String() != want {
		t.Errorf("alias output %q, want %q", out.String(), want)
	}

	list := filepath.Join(dir, "aliased.txt")
	if err := os.WriteFile(list, []byte("# 1 3fff:100:0:2::/64 alised_possibility:8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hits := filepath.Join(dir, "hits.jsonl")
	sf, sargs := parseScanFlags(t, "--aliased", list, "--alias-check", "-o", hits, "-f", "daddr",
		"--unblock", "2001:db8::/32", "--unblock", "3fff::/20", "--rate", "0", "--cooldown", "300ms", "--no-progress",
		"-i", tb.ScanIface, "2001:db8:77:1::/124-128", "3fff:100:0:1::/124-128", "3fff:100:0:2::/126-128")
	start := time.Now()
	if err := tb.Do(tb.ScannerNS, func() error { return runScan(t.Context(), sf, sargs) }); err != nil {
		t.Fatalf("scan: %v", err)
	}
	t.Logf("scan with alias check took %s", time.Since(start))
	b, err := os.ReadFile(hits)
	if err != nil {
		t.Fatal(err)
	}
	anyip := netip.MustParsePrefix("3fff:100::/48")
	var real, aliased int
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var h struct {
			Daddr   netip.Addr `json:"daddr"`
			Aliased *bool      `json:"aliased"`
		}
		if err := json.Unmarshal([]byte(line), &h); err != nil || h.Aliased == nil {
			t.Fatalf("hit line %q: %v (or no aliased field)", line, err)
		}
		if *h.Aliased != anyip.Contains(h.Daddr) {
			t.Errorf("hit %s aliased=%v", h.Daddr, *h.Aliased)
		}
		if *h.Aliased {
			aliased++
		} else {
			real++
		}
	}
	if real != 5 || aliased != 20 {
		t.Errorf("%d real and %d aliased hits, want 5 and 20", real, aliased)
	}
}
