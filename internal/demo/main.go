// Command demo runs widescan end to end against a network-namespace testbed and checks
// what it finds: `make demo` runs it as
//
//	go run ./internal/demo -widescan bin/widescan
//
// It plants the rebased 6Graph seed addresses (testdata/hitlist-seeds-6graph-5k.txt) in a
// testbed named "wsdemo" with the AnyIP prefix 3fff:100::/48, writes a target file over part
// of the planted space, computes the expected hits E on its own (without the generator),
// scans from the scanner namespace, checks a dry run's pcap with tshark, removes the
// testbed and prints
//
//	demo: planted=P expected=E found=F false_positives=X recall=R%
//
// It exits non-zero when recall is below 100% or any hit is not a planted address. It needs
// root, the iproute2 `ip` binary and tshark. With -plan it only writes the target file and
// prints its probe count and E, which needs neither root nor widescan.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/p2pnet/widescan/internal/testbed"
)

const (
	testbedName = "wsdemo"
	iidK        = 16
)

var anyIP = netip.MustParsePrefix("3fff:100::/48")

func main() {
	os.Exit(run())
}

type options struct {
	widescan string
	seeds    string
	rate     int
	plan     bool
	keep     bool
	workdir  string
}

func run() int {
	var o options
	flag.StringVar(&o.widescan, "widescan", "bin/widescan", "path of the widescan binary")
	flag.StringVar(&o.seeds, "seeds", "testdata/hitlist-seeds-6graph-5k.txt", "seed list to plant (rebased into 2001:db8::/32)")
	flag.IntVar(&o.rate, "rate", 100000, "scan rate, probes per second")
	flag.BoolVar(&o.plan, "plan", false, "only write the target file and print its probe count and E")
	flag.BoolVar(&o.keep, "keep", false, "leave the testbed and the work directory in place")
	flag.StringVar(&o.workdir, "workdir", "", "directory for targets, hits, metadata and pcap (default: a new temporary directory)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 1
	}
	return 0
}

// errFailed marks a run whose final line was printed but whose result is not good enough.
var errFailed = errors.New("recall below 100% or false positives")

func demo(ctx context.Context, o options) (err error) {
	f, err := os.Open(o.seeds)
	if err != nil {
		return err
	}
	seeds, err := testbed.LoadSeeds(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", o.seeds, err)
	}
	planted := make([]netip.Addr, 0, len(seeds))
	for _, a := range seeds {
		planted = append(planted, testbed.Rebase(a))
	}
	slices.SortFunc(planted, netip.Addr.Compare)
	planted = slices.Compact(planted)

	dir := o.workdir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "widescan-demo-"); err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	targetText := buildTargets(planted, iidK)
	targetsPath := filepath.Join(dir, "targets.txt")
	if err := os.WriteFile(targetsPath, []byte(targetText), 0o644); err != nil {
		return err
	}
	targets, err := parseTargets(targetText)
	if err != nil {
		return err
	}
	for _, t := range targets {
		if t.prefix.Overlaps(anyIP) {
			return fmt.Errorf("target %v covers the AnyIP prefix %v", t.prefix, anyIP)
		}
	}
	exp := expected(targets, planted, iidK)
	probes := totalProbes(targets, iidK)
	fmt.Fprintf(os.Stderr, "demo: %d planted, target file %s: %d lines, %s probes with --iid low:%d, %d expected hits\n",
		len(planted), targetsPath, len(targets), probes, iidK, len(exp))
	if o.plan {
		fmt.Print(targetText)
		return nil
	}

	if os.Geteuid() != 0 {
		return errors.New("needs root to build the network-namespace testbed (sudo make demo)")
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		return fmt.Errorf("tshark not found (make demo installs it; or apt-get install tshark): %w", err)
	}
	ws, err := resolveBinary(o.widescan)
	if err != nil {
		return err
	}

	start := time.Now()
	tb, err := testbed.Up(ctx, testbed.Config{Name: testbedName, Planted: planted, AnyIP: []netip.Prefix{anyIP}})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "demo: testbed %s up in %v (%d planted, AnyIP %v)\n", tb.Name, time.Since(start).Round(time.Millisecond), len(tb.Planted), anyIP)
	down := func() error {
		if o.keep {
			fmt.Fprintf(os.Stderr, "demo: -keep: testbed %s left up (widescan testbed down or ip netns del)\n", tb.Name)
			return nil
		}
		return testbed.Down(context.Background(), tb.Name)
	}
	downDone := false
	defer func() {
		if !downDone {
			if derr := down(); derr != nil {
				err = errors.Join(err, derr)
			}
		}
	}()

	common := []string{"scan", "-p", targetsPath, "--iid", "low:" + strconv.Itoa(iidK),
		"--unblock", "2001:db8::/32", "--unblock", "3fff::/20", "--rate", strconv.Itoa(o.rate)}

	// The scan, from inside the scanner namespace.
	hitsPath, metaPath := filepath.Join(dir, "hits.jsonl"), filepath.Join(dir, "meta.json")
	args := append([]string{"netns", "exec", tb.ScannerNS, ws}, common...)
	args = append(args, "-i", tb.ScanIface, "--cooldown", "2s", "-o", hitsPath, "--output-format", "jsonl", "--metadata", metaPath)
	if err := runCmd(ctx, "ip", args...); err != nil {
		return fmt.Errorf("scan: %w", err)
	}

	// The dry run, to a pcap that tshark checks.
	pcapPath, dryMetaPath := filepath.Join(dir, "probes.pcap"), filepath.Join(dir, "meta-dry-run.json")
	args = append(slices.Clone(common), "--dry-run", "--pcap", pcapPath, "--metadata", dryMetaPath)
	if err := runCmd(ctx, ws, args...); err != nil {
		return fmt.Errorf("dry run: %w", err)
	}
	if err := checkPcap(ctx, tshark, pcapPath, dryMetaPath, probes.Int64()); err != nil {
		return err
	}

	found, fps, err := scoreHits(hitsPath, planted, exp)
	if err != nil {
		return err
	}

	downDone = true
	if err := down(); err != nil {
		return err
	}
	recall := 100.0
	if len(exp) > 0 {
		recall = 100 * float64(found) / float64(len(exp))
	}
	fmt.Printf("demo: planted=%d expected=%d found=%d false_positives=%d recall=%.1f%%\n",
		len(planted), len(exp), found, fps, recall)
	if found < len(exp) || fps > 0 {
		return errFailed
	}
	return nil
}

// resolveBinary returns an absolute path for the widescan binary, so that it still
// resolves under `ip netns exec`.
func resolveBinary(p string) (string, error) {
	if !strings.Contains(p, "/") {
		lp, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("widescan binary: %w", err)
		}
		p = lp
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("widescan binary (build it with make): %w", err)
	}
	return abs, nil
}

// runCmd runs a command with its output passed through (stderr carries the progress bar).
// On cancellation it sends SIGINT and gives the command 5 s to stop.
func runCmd(ctx context.Context, name string, args ...string) error {
	fmt.Fprintf(os.Stderr, "demo: %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	return cmd.Run()
}

// metaTargets reads the target count ("targets") of a widescan --metadata file.
func metaTargets(path string) (int64, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("metadata: %w", err)
	}
	var m struct {
		Targets *int64 `json:"targets"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return 0, fmt.Errorf("metadata %s: %w", path, err)
	}
	if m.Targets == nil {
		return 0, fmt.Errorf("metadata %s: no \"targets\" count", path)
	}
	return *m.Targets, nil
}

// checkPcap checks every probe of a dry run with tshark: ICMPv6 checksum good, nothing
// malformed, and as many packets as the metadata reports targets.
func checkPcap(ctx context.Context, tshark, pcapPath, metaPath string, planned int64) error {
	want, err := metaTargets(metaPath)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, tshark, "-n", "-r", pcapPath, "-T", "fields",
		"-e", "icmpv6.checksum.status", "-e", "_ws.malformed")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("tshark: %w", err)
	}
	var n, bad, malformed int64
	var firstBad string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		n++
		status, mal, _ := strings.Cut(sc.Text(), "\t")
		if mal != "" {
			malformed++
		}
		if status != "1" && status != "Good" {
			if bad++; firstBad == "" {
				firstBad = fmt.Sprintf("packet %d: checksum status %q", n, status)
			}
		}
	}
	if _, err := io.Copy(io.Discard, out); err != nil {
		return err
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("tshark -r %s: %w", pcapPath, err)
	}
	switch {
	case bad > 0:
		return fmt.Errorf("pcap %s: %d of %d probes without a good ICMPv6 checksum (first: %s)", pcapPath, bad, n, firstBad)
	case malformed > 0:
		return fmt.Errorf("pcap %s: %d of %d probes malformed", pcapPath, malformed, n)
	case n != want:
		return fmt.Errorf("pcap %s: %d packets, but the metadata reports %d targets", pcapPath, n, want)
	case n != planned:
		return fmt.Errorf("pcap %s: %d probes, but the target file covers %d (counted by the demo)", pcapPath, n, planned)
	}
	fmt.Fprintf(os.Stderr, "demo: pcap %s: %d probes (as many as the target file covers), checksums good, none malformed\n", pcapPath, n)
	return nil
}

// scoreHits reads the scan's JSONL hits and returns the number of distinct expected
// planted addresses hit (F) and of distinct hit targets that are not planted (X).
func scoreHits(path string, planted, exp []netip.Addr) (found, falsePos int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("hits: %w", err)
	}
	defer f.Close()
	isPlanted := make(map[netip.Addr]bool, len(planted))
	for _, a := range planted {
		isPlanted[a] = true
	}
	isExp := make(map[netip.Addr]bool, len(exp))
	for _, a := range exp {
		isExp[a] = true
	}
	seen := map[netip.Addr]bool{}
	var lines, unexpected, otherResponder int
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var h struct {
			Daddr string `json:"daddr"`
			Saddr string `json:"saddr"`
		}
		if err := json.Unmarshal([]byte(line), &h); err != nil {
			return 0, 0, fmt.Errorf("hits %s line %d: %w", path, n, err)
		}
		d, err := netip.ParseAddr(h.Daddr)
		if err != nil {
			return 0, 0, fmt.Errorf("hits %s line %d: daddr: %w", path, n, err)
		}
		lines++
		if s, err := netip.ParseAddr(h.Saddr); err == nil && s != d {
			otherResponder++
		}
		if seen[d] {
			continue
		}
		seen[d] = true
		switch {
		case isExp[d]:
			found++
		case isPlanted[d]:
			unexpected++
		default:
			falsePos++
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("hits %s: %w", path, err)
	}
	fmt.Fprintf(os.Stderr, "demo: %d hit lines, %d distinct targets; %d planted but not expected, %d answered from another address\n",
		lines, len(seen), unexpected, otherResponder)
	return found, falsePos, nil
}
