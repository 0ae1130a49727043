package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go4.org/netipx"

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/widescan"
)

// flagBinder is a command's flag struct whose bind method defines its flags.
type flagBinder[F any] interface {
	*F
	bind(*pflag.FlagSet)
}

// parseFlags parses argv into a fresh flag struct of a command, as cobra
// would, and returns it with the remaining arguments.
func parseFlags[F any, P flagBinder[F]](t *testing.T, argv ...string) (F, []string) {
	t.Helper()
	var f F
	fl := pflag.NewFlagSet("widescan", pflag.ContinueOnError)
	P(&f).bind(fl)
	if err := fl.Parse(argv); err != nil {
		t.Fatal(err)
	}
	return f, fl.Args()
}

func parseScanFlags(t *testing.T, argv ...string) (scanFlags, []string) {
	t.Helper()
	return parseFlags[scanFlags](t, argv...)
}

func TestScanFlagsBecomeAConfig(t *testing.T) {
	dir := t.TempDir()
	targets := filepath.Join(dir, "targets.txt")
	if err := os.WriteFile(targets, []byte("# demo\n2001:db8:1::/48-56\n2001:db8:2::1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, args := parseScanFlags(t, "-p", targets, "--iid", "low:4", "-r", "0", "--cooldown", "0",
		"--unblock", "2001:db8::/32", "--shards", "4", "--shard", "3", "2001:db8:3::/64")
	cfg, err := f.config(args)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Targets) != 3 {
		t.Errorf("%d targets, want 3 (one argument, two file lines)", len(cfg.Targets))
	}
	if cfg.Rate != widescan.RateUnlimited {
		t.Errorf("--rate 0 gave Rate %g, want RateUnlimited", cfg.Rate)
	}
	if cfg.Cooldown != widescan.NoCooldown {
		t.Errorf("--cooldown 0 gave %s, want NoCooldown", cfg.Cooldown)
	}
	if cfg.Shard.Index != 3 || cfg.Shard.Count != 4 {
		t.Errorf("shard %+v, want 3 of 4", cfg.Shard)
	}
	if cfg.IID.String() != "low:4" {
		t.Errorf("IID %s, want low:4", cfg.IID)
	}
	if len(cfg.Unblock) != 1 || cfg.Unblock[0] != netip.MustParsePrefix("2001:db8::/32") {
		t.Errorf("unblock %v", cfg.Unblock)
	}
}

func TestScanFlagsRejectNonsense(t *testing.T) {
	tests := []flagErrorCase{
		{"no target at all", nil, "no targets"},
		{"a malformed target argument", []string{"2001:db8::/33-16"}, "target argument 1"},
		{"a bad IID mode", []string{"--iid", "lowest:3", "2001:db8::/48"}, "--iid"},
		{"a negative rate", []string{"--rate", "-5", "2001:db8::/48"}, "--rate"},
		{"a shard past the count", []string{"--shards", "2", "--shard", "2", "2001:db8::/48"}, "--shard"},
		{"an IPv4 source", []string{"--source-ip", "192.0.2.1", "2001:db8::/48"}, "--source-ip"},
		{"a pcap without a dry run", []string{"--pcap", "x.pcap", "2001:db8::/48"}, "--dry-run"},
		{"a prefix that is not one", []string{"--unblock", "2001:db8::", "2001:db8::/48"}, "--unblock"},
	}
	checkFlagErrors(t, tests)
}

func TestDryRunWritesPcapAndMetadata(t *testing.T) {
	dir := t.TempDir()
	pcap, out := filepath.Join(dir, "p.pcap"), filepath.Join(dir, "hits.jsonl")
	m := dryRunMetadata(t, dir, out, "--dry-run", "--pcap", pcap, "--source-ip", "2001:db8::1",
		"--unblock", "2001:db8::/32", "--iid", "low:2", "2001:db8:5::/56")
	if !m.DryRun || m.Targets != 512 || m.Sent != 512 || m.Hits != 0 || m.WindowCount != 1 || m.IID != "low:2" || m.PermSeed == 0 {
		t.Errorf("metadata %+v", m)
	}
	if st, err := os.Stat(pcap); err != nil || st.Size() != 24+512*(16+104) {
		t.Errorf("pcap: %v, %v", st, err)
	}
	if b, err := os.ReadFile(out); err != nil || len(b) != 0 {
		t.Errorf("hits file %q, %v: a dry run has no hits", b, err)
	}
}

func TestHitWriterFormats(t *testing.T) {
	h := widescan.Hit{
		Target:    netip.MustParseAddr("2001:db8::1"),
		Responder: netip.MustParseAddr("2001:db8::2"),
		RTT:       1500 * time.Microsecond,
		HopLimit:  63,
		Time:      time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		Type:      129,
	}
	te := h
	te.Responder, te.Type, te.Code = netip.MustParseAddr("3fff:0:1::1"), 3, 0
	tests := []struct {
		format, fields string
		hit            widescan.Hit
		want           string
	}{
		{"jsonl", defaultOutputFields, h, `{"saddr":"2001:db8::2","daddr":"2001:db8::1","type":129,"code":0,"hlim":63,"rtt_us":1500,"timestamp":"2026-01-02T03:04:05.000000006Z"}` + "\n"},
		{"csv", defaultOutputFields, h, "saddr,daddr,type,code,hlim,rtt_us,timestamp\n2001:db8::2,2001:db8::1,129,0,63,1500.0,2026-01-02T03:04:05.000000006Z\n"},
		{"jsonl", "*", te, `{"saddr":"3fff:0:1::1","daddr":"2001:db8::1","type":3,"code":0,"classification":"timxceed","outersaddr":"3fff:0:1::1","hlim":63,"rtt_us":1500,"timestamp":"2026-01-02T03:04:05.000000006Z","success":false,"repeat":false,"aliased":false}` + "\n"},
		{"csv", "daddr,success,outersaddr", h, "daddr,success,outersaddr\n2001:db8::1,1,\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		hw, err := newHitWriterFields(&buf, tt.format, tt.fields)
		if err != nil {
			t.Fatal(err)
		}
		hw.Write(tt.hit)
		if err := hw.Flush(); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tt.want {
			t.Errorf("%s %s:\n got %q\nwant %q", tt.format, tt.fields, buf.String(), tt.want)
		}
	}
	if _, err := newHitWriterFields(&bytes.Buffer{}, "csv", "saddr,nonsense"); err == nil {
		t.Error("an unknown field was accepted")
	}
	if _, err := newHitWriter(&bytes.Buffer{}, "xml"); err == nil {
		t.Error("an unknown format was accepted")
	}
}

func TestScanFlagsForSendPathPacingAndCaps(t *testing.T) {
	f, args := parseScanFlags(t, "--send-path", "packet", "-G", "02:77:73:01:00:01", "-B", "10M", "-P", "3",
		"--max-runtime", "5s", "--max-results", "100", "-f", "saddr,type", "--unblock", "2001:db8::/32", "2001:db8::/64")
	cfg, err := f.config(args)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SendPath != widescan.SendPathPacket || cfg.GatewayMAC.String() != "02:77:73:01:00:01" ||
		cfg.Bandwidth != 10e6 || cfg.Probes != 3 || cfg.MaxRuntime != 5*time.Second || cfg.MaxResults != 100 {
		t.Errorf("config %+v", cfg)
	}
	for _, bad := range [][]string{
		{"--send-path", "tap"}, {"-G", "nonsense"}, {"-B", "-1"}, {"-B", "fast"}, {"-P", "0"}, {"-P", "65"},
		{"--max-runtime", "-1s"}, {"-f", "saddr,bogus"},
	} {
		f, args := parseScanFlags(t, append(bad, "2001:db8::/64")...)
		if _, err := f.config(args); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// writeTGAFiles writes a seed file (hex and text lines, a comment) and an
// opt-out list of everything outside the documentation prefixes, so that
// the candidates stay in 2001:db8::/32 and 3fff::/20.
func writeTGAFiles(t *testing.T) (seeds, outside string) {
	t.Helper()
	dir := t.TempDir()
	seeds, outside = filepath.Join(dir, "seeds.txt"), filepath.Join(dir, "outside.txt")
	const text = "# planted\n2001:db8:1::1\n2001:db8:1:1::1\n20010db8000100020000000000000001\n2001:db8:1:3::1\n2001:db8:1::2\n"
	if err := os.WriteFile(seeds, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var b netipx.IPSetBuilder
	b.AddPrefix(netip.MustParsePrefix("::/0"))
	b.RemovePrefix(netip.MustParsePrefix("2001:db8::/32"))
	b.RemovePrefix(netip.MustParsePrefix("3fff::/20"))
	set, err := b.IPSet()
	if err != nil {
		t.Fatal(err)
	}
	var lines strings.Builder
	for _, p := range set.Prefixes() {
		lines.WriteString(p.String() + "\n")
	}
	if err := os.WriteFile(outside, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return seeds, outside
}

func TestScanFlagsForTGA(t *testing.T) {
	seeds, outside := writeTGAFiles(t)
	f, args := parseScanFlags(t, "--tga", seeds, "--budget", "500", "-b", outside,
		"--unblock", "2001:db8::/32", "--unblock", "3fff::/20")
	cfg, err := f.config(args)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TGA == nil || cfg.TGA.Seeds() != 5 || cfg.Budget != 500 {
		t.Fatalf("TGA %v with %d seeds, budget %d; want 5 seeds, budget 500", cfg.TGA != nil, cfg.TGA.Seeds(), cfg.Budget)
	}
	if len(cfg.Targets) != 0 || len(cfg.Patterns) != 0 || cfg.List != nil || cfg.IID.String() != (generator.IID{}).String() {
		t.Errorf("a --tga config with other targets or an IID: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestScanFlagsRejectTGANonsense(t *testing.T) {
	seeds, _ := writeTGAFiles(t)
	empty := filepath.Join(t.TempDir(), "empty.txt")
	if err := os.WriteFile(empty, []byte("# nothing\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tga := []string{"--tga", seeds, "--budget", "100"}
	tests := []flagErrorCase{
		{"a budget without --tga", []string{"--budget", "100", "2001:db8::/48"}, "--budget"},
		{"--tga without a budget", []string{"--tga", seeds}, "--budget N > 0"},
		{"--tga beside a target argument", append(tga, "2001:db8::/48"), "no TARGET arguments"},
		{"--tga beside a prefix file", append(tga, "-p", seeds), "no TARGET arguments"},
		{"--tga beside a pattern", append(tga, "--pattern", "2001:db8::*"), "no TARGET arguments"},
		{"--tga beside a target list", append(tga, "--target-list", seeds), "no TARGET arguments"},
		{"--tga resumed", append(tga, "--resume", "x.ckpt"), "--resume"},
		{"--tga sharded", append(tga, "--shards", "2"), "--shards"},
		{"--tga with a target cap", append(tga, "--max-targets", "5"), "--max-targets"},
		{"--tga with an IID mode", append(tga, "--iid", "low:4"), "--iid"},
		{"--tga on the GPU", append(tga, "--backend", "gpu"), "on the CPU"},
		{"--tga with a missing seed file", []string{"--tga", seeds + ".gone", "--budget", "100"}, "--tga"},
		{"--tga with no seeds", []string{"--tga", empty, "--budget", "100"}, "no seeds"},
	}
	checkFlagErrors(t, tests)
}

func TestTGADryRunWritesMetadata(t *testing.T) {
	seeds, outside := writeTGAFiles(t)
	dir := t.TempDir()
	pcap, out := filepath.Join(dir, "p.pcap"), filepath.Join(dir, "hits.jsonl")
	m := dryRunMetadata(t, dir, out, "--dry-run", "--pcap", pcap, "--source-ip", "2001:db8::1",
		"--tga", seeds, "--budget", "300", "-b", outside, "--unblock", "2001:db8::/32", "--unblock", "3fff::/20")
	if m.Targets != 300 || m.Sent != 300 || m.Generated != 300 || m.WindowCount != 0 ||
		m.TGASeeds != 5 || m.TGABudget != 300 || m.TGARounds == 0 || m.TGAHits != 0 ||
		m.Backend != "cpu" || m.BackendNote != widescan.TGABackendNote {
		t.Errorf("metadata %+v", m)
	}
	if st, err := os.Stat(pcap); err != nil || st.Size() != 24+300*(16+104) {
		t.Errorf("pcap: %v, %v", st, err)
	}
}

// flagErrorCase is a scan command line that must fail with an error
// mentioning want.
type flagErrorCase struct {
	name string
	argv []string
	want string
}

func checkFlagErrors(t *testing.T, tests []flagErrorCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, args := parseScanFlags(t, tt.argv...)
			_, err := f.config(args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// dryRunMetadata runs the scan command line argv with hits to out and
// returns the metadata it wrote (in dir).
func dryRunMetadata(t *testing.T, dir, out string, argv ...string) metadata {
	t.Helper()
	meta := filepath.Join(dir, "m.json")
	f, args := parseScanFlags(t, argv...)
	f.metadata, f.output, f.noProgress = meta, out, true
	if err := runScan(context.Background(), f, args); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	var m metadata
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
