package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/icmp"
	"github.com/p2pnet/widescan/prefixes"
	"github.com/p2pnet/widescan/widescan"
)

type scanFlags struct {
	prefixFiles  []string
	maxLen       int
	iid          string
	rate         float64
	output       string
	outputFormat string
	blocklists   []string
	unblock      []string
	permSeed     uint64
	shards       uint64
	shard        uint64
	workers      int
	iface        string
	sourceIP     string
	hopLimit     int
	cooldown     time.Duration
	maxTargets   uint64
	key          string
	dryRun       bool
	pcap         string
	metadata     string
	noProgress   bool
	beacon       bool
	peers        peerFlags
	outputFields string
	sendPath     string
	gatewayMAC   string
	bandwidth    string
	probes       int
	maxRuntime   time.Duration
	maxResults   uint64
	ringMiB      int
	backend      generator.Backend
	gpuWorker    string
	gpuDevice    int
	resume       string
	patterns     []string
	targetList   string
	aliased      []string
	aliasedMin   int
	aliasCheck   bool
	aliasThresh  int
	tga          string
	budget       uint64
	tgaSpawn     bool
}

func newScanCmd() *cobra.Command {
	var f scanFlags
	cmd := &cobra.Command{
		Use:   "scan [flags] [TARGET...] | scan --tga SEEDS --budget N [flags]",
		Short: "Probe targets with ICMPv6 Echo Requests and report live hosts",
		Long: `Scan generates targets from prefix windows, probes each one with an ICMPv6
Echo Request at --rate probes/s, sniffs the replies and writes one line per live
host (JSON lines or CSV) to --output.

A TARGET (argument or line of a --prefix-file) is an XMap window
"2001:db8::/32-64" (every /64 in the /32), a prefix "2001:db8::/48" (every
/--max-len inside it) or a single address. The bits after a window's end are
filled by --iid: low:K (::1..::K), fixed:SUFFIX (e.g. fixed:::1), random, or
eui64[:MACS] (modified EUI-64 IIDs of MAC addresses: the built-in OUI list,
or vendor keys, OUIs, MAC blocks and ranges, e.g. eui64:intel,00:1b:21).
--pattern adds the addresses of a nybble template (2001:db8:*:*::1:*), and
--target-list the exact addresses of a file; all are permuted together.

--tga SEEDS --budget N replaces the targets: it learns the structure of the
known-active addresses in SEEDS (one address or 32 hex digits per line, as
"widescan tga generate" reads them) and probes N candidates, best first, none
a seed; every Echo Reply is fed back at once, so later candidates move to the
regions that answer and grow around the hosts found. It runs on the CPU and
cannot be combined with TARGET arguments, --prefix-file, --pattern,
--target-list, --resume, --shards, --max-targets or --iid.

Targets are generated on the GPU (the widescan-gpu worker) or the CPU:
--backend auto uses the GPU when its worker starts and says why when it
falls back. --resume FILE keeps the scan's position in FILE, so that a
stopped scan, rerun with the same flags, continues exactly where it stopped.

Hits in aliased prefixes (where one host answers for every address) are
reported apart, with "aliased":true and counted as aliased_hits: --aliased
FILE names known aliased prefixes (the IPv6 Hitlist's one-prefix-per-line
list or the TBT format "# n PREFIX alised_possibility:K"), and --alias-check
runs the Hitlist's 16-probe test, after the send phase, on every /64 with at
least --alias-threshold hits (the hits are then written after the test).

The built-in blocklist (IANA special-purpose registry, multicast) always
applies; --unblock PREFIX lifts a named part of it. Needs root or CAP_NET_RAW
unless --dry-run.`,
		Example: `  widescan scan -i eth0 -r 5000 2001:db8::/48-64
  widescan scan -p targets.txt --iid low:16 -o hits.jsonl --metadata run.json
  widescan scan --dry-run --pcap probes.pcap --source-ip 2001:db8::1 2001:db8::/56
  widescan scan --resume run.ckpt --iid eui64:intel 2001:db8::/48-64
  widescan scan --pattern '2001:db8:*:*::1:*' --target-list known.txt
  widescan scan --tga seeds.txt --budget 1000000 -i eth0 -o hits.jsonl`,
		RunE: func(cmd *cobra.Command, args []string) error { return runScan(cmd.Context(), f, args) },
	}
	f.bind(cmd.Flags())
	return cmd
}

// bind defines the scan flags on fl, stored in f.
func (f *scanFlags) bind(fl *pflag.FlagSet) {
	fl.StringArrayVarP(&f.prefixFiles, "prefix-file", "p", nil, "read targets from `FILE`, one per line, # comments (repeatable)")
	fl.IntVarP(&f.maxLen, "max-len", "x", prefixes.DefaultMaxLen, "end of the enumerated range for a plain prefix")
	fl.StringVar(&f.iid, "iid", "low:1", "IID mode filling the bits after each window: low:K, fixed:SUFFIX, random, eui64[:MACS]")
	fl.StringArrayVar(&f.patterns, "pattern", nil, "also probe every address of this nybble `TEMPLATE`, * a wildcard hex digit, e.g. 2001:db8:*:*::1:* (repeatable)")
	fl.StringVar(&f.targetList, "target-list", "", "also probe the exact addresses in `FILE`, one per line, # comments (- for stdin)")
	fl.StringVar(&f.tga, "tga", "", "instead of targets, probe --budget candidates generated from the seeds in `FILE` (- for stdin), with live feedback")
	fl.Uint64Var(&f.budget, "budget", 0, "with --tga, the number of candidates to probe")
	fl.BoolVar(&f.tgaSpawn, "tga-spawn", false, "with --tga, grow new candidates around each hit")
	f.backend = generator.BackendAuto
	fl.Var(&f.backend, "backend", "where targets are generated: auto (the GPU when its worker starts, else the CPU), cpu or gpu")
	fl.StringVar(&f.gpuWorker, "gpu-worker", "", "path of the widescan-gpu worker (default: $"+generator.EnvGPUWorker+", beside widescan, or on $PATH)")
	fl.IntVar(&f.gpuDevice, "gpu-device", 0, "CUDA device ordinal for the GPU backend")
	fl.StringVar(&f.resume, "resume", "", "keep the scan's position in `FILE` and continue from it when FILE exists")
	fl.Float64VarP(&f.rate, "rate", "r", widescan.DefaultRate, "probe rate in probes/s; 0 sends as fast as possible")
	fl.StringVarP(&f.output, "output", "o", "-", "write hits to `FILE` (- for stdout)")
	fl.StringVar(&f.outputFormat, "output-format", "jsonl", "hit format: jsonl or csv")
	fl.StringVarP(&f.outputFields, "output-fields", "f", defaultOutputFields, "comma-separated hit fields, or * for all: saddr,daddr,type,code,classification,outersaddr,hlim,rtt_us,timestamp,success,repeat,aliased")
	fl.StringVar(&f.sendPath, "send-path", "auto", "how probes leave: packet (AF_PACKET Ethernet frames), raw (raw ICMPv6 socket; for tun/VPN links) or auto (packet when the link has an Ethernet header and the gateway MAC is known)")
	fl.StringVarP(&f.gatewayMAC, "gateway-mac", "G", "", "link-layer address of the next hop for --send-path packet (default: the kernel's neighbour table)")
	fl.StringVarP(&f.bandwidth, "bandwidth", "B", "", "send rate as bits/s on the wire, with an optional K, M or G suffix (e.g. 10M); overrides --rate")
	fl.IntVarP(&f.probes, "probes", "P", 1, "probes per target (1 to 64), sent one batch apart")
	fl.DurationVar(&f.maxRuntime, "max-runtime", 0, "stop sending after this long (the cooldown follows); 0 is no cap")
	fl.Uint64Var(&f.maxResults, "max-results", 0, "stop after this many hits; 0 is no cap")
	fl.IntVar(&f.ringMiB, "ring-mib", 0, "capture ring size in MiB (default 32)")
	fl.StringArrayVarP(&f.blocklists, "blocklist", "b", nil, "never probe the prefixes in `FILE` (repeatable)")
	fl.StringArrayVar(&f.unblock, "unblock", nil, "lift `PREFIX` from the built-in blocklist; it must lie inside it (repeatable)")
	fl.Uint64Var(&f.permSeed, "perm-seed", 0, "permutation key; 0 draws one at random (shown in the metadata)")
	fl.Uint64Var(&f.shards, "shards", 1, "split the target sequence into this many shards")
	fl.Uint64Var(&f.shard, "shard", 0, "the shard to scan, 0..shards-1")
	fl.IntVar(&f.workers, "workers", 0, "generator workers; 0 is one per physical core")
	fl.StringVarP(&f.iface, "interface", "i", "", "interface to send and capture on (default: the route's)")
	fl.StringVar(&f.sourceIP, "source-ip", "", "probe source address (default: the route's)")
	fl.IntVar(&f.hopLimit, "hop-limit", 64, "probe IPv6 hop limit")
	fl.DurationVar(&f.cooldown, "cooldown", widescan.DefaultCooldown, "keep listening this long after the last probe")
	fl.Uint64Var(&f.maxTargets, "max-targets", 0, "probe at most this many targets; 0 is no cap")
	fl.StringVar(&f.key, "key", "", "MAC key as 32 hex digits, to validate replies across machines (default: random)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "send nothing: count targets and write the probes to --pcap")
	fl.StringVar(&f.pcap, "pcap", "", "with --dry-run, write the probes to this pcap `FILE`")
	fl.StringVar(&f.metadata, "metadata", "", "write a JSON summary of the run to `FILE`")
	fl.BoolVar(&f.noProgress, "no-progress", false, "no progress bar on stderr")
	fl.BoolVar(&f.beacon, "beacon", false, "carry our signed beacon card in every probe and report other widescan instances (peers)")
	fl.StringArrayVar(&f.aliased, "aliased", nil, "report hits inside the aliased prefixes of `FILE` apart (\"aliased\":true): one prefix per line, or TBT \"# n PREFIX alised_possibility:K\" lines (repeatable)")
	fl.IntVar(&f.aliasedMin, "aliased-min", 8, "with --aliased, skip TBT entries whose alised_possibility is below this")
	fl.BoolVar(&f.aliasCheck, "alias-check", false, "after the send phase, run the 16-probe alias test on every /64 with at least --alias-threshold hits and mark its hits aliased (hits are held until then)")
	fl.IntVar(&f.aliasThresh, "alias-threshold", widescan.DefaultAliasThreshold, "hits in one /64 that trigger its alias test (--alias-check)")
	f.peers.bind(fl, "")
}

// config turns the flags and arguments into a widescan.Config. With --tga
// it reads the seeds and builds the TGA.
func (f scanFlags) config(args []string) (widescan.Config, error) {
	var cfg widescan.Config
	if err := f.checkTGA(args); err != nil {
		return cfg, err
	}
	for i, a := range args {
		w, err := prefixes.ParseWindow(a, f.maxLen)
		if err != nil {
			return cfg, fmt.Errorf("target argument %d: %w", i+1, err)
		}
		cfg.Targets = append(cfg.Targets, w)
	}
	for _, p := range f.prefixFiles {
		ws, err := prefixes.ParseTargetFile(p, f.maxLen)
		if err != nil {
			return cfg, err
		}
		cfg.Targets = append(cfg.Targets, ws...)
	}
	for _, s := range f.patterns {
		p, err := generator.ParsePattern(s)
		if err != nil {
			return cfg, fmt.Errorf("--pattern: %w", err)
		}
		cfg.Patterns = append(cfg.Patterns, p)
	}
	if f.targetList != "" {
		l, err := generator.ReadTargetListFile(f.targetList)
		if err != nil {
			return cfg, fmt.Errorf("--target-list: %w", err)
		}
		cfg.List = l
	}
	if len(cfg.Targets) == 0 && len(cfg.Patterns) == 0 && f.targetList == "" && f.tga == "" {
		return cfg, errors.New("no targets: give TARGET arguments, --prefix-file, --pattern or --target-list")
	}
	cfg.Backend = f.backend
	if f.gpuDevice < 0 {
		return cfg, fmt.Errorf("--gpu-device %d: negative", f.gpuDevice)
	}
	cfg.GPU = generator.GPUConfig{Worker: f.gpuWorker, Device: f.gpuDevice}
	if f.tga == "" {
		iid, err := generator.ParseIID(f.iid)
		if err != nil {
			return cfg, fmt.Errorf("--iid: %w", err)
		}
		cfg.IID = iid
	}
	for _, p := range f.blocklists {
		ps, err := prefixes.ParsePrefixFile(p)
		if err != nil {
			return cfg, err
		}
		cfg.Blocklist = append(cfg.Blocklist, ps...)
	}
	for _, u := range f.unblock {
		p, err := netip.ParsePrefix(u)
		if err != nil {
			return cfg, fmt.Errorf("--unblock %q: not a prefix", u)
		}
		cfg.Unblock = append(cfg.Unblock, p)
	}
	if f.tga != "" {
		t, err := newTGA(f.tga, cfg.Blocklist, cfg.Unblock, buildProgress(os.Stderr, f.noProgress))
		if err != nil {
			return cfg, err
		}
		cfg.TGA, cfg.Budget, cfg.TGASpawn = t, f.budget, f.tgaSpawn
	}
	if f.shards == 0 || f.shard >= f.shards {
		return cfg, fmt.Errorf("--shard %d must be below --shards %d", f.shard, f.shards)
	}
	cfg.PermSeed = f.permSeed
	cfg.Shard = generator.Shard{Index: f.shard, Count: f.shards}
	cfg.Workers = f.workers
	cfg.MaxTargets = f.maxTargets
	switch {
	case f.rate < 0:
		return cfg, fmt.Errorf("--rate %g: negative", f.rate)
	case f.rate == 0:
		cfg.Rate = widescan.RateUnlimited
	default:
		cfg.Rate = f.rate
	}
	cfg.Interface = f.iface
	if f.sourceIP != "" {
		a, err := netip.ParseAddr(f.sourceIP)
		if err != nil || !a.Is6() || a.Is4In6() {
			return cfg, fmt.Errorf("--source-ip %q: not an IPv6 address", f.sourceIP)
		}
		cfg.SourceIP = a
	}
	cfg.HopLimit = f.hopLimit
	switch {
	case f.cooldown < 0:
		return cfg, fmt.Errorf("--cooldown %s: negative", f.cooldown)
	case f.cooldown == 0:
		cfg.Cooldown = widescan.NoCooldown
	default:
		cfg.Cooldown = f.cooldown
	}
	if f.key != "" {
		k, err := icmp.ParseKey(f.key)
		if err != nil {
			return cfg, fmt.Errorf("--key: %w", err)
		}
		cfg.Key = k
	}
	if f.dryRun != (f.pcap != "") {
		return cfg, errors.New("--dry-run and --pcap go together")
	}
	var err error
	if cfg.SendPath, err = widescan.ParseSendPath(f.sendPath); err != nil {
		return cfg, fmt.Errorf("--send-path: %w", err)
	}
	if f.gatewayMAC != "" {
		mac, err := net.ParseMAC(f.gatewayMAC)
		if err != nil || len(mac) != 6 {
			return cfg, fmt.Errorf("--gateway-mac %q: not an Ethernet address", f.gatewayMAC)
		}
		cfg.GatewayMAC = mac
	}
	if f.bandwidth != "" {
		bw, err := parseBandwidth(f.bandwidth)
		if err != nil {
			return cfg, err
		}
		cfg.Bandwidth = bw
	}
	if f.probes < 1 || f.probes > widescan.MaxProbes {
		return cfg, fmt.Errorf("--probes %d: want 1 to %d", f.probes, widescan.MaxProbes)
	}
	cfg.Probes = f.probes
	if f.maxRuntime < 0 {
		return cfg, fmt.Errorf("--max-runtime %s: negative", f.maxRuntime)
	}
	cfg.MaxRuntime = f.maxRuntime
	cfg.MaxResults = f.maxResults
	if f.ringMiB < 0 {
		return cfg, fmt.Errorf("--ring-mib %d: negative", f.ringMiB)
	}
	cfg.RingBytes = f.ringMiB << 20
	if _, err := parseOutputFields(f.outputFields); err != nil {
		return cfg, fmt.Errorf("--output-fields: %w", err)
	}
	for _, p := range f.aliased {
		as, err := prefixes.ParseAliasFile(p)
		if err != nil {
			return cfg, fmt.Errorf("--aliased: %w", err)
		}
		cfg.Aliased = append(cfg.Aliased, prefixes.AliasPrefixes(as, f.aliasedMin)...)
	}
	if f.aliasCheck {
		if f.aliasThresh < 1 {
			return cfg, fmt.Errorf("--alias-threshold %d: want at least 1", f.aliasThresh)
		}
		cfg.AliasCheck = f.aliasThresh
	}
	return cfg, nil
}

// checkTGA rejects the flags that do not go with --tga (or --budget without
// it), before any file is read.
func (f scanFlags) checkTGA(args []string) error {
	if f.tga == "" {
		if f.budget != 0 {
			return errors.New("--budget is the candidate count of --tga SEEDS: give --tga, or use --max-targets")
		}
		return nil
	}
	switch {
	case len(args) > 0 || len(f.prefixFiles) > 0 || len(f.patterns) > 0 || f.targetList != "":
		return errors.New("--tga generates the targets: give no TARGET arguments, --prefix-file, --pattern or --target-list")
	case f.budget == 0:
		return errors.New("--tga needs --budget N > 0, the number of candidates to probe")
	case f.resume != "":
		return errors.New("--tga: a seed-driven scan cannot be resumed; drop --resume")
	case f.shards > 1:
		return errors.New("--tga: a seed-driven scan cannot be sharded; drop --shards")
	case f.maxTargets > 0:
		return errors.New("--tga: --budget caps the candidates; drop --max-targets")
	case f.iid != "low:1":
		return errors.New("--tga: the candidates are whole addresses; drop --iid")
	case f.backend == generator.BackendGPU:
		return errors.New("--backend gpu: --tga expansion runs on the CPU")
	}
	return nil
}

// newTGA reads the seed file at path (as "widescan tga generate" does) and
// builds the TGA with the scan's blocklist, reporting the build's steps to
// progress (nil: none).
func newTGA(path string, blocklist, unblock []netip.Prefix, progress func(step, steps int, what string)) (*generator.TGA, error) {
	seeds, err := generator.ReadSeedFile(path)
	if err != nil {
		return nil, fmt.Errorf("--tga: %w", err)
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("--tga %s: no seeds", path)
	}
	bl, err := prefixes.NewBlocklist(blocklist, unblock)
	if err != nil {
		return nil, err
	}
	t, err := generator.NewTGA(seeds, generator.TGAConfig{Blocklist: bl, Progress: progress})
	if err != nil {
		return nil, fmt.Errorf("--tga: %w", err)
	}
	return t, nil
}

func runScan(ctx context.Context, f scanFlags, args []string) (err error) {
	cfg, err := f.config(args)
	if err != nil {
		return err
	}
	var rs *resumer
	if f.resume != "" {
		fp := fingerprint(cfg)
		c, ok, err := readCheckpoint(f.resume)
		if err != nil {
			return err
		}
		if ok {
			if c.Fingerprint != fp {
				return fmt.Errorf("resume file %s is for another scan (other targets, IID, patterns, list, shard, target cap or blocklist)", f.resume)
			}
			if f.permSeed != 0 && f.permSeed != c.PermSeed {
				return fmt.Errorf("--perm-seed %d: resume file %s continues the scan with perm seed %d", f.permSeed, f.resume, c.PermSeed)
			}
			if c.Done {
				fmt.Fprintf(os.Stderr, "widescan: resume file %s: the scan already finished\n", f.resume)
				return nil
			}
			cfg.PermSeed, cfg.ScanID, cfg.Start = c.PermSeed, c.ScanID, c.Position
		}
		rs = &resumer{path: f.resume, c: checkpoint{Version: checkpointVersion, Fingerprint: fp}}
	}
	var out io.Writer = os.Stdout
	if f.output != "-" && f.output != "" {
		of, err := os.Create(f.output)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := of.Close(); err == nil && cerr != nil {
				err = cerr
			}
		}()
		out = of
	}
	fields := f.outputFields
	if f.aliasFeatures() {
		fields = withField(fields, "aliased")
	}
	hw, err := newHitWriterFields(out, f.outputFormat, fields)
	if err != nil {
		return err
	}
	cfg.OnHit = hw.Write
	if f.dryRun {
		pf, err := os.Create(f.pcap)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := pf.Close(); err == nil && cerr != nil {
				err = cerr
			}
		}()
		cfg.DryRun = pf
	}
	var sp atomic.Pointer[widescan.Scanner] // for the metrics endpoint, set once New returns
	if f.beacon {
		if cfg.Beacon, err = f.peers.beacon(); err != nil {
			return err
		}
		sinks, serr := f.peers.sinks(func() widescan.Stats {
			if s := sp.Load(); s != nil {
				return s.Stats()
			}
			return widescan.Stats{}
		})
		if serr != nil {
			return serr
		}
		defer func() {
			if cerr := sinks.close(); err == nil && cerr != nil {
				err = cerr
			}
		}()
		cfg.OnPeer = sinks.onPeer
	}
	s, err := widescan.New(cfg)
	if err != nil {
		return err
	}
	sp.Store(s)
	done := make(chan struct{})
	ckErr := make(chan error, 1)
	if rs != nil {
		st0 := s.Stats()
		rs.c.PermSeed, rs.c.ScanID = st0.PermSeed, st0.ScanID
		rs.end = st0.Checkpoint + s.Targets()
		// Written before the first probe, so that the perm seed of a scan
		// stopped at once is kept.
		if err := rs.update(st0); err != nil {
			return err
		}
		go rs.loop(s, done, ckErr)
	} else {
		ckErr <- nil
	}
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		progress(s, hw, done, f.noProgress)
	}()
	st, runErr := s.Run(ctx)
	close(done)
	<-progressDone
	if err := <-ckErr; err != nil {
		return err
	}
	if rs != nil {
		if err := rs.update(st); err != nil {
			return err
		}
	}
	if err := hw.Flush(); err != nil {
		return fmt.Errorf("write hits: %w", err)
	}
	if runErr != nil && st.Sent == 0 && ctx.Err() == nil {
		return runErr // failed before the first probe: the error says it all
	}
	fmt.Fprintln(os.Stderr, summary(st, f.dryRun))
	if cfg.TGA != nil {
		fmt.Fprintln(os.Stderr, tgaSummary(cfg, st))
	}
	if f.aliasFeatures() && !f.dryRun {
		fmt.Fprintln(os.Stderr, aliasSummary(st))
	}
	if f.beacon && !f.dryRun {
		fmt.Fprintln(os.Stderr, peerSummary(st))
	}
	if f.metadata != "" {
		if err := writeMetadata(f.metadata, cfg, s, st, runErr); err != nil {
			return err
		}
	}
	if runErr != nil && ctx.Err() != nil {
		return errInterrupted
	}
	return runErr
}

// aliasFeatures reports whether hits may be marked aliased.
func (f scanFlags) aliasFeatures() bool { return len(f.aliased) > 0 || f.aliasCheck }

// aliasSummary is the stderr line of the alias counters.
func aliasSummary(st widescan.Stats) string {
	return fmt.Sprintf("widescan: aliased_hits=%d real_hits=%d alias_tested=%d alias_found=%d alias_probes=%d",
		st.AliasedHits, st.Hits-st.AliasedHits, st.AliasTested, st.AliasFound, st.AliasSent)
}

// tgaSummary is the stderr line of a seed-driven scan: its seeds and budget,
// and how the feedback went.
func tgaSummary(cfg widescan.Config, st widescan.Stats) string {
	return fmt.Sprintf("widescan: tga seeds=%d budget=%d generated=%d tga_hits=%d rounds=%d spawned=%d excluded=%d",
		cfg.TGA.Seeds(), cfg.Budget, st.Generated, st.TGAHits, st.TGARounds, st.TGASpawned, st.TGAExcluded)
}

// progress draws a progress bar on stderr (probes sent, probes/s, hits, ETA)
// until done is closed, and flushes buffered hits as it goes.
func progress(s *widescan.Scanner, hw *hitWriter, done <-chan struct{}, quiet bool) {
	// The bar appears with the first probe, so that a scan that fails to
	// start prints its error alone.
	var bar *progressbar.ProgressBar
	newBar := func() *progressbar.ProgressBar {
		return progressbar.NewOptions64(int64(s.Targets()),
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription("probes"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetItsString("probes"),
			progressbar.OptionShowIts(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionFullWidth(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }),
		)
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	noted := false
	update := func() {
		st := s.Stats()
		if st.BackendNote != "" && !noted {
			noted = true
			if bar != nil {
				fmt.Fprintln(os.Stderr)
			}
			if st.BackendNote == widescan.TGABackendNote {
				fmt.Fprintln(os.Stderr, "widescan: generating on the CPU:", st.BackendNote)
			} else {
				fmt.Fprintln(os.Stderr, "widescan: GPU backend unavailable, generating on the CPU:", st.BackendNote)
			}
		}
		if quiet || st.Sent+st.SendErrors == 0 {
			return
		}
		if bar == nil {
			bar = newBar()
		}
		if bar.IsFinished() {
			return
		}
		bar.Describe(fmt.Sprintf("probes (hits %d)", st.Hits))
		_ = bar.Set64(int64(st.Sent + st.SendErrors))
		if !st.LastProbe.IsZero() {
			// Every probe is out: close the bar and count the hits that
			// arrive during the cooldown on a line of their own.
			_ = bar.Finish()
		}
	}
	for {
		select {
		case <-done:
			update()
			return
		case <-t.C:
			_ = hw.Flush()
			update()
		}
	}
}

func summary(st widescan.Stats, dryRun bool) string {
	d := st.Duration()
	pps := st.SendRate()
	if dryRun {
		return fmt.Sprintf("widescan: dry run: targets=%d written=%d blocked=%d duration=%s backend=%s checkpoint=%d",
			st.Targets, st.Sent, st.Blocked, d.Round(time.Millisecond), st.Backend, st.Checkpoint)
	}
	s := fmt.Sprintf("widescan: targets=%d sent=%d send_errors=%d hits=%d icmp_errors=%d received=%d invalid=%d duplicate=%d kernel_drops=%d duration=%s rate=%.0f probes/s send_path=%s",
		st.Targets, st.Sent, st.SendErrors, st.Hits, st.ICMPErrors, st.Received, st.Invalid, st.Duplicate, st.KernelDrops,
		d.Round(time.Millisecond), pps, st.SendPath)
	if st.SendPathNote != "" {
		s += " (" + st.SendPathNote + ")"
	}
	// The backend note was printed on a line of its own when the run
	// opened the backend; the metadata keeps it.
	return s + fmt.Sprintf(" backend=%s checkpoint=%d", st.Backend, st.Checkpoint)
}

// parseBandwidth parses a bandwidth in bits/s with an optional K, M or G
// (powers of 1000) suffix, as ZMap's -B.
func parseBandwidth(s string) (float64, error) {
	mul := 1.0
	t := strings.TrimSpace(s)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k', 'K':
			mul, t = 1e3, t[:n-1]
		case 'm', 'M':
			mul, t = 1e6, t[:n-1]
		case 'g', 'G':
			mul, t = 1e9, t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("--bandwidth %q: want a positive number of bits/s, e.g. 10M", s)
	}
	return v * mul, nil
}

// maxMetadataWindows caps the windows listed in the metadata; window_count
// gives them all.
const maxMetadataWindows = 1000

// metadata is the JSON summary written by --metadata.
type metadata struct {
	Command     string   `json:"command"`
	Start       string   `json:"start"`
	End         string   `json:"end"`
	DurationS   float64  `json:"duration_s"`
	WindowCount int      `json:"window_count"`
	Windows     []string `json:"windows"` // the first maxMetadataWindows`
	IID         string   `json:"iid"`
	PermSeed    uint64   `json:"perm_seed"`
	ScanID      uint64   `json:"scan_id"`
	Shard       string   `json:"shard"`
	RatePPS     float64  `json:"rate_pps"`
	DryRun      bool     `json:"dry_run"`
	Targets     uint64   `json:"targets"`
	Generated   uint64   `json:"generated"`
	Blocked     uint64   `json:"blocked"`
	Sent        uint64   `json:"sent"`
	SendErrors  uint64   `json:"send_errors"`
	Received    uint64   `json:"received"`
	Valid       uint64   `json:"valid"`
	Invalid     uint64   `json:"invalid"`
	Duplicate   uint64   `json:"duplicate"`
	KernelDrops uint64   `json:"kernel_drops"`
	Hits        uint64   `json:"hits"`
	AchievedPPS float64  `json:"achieved_pps"`
	SendPath    string   `json:"send_path"`
	ICMPErrors  uint64   `json:"icmp_errors"`
	// Backend is "cpu" or "gpu"; BackendNote why auto fell back to the CPU.
	Backend     string `json:"backend"`
	BackendNote string `json:"backend_note,omitempty"`
	// StartPosition is the shard position the run began at (--resume) and
	// Checkpoint the one to continue from.
	StartPosition uint64   `json:"start_position"`
	Checkpoint    uint64   `json:"checkpoint"`
	Patterns      []string `json:"patterns,omitempty"`
	ListTargets   int      `json:"list_targets,omitempty"`
	// The alias counters (widescan.Stats), with --aliased or --alias-check.
	AliasedHits uint64 `json:"aliased_hits,omitempty"`
	AliasTested uint64 `json:"alias_tested,omitempty"`
	AliasFound  uint64 `json:"alias_found,omitempty"`
	// A seed-driven scan (--tga): the seeds read, the budget and the
	// feedback counters (widescan.Stats).
	TGASeeds    int    `json:"tga_seeds,omitempty"`
	TGABudget   uint64 `json:"tga_budget,omitempty"`
	TGAHits     uint64 `json:"tga_hits,omitempty"`
	TGARounds   uint64 `json:"tga_rounds,omitempty"`
	TGASpawned  uint64 `json:"tga_spawned,omitempty"`
	TGAExcluded uint64 `json:"tga_excluded,omitempty"`
	Error       string `json:"error,omitempty"`
}

func writeMetadata(path string, cfg widescan.Config, s *widescan.Scanner, st widescan.Stats, runErr error) error {
	m := metadata{
		Command:     strings.Join(os.Args, " "),
		Start:       st.Start.UTC().Format(time.RFC3339Nano),
		End:         st.End.UTC().Format(time.RFC3339Nano),
		DurationS:   st.Duration().Seconds(),
		IID:         cfg.IID.String(),
		PermSeed:    st.PermSeed,
		ScanID:      st.ScanID,
		Shard:       fmt.Sprintf("%d/%d", cfg.Shard.Index, cfg.Shard.Count),
		RatePPS:     cfg.Rate,
		DryRun:      cfg.DryRun != nil,
		Targets:     st.Targets,
		Generated:   st.Generated,
		Blocked:     st.Blocked,
		Sent:        st.Sent,
		SendErrors:  st.SendErrors,
		Received:    st.Received,
		Valid:       st.Valid,
		Invalid:     st.Invalid,
		Duplicate:   st.Duplicate,
		KernelDrops: st.KernelDrops,
		Hits:        st.Hits,
	}
	m.AchievedPPS = st.SendRate()
	m.SendPath = st.SendPath.String()
	m.ICMPErrors = st.ICMPErrors
	m.Backend, m.BackendNote = st.Backend, st.BackendNote
	m.StartPosition, m.Checkpoint = cfg.Start, st.Checkpoint
	for _, p := range cfg.Patterns {
		m.Patterns = append(m.Patterns, p.String())
	}
	m.ListTargets = cfg.List.Len()
	m.AliasedHits, m.AliasTested, m.AliasFound = st.AliasedHits, st.AliasTested, st.AliasFound
	if cfg.TGA != nil {
		m.TGASeeds, m.TGABudget = cfg.TGA.Seeds(), cfg.Budget
		m.TGAHits, m.TGARounds, m.TGASpawned, m.TGAExcluded = st.TGAHits, st.TGARounds, st.TGASpawned, st.TGAExcluded
	}
	if runErr != nil {
		m.Error = runErr.Error()
	}
	ws := s.Windows()
	m.WindowCount = len(ws)
	for _, w := range ws[:min(len(ws), maxMetadataWindows)] {
		m.Windows = append(m.Windows, w.String())
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	return nil
}
