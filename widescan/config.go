package widescan

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"time"

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/icmp"
	"github.com/p2pnet/widescan/prefixes"
)

// Defaults applied to the zero values of Config.
const (
	// DefaultRate is the probe rate in probes/s when Config.Rate is 0: the
	// conservative default that ZMap and XMap also recommend for shared
	// networks.
	DefaultRate = 10000
	// DefaultCooldown is how long the sniffer keeps listening after the last
	// probe when Config.Cooldown is 0.
	DefaultCooldown = 8 * time.Second
	// DefaultQueueDepth is the number of batches that may wait between the
	// generator and the sender when Config.QueueDepth is 0.
	DefaultQueueDepth = 16
)

// RateUnlimited, as Config.Rate, sends as fast as the send path allows.
const RateUnlimited = -1

// NoCooldown, as Config.Cooldown, stops listening as soon as the last probe is
// sent.
const NoCooldown = time.Duration(-1)

// Errors returned by New and Run; match them with errors.Is.
var (
	// ErrNoTargets: the configuration names no target, or every target is
	// blocked.
	ErrNoTargets = errors.New("widescan: empty target set")
	// ErrPermission: opening the raw socket or the capture ring needs root
	// or CAP_NET_RAW.
	ErrPermission = icmp.ErrPermission
)

// Config configures a Scanner. The zero value of each field is its default;
// only targets (Targets, Patterns or List, or TGA and Budget) and (unless
// DryRun is set) a way to reach them are required.
// A host node and the CLI both fill it.
type Config struct {
	// Targets are the target windows (see prefixes.ParseWindow and
	// prefixes.ParseTargets). Targets, Patterns and List together must name
	// at least one target.
	Targets []prefixes.Window
	// IID fills the bits after each window's end: low:K, fixed:SUFFIX,
	// random or eui64[:MACS] (see generator.ParseIID). Zero value: low:1
	// (::1).
	IID generator.IID
	// Patterns are nybble templates ("2001:db8:*:*::1:*", see
	// generator.ParsePattern) whose addresses are targets of their own,
	// beside the windows (generator.Config.Patterns). nil: none.
	Patterns []generator.Pattern
	// List holds exact target addresses (list mode, see
	// generator.ReadTargetListFile), permuted, deduplicated and blocklisted
	// with the rest (generator.Config.List). nil: none.
	List *generator.TargetList
	// TGA, when not nil, generates the targets from seeds instead of
	// Targets, Patterns and List, which must then be empty: Run probes the
	// first Budget candidates of a generator.TGARun, best first, and feeds
	// every Echo Reply from a probed candidate back to it at once
	// (TGARun.Hit), so that later candidates grow around the hosts found
	// (see "Seed-driven scans" in the package documentation). It cannot be
	// combined with Start (a TGA scan cannot be resumed), a Shard of more
	// than one part, MaxTargets (set Budget) or generator.BackendGPU (the
	// expansion runs on the CPU; generator.BackendAuto means the CPU, and
	// Stats.BackendNote says so). IID, PermSeed and Workers do not apply.
	// The scan's blocklist is passed to the run
	// (generator.TGARunConfig.Blocklist), so a TGA built with another
	// blocklist still never probes blocked space; the candidates it skips
	// there cost no budget and are counted in Stats.Blocked. nil: targets
	// from Targets, Patterns and List.
	TGA *generator.TGA
	// Budget is the number of candidates a TGA scan generates and probes
	// (generator.TGARunConfig.Budget), each Probes times; Stats.Targets
	// reports it. New allocates the run's dedup set, about 40 to 80 bytes
	// per candidate. Required (> 0) with TGA and an error without it. The
	// run ends sooner when the TGA runs out of candidates.
	Budget uint64
	// TGASpawn makes a TGA scan grow new candidate groups around each hit
	// (generator.TGARunConfig.Spawn). Off by default.
	TGASpawn bool
	// Blocklist lists extra prefixes never to probe (opt-out files), on top
	// of the always-applied built-in blocklist.
	Blocklist []netip.Prefix
	// Unblock lifts these prefixes from the built-in blocklist; each must
	// lie entirely inside it (see prefixes.NewBlocklist).
	Unblock []netip.Prefix
	// PermSeed keys the target permutation. 0 draws a random seed, reported
	// in Stats.PermSeed so that the order can be reproduced.
	PermSeed uint64
	// Shard selects the part of the permuted sequence this scanner probes.
	// Zero value: the whole sequence.
	Shard generator.Shard
	// Workers is the number of CPU generator workers. 0: one per physical
	// core.
	Workers int
	// MaxTargets caps the number of sequence positions probed. 0: no cap.
	MaxTargets uint64
	// Start is the shard position to begin at: Stats.Checkpoint of a
	// stopped run with the same targets, IID, patterns, list, blocklist,
	// shard, MaxTargets and PermSeed, so that this run probes exactly the
	// targets that one had not (generator.Config.Start). 0: the beginning.
	Start uint64
	// Backend is where targets are generated: generator.BackendCPU (the
	// zero value: the CPU worker pool), generator.BackendGPU (the GPU
	// worker process; Run fails with an error wrapping generator.ErrNoGPU
	// when it cannot start) or generator.BackendAuto (the GPU when it
	// starts, else the CPU with the reason in Stats.BackendNote). Both
	// backends produce the same targets in the same order.
	Backend generator.Backend
	// GPU configures the GPU backend (worker path, device, frame size);
	// ignored by BackendCPU. Zero value: the defaults of
	// generator.GPUConfig.
	GPU generator.GPUConfig
	// BatchSize is the number of targets per batch. 0: the generator's
	// default (1024); for a TGA scan, Budget/512 between 32 and 1024, so
	// that the run stays close behind the probes and its feedback reaches
	// the candidates it has not generated yet.
	BatchSize int
	// QueueDepth is the capacity, in batches, of the queue between the
	// generator and the sender. 0: DefaultQueueDepth; 1 for a TGA scan
	// (see BatchSize).
	QueueDepth int

	// Rate is the probe rate in probes/s. 0: DefaultRate; RateUnlimited
	// (or any negative value): as fast as the send path goes. Bandwidth,
	// when set, takes precedence. Change it during a run with
	// Scanner.SetRate.
	Rate float64
	// Bandwidth, when > 0, sets the rate from a bandwidth in bits/s
	// instead of Rate: Bandwidth / icmp.SenderConfig.WireBits probes/s, the
	// bits of one frame on an Ethernet wire including its 24 bytes of
	// preamble, FCS and gap (as ZMap's and XMap's -B). 0: use Rate.
	Bandwidth float64
	// Probes is the number of probes sent to each target, 1 to MaxProbes:
	// each batch of targets is sent Probes times in a row, so the copies
	// to one target are one batch's send time apart. Replies are
	// deduplicated; Stats.Duplicate counts the extra ones. 0: 1.
	Probes int
	// MaxRuntime caps the send phase: no probe is sent after Start +
	// MaxRuntime; the cooldown follows as usual. 0: no cap.
	MaxRuntime time.Duration
	// MaxResults stops the run, without error, once this many hits have
	// been reported; no later hit is reported. 0: no cap.
	MaxResults uint64
	// SendPath chooses how probes are sent: SendPathAuto (the zero value),
	// SendPathPacket or SendPathRaw.
	SendPath SendPath
	// GatewayMAC, for the packet send path, is the link-layer address of
	// the next hop. nil: the kernel's neighbour table entry for the route's
	// gateway (the kernel is asked to resolve it when missing).
	GatewayMAC net.HardwareAddr
	// RingBytes is the size of the capture ring in bytes (see
	// sniffer.Config.RingBytes). 0: sniffer.DefaultRingBytes (32 MiB).
	RingBytes int
	// Interface is the network interface to send and capture on. Empty: the
	// interface that holds the source address.
	Interface string
	// SourceIP is the probes' source address. Zero value: the address the
	// kernel's routing table picks for the first target (found without
	// sending anything).
	SourceIP netip.Addr
	// HopLimit is the probes' IPv6 hop limit. 0: 64.
	HopLimit int
	// Cooldown is how long the sniffer keeps listening after the last probe.
	// 0: DefaultCooldown; NoCooldown (or any negative value): none.
	Cooldown time.Duration
	// Key is the MAC key that validates replies. Zero value: a random key
	// per run. Give several scanners the same key to validate each other's
	// replies.
	Key icmp.Key
	// ScanID identifies this run in every probe. 0: random.
	ScanID uint64

	// DryRun, when not nil, sends nothing and opens no socket: every probe
	// is written to DryRun as a pcap file (raw IPv6 link type, real
	// checksums) instead, as fast as they are generated (Rate does not
	// apply). SourceIP (or a route to the first target) is still needed for
	// the probes' source address.
	DryRun io.Writer

	// OnHit, when not nil, receives every validated, deduplicated hit. It
	// is called from one goroutine at a time, in capture order; a slow
	// handler delays capture (the kernel ring absorbs bursts and counts
	// drops). With AliasCheck, hits come after the alias test, from the
	// goroutine that called Run.
	OnHit func(Hit)

	// Aliased lists known aliased prefixes (see prefixes.ParseAliasList):
	// a hit whose target lies inside one is reported with Hit.Aliased set
	// and counted in Stats.AliasedHits, apart from real hosts. They are
	// still probed, except by a TGA scan, whose run generates nothing
	// inside them (generator.TGARun.Exclude) and is not fed their hits.
	// nil: none.
	Aliased []netip.Prefix
	// AliasCheck, when > 0, turns on the online alias test: every /64 with
	// at least AliasCheck Echo Replies (DefaultAliasThreshold is a good
	// value) gets the IPv6 Hitlist's 16-probe test (see DetectAliases)
	// once the scan's send phase and cooldown are over, and its Echo
	// Replies are reported with Hit.Aliased set when all 16 answered. To
	// mark them all, hits are held back, in memory (about 100 bytes each),
	// and reported after the test, in capture order; hits inside
	// Config.Aliased are not held. A stopped or failed scan reports its
	// held hits unmarked, untested. The test runs after the send phase,
	// so a TGA scan has fed the hits of an aliased /64 back already
	// (Config.TGA). 0: off.
	AliasCheck int

	// Beacon, when not nil, puts this instance's signed card in every probe
	// and turns on peer recognition: other instances' cards, in the Echo
	// Requests they send us, are checked and reported to OnPeer, and a new
	// peer that probed us is answered once with our card. nil: plain
	// version 1 probes, no peers.
	Beacon *Beacon
	// OnPeer, when not nil, receives every new verified peer (needs
	// Beacon). It is called from the capture goroutine, like OnHit, so it
	// must not block for long: hand slow work (webhooks, dialing) to
	// another goroutine, as Webhook does.
	OnPeer func(Peer)
}

// Validate reports whether c is usable. New calls it.
func (c *Config) Validate() error {
	if err := c.validateTGA(); err != nil {
		return err
	}
	if c.TGA == nil && len(c.Targets) == 0 && len(c.Patterns) == 0 && c.List.Len() == 0 {
		return ErrNoTargets
	}
	for _, w := range c.Targets {
		if err := w.Validate(); err != nil {
			return fmt.Errorf("widescan: target %s: %w", w, err)
		}
	}
	if c.Shard.Count != 0 && c.Shard.Index >= c.Shard.Count {
		return fmt.Errorf("widescan: shard %d out of range 0..%d", c.Shard.Index, c.Shard.Count-1)
	}
	if c.Workers < 0 {
		return fmt.Errorf("widescan: negative worker count %d", c.Workers)
	}
	switch c.Backend {
	case generator.BackendCPU, generator.BackendGPU, generator.BackendAuto:
	default:
		return fmt.Errorf("widescan: unknown backend %s", c.Backend)
	}
	if c.BatchSize < 0 || c.QueueDepth < 0 {
		return errors.New("widescan: negative batch size or queue depth")
	}
	if c.HopLimit < 0 || c.HopLimit > 255 {
		return fmt.Errorf("widescan: hop limit %d outside 0..255", c.HopLimit)
	}
	if c.SourceIP.IsValid() && (!c.SourceIP.Is6() || c.SourceIP.Is4In6()) {
		return fmt.Errorf("widescan: source %s is not an IPv6 address", c.SourceIP)
	}
	if c.Beacon != nil {
		if err := c.Beacon.Validate(); err != nil {
			return err
		}
	}
	if c.Probes < 0 || c.Probes > MaxProbes {
		return fmt.Errorf("widescan: %d probes per target, want 1 to %d", c.Probes, MaxProbes)
	}
	if c.Bandwidth < 0 || c.MaxRuntime < 0 || c.RingBytes < 0 {
		return errors.New("widescan: negative bandwidth, maximum runtime or ring size")
	}
	if c.SendPath > SendPathRaw {
		return fmt.Errorf("widescan: unknown send path %d", c.SendPath)
	}
	if c.GatewayMAC != nil && len(c.GatewayMAC) != 6 {
		return fmt.Errorf("widescan: gateway MAC %v: want a 6-byte Ethernet address", c.GatewayMAC)
	}
	if c.AliasCheck < 0 {
		return fmt.Errorf("widescan: negative alias-check threshold %d", c.AliasCheck)
	}
	for _, p := range c.Aliased {
		if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() {
			return fmt.Errorf("widescan: aliased prefix %s is not an IPv6 prefix", p)
		}
	}
	if c.OnPeer != nil && c.Beacon == nil {
		return errors.New("widescan: OnPeer needs a Beacon")
	}
	return nil
}

// validateTGA checks the fields that a TGA scan needs or excludes.
func (c *Config) validateTGA() error {
	if c.TGA == nil {
		if c.Budget != 0 {
			return errors.New("widescan: Budget is the candidate count of a TGA scan: set TGA, or use MaxTargets")
		}
		return nil
	}
	switch {
	case c.Budget == 0:
		return errors.New("widescan: a TGA scan needs a Budget > 0 (the candidates to probe)")
	case c.Budget > math.MaxInt:
		return fmt.Errorf("widescan: TGA budget %d too large", c.Budget)
	case len(c.Targets) > 0 || len(c.Patterns) > 0 || c.List.Len() > 0:
		return errors.New("widescan: TGA generates the targets: leave Targets, Patterns and List empty")
	case c.Start > 0:
		return errors.New("widescan: a TGA scan cannot be resumed (Start must be 0)")
	case c.Shard.Count > 1:
		return errors.New("widescan: a TGA scan cannot be sharded (Shard.Count must be 0 or 1)")
	case c.MaxTargets > 0:
		return errors.New("widescan: a TGA scan probes Budget candidates: leave MaxTargets 0")
	case c.Backend == generator.BackendGPU:
		return errors.New("widescan: TGA expansion runs on the CPU: use generator.BackendCPU or BackendAuto")
	}
	return nil
}

// MaxProbes is the largest Config.Probes.
const MaxProbes = 64

// SendPath is how probes leave the host.
type SendPath int

const (
	// SendPathAuto is SendPathPacket on Linux when the interface has an
	// Ethernet header and the next hop's link-layer address is known (or
	// given in Config.GatewayMAC); SendPathRaw otherwise, with the reason
	// in Stats.SendPathNote.
	SendPathAuto SendPath = iota
	// SendPathPacket writes complete Ethernet frames through AF_PACKET
	// (icmp.PacketSender). Errors when that is impossible: no Ethernet
	// header, not Linux, or no gateway MAC (icmp.ErrNoGatewayMAC).
	SendPathPacket
	// SendPathRaw writes ICMPv6 messages through a raw ICMPv6 socket
	// (icmp.Sender): portable, and the path for interfaces without a
	// link-layer header (tun, VPNs).
	SendPathRaw
)

// String returns "auto", "packet" or "raw".
func (p SendPath) String() string {
	switch p {
	case SendPathAuto:
		return "auto"
	case SendPathPacket:
		return "packet"
	case SendPathRaw:
		return "raw"
	}
	return fmt.Sprintf("SendPath(%d)", int(p))
}

// ParseSendPath parses "auto", "packet" or "raw".
func ParseSendPath(s string) (SendPath, error) {
	for _, p := range []SendPath{SendPathAuto, SendPathPacket, SendPathRaw} {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("widescan: send path %q: want auto, packet or raw", s)
}

func (c *Config) probes() int { return max(1, c.Probes) }

// rateFor returns the pacer rate (0: unlimited) for probes of wireBits bits.
func (c *Config) rateFor(wireBits int) float64 {
	if c.DryRun == nil && c.Bandwidth > 0 {
		return c.Bandwidth / float64(wireBits)
	}
	return c.rate()
}

func (c *Config) rate() float64 {
	switch {
	case c.DryRun != nil:
		return 0 // nothing goes on the wire: no pacing
	case c.Rate == 0:
		return DefaultRate
	case c.Rate < 0:
		return 0 // the pacer's "unlimited"
	}
	return c.Rate
}

func (c *Config) cooldown() time.Duration {
	switch {
	case c.Cooldown == 0:
		return DefaultCooldown
	case c.Cooldown < 0:
		return 0
	}
	return c.Cooldown
}
