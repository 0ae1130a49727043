package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p2pnet/widescan/generator"
)

// pcapDsts returns the destination of every probe in the dry-run pcap at
// path (raw IPv6: a 24-byte file header, then per packet a 16-byte record
// header and the IPv6 packet, its destination at bytes 24 to 40).
func pcapDsts(t *testing.T, path string) []netip.Addr {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 {
		t.Fatalf("%s: %d bytes", path, len(b))
	}
	var out []netip.Addr
	for b = b[24:]; len(b) > 0; {
		if len(b) < 16 {
			t.Fatalf("%s: truncated record header", path)
		}
		n := int(binary.LittleEndian.Uint32(b[8:12]))
		if n < 40 || len(b) < 16+n {
			t.Fatalf("%s: record of %d bytes, %d left", path, n, len(b)-16)
		}
		out = append(out, netip.AddrFrom16([16]byte(b[16+24:16+40])))
		b = b[16+n:]
	}
	return out
}

func readCheckpointFile(t *testing.T, path string) checkpoint {
	t.Helper()
	c, ok, err := readCheckpoint(path)
	if err != nil || !ok {
		t.Fatalf("checkpoint %s: ok %v, %v", path, ok, err)
	}
	return c
}

func TestScanFlagsForBackendsPatternsAndLists(t *testing.T) {
	list := filepath.Join(t.TempDir(), "list.txt")
	if err := os.WriteFile(list, []byte("2001:db8:9::1\n2001:db8:9::2 # two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, args := parseScanFlags(t, "--backend", "gpu", "--gpu-worker", "/opt/widescan-gpu", "--gpu-device", "1",
		"--pattern", "2001:db8:*::1", "--pattern", "2001:db8::*:*", "--target-list", list, "--iid", "eui64:intel,00:1b:21")
	cfg, err := f.config(args)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Backend != generator.BackendGPU || cfg.GPU.Worker != "/opt/widescan-gpu" || cfg.GPU.Device != 1 {
		t.Errorf("backend %s, GPU %+v", cfg.Backend, cfg.GPU)
	}
	if len(cfg.Patterns) != 2 || cfg.Patterns[1].String() != "2001:db8::*:*" || cfg.List.Len() != 2 || len(cfg.Targets) != 0 {
		t.Errorf("patterns %v, list of %d, %d windows", cfg.Patterns, cfg.List.Len(), len(cfg.Targets))
	}
	if cfg.IID.Mode != generator.IIDEUI64 {
		t.Errorf("IID %s, want eui64", cfg.IID)
	}
	if f, _ := parseScanFlags(t); f.backend != generator.BackendAuto {
		t.Errorf("default backend %s, want auto", f.backend)
	}
	for _, bad := range [][]string{
		{"--pattern", "2001:db8::g*"}, {"--target-list", filepath.Join(t.TempDir(), "missing")}, {"--gpu-device", "-1", "2001:db8::/64"},
	} {
		f, args := parseScanFlags(t, bad...)
		if _, err := f.config(args); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	var fb scanFlags
	if err := fb.backend.Set("tpu"); err == nil {
		t.Error("--backend tpu accepted")
	}
}

// TestResumeContinuesAnInterruptedScanExactly stops a dry run part way, as
// ^C does, and reruns it with the same flags: the two pcaps together hold
// every target exactly once.
func TestResumeContinuesAnInterruptedScanExactly(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "scan.ckpt")
	argv := []string{"--source-ip", "2001:db8::1", "--unblock", "2001:db8::/32", "--backend", "cpu", "--resume", ck,
		"--workers", "2", "--dry-run", "2001:db8::/47-64"}
	const total = 1 << 17
	run := func(ctx context.Context, pcap string) error {
		f, args := parseScanFlags(t, append(argv, "--pcap", pcap)...)
		f.output, f.noProgress = filepath.Join(dir, "hits.jsonl"), true
		return runScan(ctx, f, args)
	}

	// Interrupt the first run once it has written 8,000 probes or so.
	first := filepath.Join(dir, "1.pcap")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for ctx.Err() == nil {
			if st, err := os.Stat(first); err == nil && st.Size() > 8000*120 {
				cancel()
			}
			time.Sleep(time.Millisecond)
		}
	}()
	err := run(ctx, first)
	cancel()
	if !errors.Is(err, errInterrupted) {
		t.Fatalf("first run: %v, want it interrupted (the machine may have finished the scan first)", err)
	}
	c1 := readCheckpointFile(t, ck)
	if c1.Done || c1.Position == 0 || c1.Position >= total || c1.PermSeed == 0 {
		t.Fatalf("checkpoint after the interruption: %+v", c1)
	}

	second := filepath.Join(dir, "2.pcap")
	if err := run(context.Background(), second); err != nil {
		t.Fatal(err)
	}
	c2 := readCheckpointFile(t, ck)
	if !c2.Done || c2.Position != total || c2.PermSeed != c1.PermSeed || c2.Fingerprint != c1.Fingerprint {
		t.Errorf("checkpoint after the rerun: %+v, first %+v", c2, c1)
	}

	seen := map[netip.Addr]int{}
	a, b := pcapDsts(t, first), pcapDsts(t, second)
	for _, x := range append(a, b...) {
		seen[x]++
	}
	for x, n := range seen {
		if n != 1 {
			t.Fatalf("%s probed %d times", x, n)
		}
	}
	if len(seen) != total {
		t.Fatalf("%d + %d probes, %d distinct targets, want %d", len(a), len(b), len(seen), total)
	}

	// A third run finds the scan finished and writes nothing.
	third := filepath.Join(dir, "3.pcap")
	if err := run(context.Background(), third); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(third); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a finished scan was run again: %v", err)
	}
}

func TestResumeRefusesAnotherScan(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "scan.ckpt")
	base := []string{"--source-ip", "2001:db8::1", "--unblock", "2001:db8::/32", "--backend", "cpu", "--resume", ck,
		"--dry-run", "--pcap", filepath.Join(dir, "p.pcap")}
	run := func(argv ...string) error {
		f, args := parseScanFlags(t, append(append([]string(nil), base...), argv...)...)
		f.output, f.noProgress = filepath.Join(dir, "hits.jsonl"), true
		return runScan(context.Background(), f, args)
	}
	// A stopped scan's file, written by hand: position 10 of 256.
	f, args := parseScanFlags(t, append(append([]string(nil), base...), "2001:db8:1::/56-64")...)
	cfg, err := f.config(args)
	if err != nil {
		t.Fatal(err)
	}
	c := checkpoint{Version: 1, Fingerprint: fingerprint(cfg), PermSeed: 99, ScanID: 5, Position: 10}
	if err := writeCheckpoint(ck, c); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		argv []string
		want string
	}{
		{"other targets", []string{"2001:db8:2::/56-64"}, "is for another scan"},
		{"another IID", []string{"--iid", "low:2", "2001:db8:1::/56-64"}, "is for another scan"},
		{"another shard", []string{"--shards", "2", "2001:db8:1::/56-64"}, "is for another scan"},
		{"another perm seed", []string{"--perm-seed", "98", "2001:db8:1::/56-64"}, "--perm-seed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := run(tt.argv...); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	// The same scan continues from position 10 with the recorded seed.
	meta := filepath.Join(dir, "m.json")
	if err := run("--perm-seed", "99", "--metadata", meta, "2001:db8:1::/56-64"); err != nil {
		t.Fatal(err)
	}
	var m metadata
	if b, err := os.ReadFile(meta); err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("metadata: %v", err)
	}
	if m.PermSeed != 99 || m.ScanID != 5 || m.StartPosition != 10 || m.Checkpoint != 256 || m.Sent != 246 || m.Backend != "cpu" {
		t.Errorf("metadata %+v", m)
	}
	if c := readCheckpointFile(t, ck); !c.Done || c.Position != 256 {
		t.Errorf("checkpoint %+v", c)
	}
}

func TestBackendAutoSaysWhyItFellBack(t *testing.T) {
	dir := t.TempDir()
	meta := filepath.Join(dir, "m.json")
	f, args := parseScanFlags(t, "--source-ip", "2001:db8::1", "--unblock", "2001:db8::/32", "--gpu-worker", "/nonexistent/widescan-gpu",
		"--dry-run", "--pcap", filepath.Join(dir, "p.pcap"), "--metadata", meta, "2001:db8:1::/56-64")
	f.output, f.noProgress = filepath.Join(dir, "hits.jsonl"), true
	if err := runScan(context.Background(), f, args); err != nil {
		t.Fatal(err)
	}
	var m metadata
	if b, err := os.ReadFile(meta); err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("metadata: %v", err)
	}
	if m.Backend != "cpu" || !strings.Contains(m.BackendNote, "nonexistent") || m.Checkpoint != 256 {
		t.Errorf("backend %q, note %q, checkpoint %d", m.Backend, m.BackendNote, m.Checkpoint)
	}

	f, args = parseScanFlags(t, "--source-ip", "2001:db8::1", "--unblock", "2001:db8::/32", "--gpu-worker", "/nonexistent/widescan-gpu",
		"--backend", "gpu", "--dry-run", "--pcap", filepath.Join(dir, "p.pcap"), "2001:db8:1::/56-64")
	f.output, f.noProgress = filepath.Join(dir, "hits.jsonl"), true
	if err := runScan(context.Background(), f, args); !errors.Is(err, generator.ErrNoGPU) {
		t.Fatalf("--backend gpu without a worker: %v, want generator.ErrNoGPU", err)
	}
}
