package sniffer

import (
	"errors"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/p2pnet/widescan/icmp"
)

// ErrPermission reports that the kernel refused the capture socket (EPERM or
// EACCES): the process needs root or CAP_NET_RAW. It is icmp.ErrPermission,
// so one errors.Is test covers both packages.
var ErrPermission = icmp.ErrPermission

// ErrUnsupported is returned by Open on systems without AF_PACKET (all but
// Linux); Decoder works everywhere.
var ErrUnsupported = errors.New("sniffer: capture needs Linux AF_PACKET")

// DefaultRingBytes is the receive ring size when Config.RingBytes is 0.
const DefaultRingBytes = 32 << 20

// Config configures a Decoder or a Sniffer. The zero value is usable by
// NewDecoder (zero Key, scan 0); Open requires Interface.
type Config struct {
	// Interface is the network interface to capture on, e.g. "eth0".
	// Required by Open; ignored by NewDecoder.
	Interface string
	// Key validates replies; it must be the Key the probes were made with.
	Key icmp.Key
	// ScanID is the scan whose replies are reported; replies to other
	// scans are counted in Stats.Invalid and Stats.OtherScan.
	ScanID uint64
	// RingBytes is the size in bytes of the AF_PACKET receive ring; 0 means
	// DefaultRingBytes (32 MiB). It is rounded down to whole 1 MiB blocks,
	// at least one. Ignored by NewDecoder.
	RingBytes int
}

// Reply is a validated, first-seen Echo Reply to one of our probes.
type Reply struct {
	// Target is the address the probe was sent to (authenticated by the
	// probe's MAC).
	Target netip.Addr
	// Responder is the reply's IPv6 source address. It usually equals
	// Target; it differs when another address answers for it.
	Responder netip.Addr
	// RTT is the capture time minus the probe's Sent time (both wall
	// clock; it can be slightly off, or negative, when the clock steps).
	RTT time.Duration
	// HopLimit is the reply's IPv6 hop limit as received.
	HopLimit uint8
	// Time is when the reply was captured (the kernel's timestamp).
	Time time.Time
}

// Stats counts what the sniffer saw. Received = Valid + Duplicate + Invalid
// + NotProbe; Ignored counts the other frames.
type Stats struct {
	// Received counts ICMPv6 Echo Replies (type 129, code 0) decoded.
	Received uint64
	// Valid counts replies that passed validation for the configured scan
	// and were new: one per Target, the Replies emitted.
	Valid uint64
	// Invalid counts widescan replies that failed validation: bad MAC
	// (forged, another key, another source) or another scan's ScanID.
	Invalid uint64
	// OtherScan counts the part of Invalid whose MAC verified but whose
	// ScanID was not Config.ScanID.
	OtherScan uint64
	// Duplicate counts valid replies for a Target already reported.
	Duplicate uint64
	// NotProbe counts Echo Replies that are not widescan traffic (no
	// magic, wrong length or version): other pings on the link.
	NotProbe uint64
	// Ignored counts frames that are not Echo Replies or do not decode
	// (truncated, garbage, Echo Requests, other ICMPv6 types).
	Ignored uint64
	// KernelDrops counts packets the kernel dropped because the receive
	// ring was full (AF_PACKET statistics). Always 0 for a Decoder.
	KernelDrops uint64
}

// Decoder turns captured Ethernet frames into Replies: decode (gopacket
// DecodingLayerParser: Ethernet, 802.1Q, IPv6, ICMPv6, ICMPv6Echo, no
// allocation), validate (icmp.Key.Check with the IPv6 destination as the
// probe source, then the ScanID), and deduplicate exactly by Target.
//
// Decode must not be called concurrently; Stats is safe for concurrent use
// with Decode. The dedup set grows by one entry (16 bytes plus map overhead,
// about 40 bytes) per distinct valid Target and is never pruned.
type Decoder struct {
	key    icmp.Key
	scanID uint64

	parser  *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	ip6     layers.IPv6
	ic      layers.ICMPv6
	echo    layers.ICMPv6Echo
	payload gopacket.Payload

	seen map[[16]byte]struct{}

	received, valid, invalid, otherScan, duplicate, notProbe, ignored atomic.Uint64
}

// NewDecoder returns a Decoder for cfg's Key and ScanID.
func NewDecoder(cfg Config) *Decoder {
	d := &Decoder{
		key:     cfg.Key,
		scanID:  cfg.ScanID,
		decoded: make([]gopacket.LayerType, 0, 8),
		seen:    make(map[[16]byte]struct{}),
	}
	d.parser = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &d.eth, &d.dot1q, &d.ip6, &d.ic, &d.echo, &d.payload)
	d.parser.IgnoreUnsupported = true
	return d
}

// Decode decodes one Ethernet frame captured at ts. It returns the Reply and
// true when the frame is a valid Echo Reply to this scan whose Target has not
// been seen before; otherwise false. Every frame is counted in Stats. frame is
// not retained. A valid frame costs no allocation, except that inserting a new
// Target into the dedup map allocates when the map grows. Decode never panics
// on malformed input.
func (d *Decoder) Decode(frame []byte, ts time.Time) (Reply, bool) {
	d.decoded = d.decoded[:0]
	if err := d.parser.DecodeLayers(frame, &d.decoded); err != nil {
		d.ignored.Add(1) // we don't trust any bytes after the first error
		return Reply{}, false
	}
	var haveIP, haveEcho bool
	for _, lt := range d.decoded {
		switch lt {
		case layers.LayerTypeIPv6:
			haveIP = true
		case layers.LayerTypeICMPv6Echo:
			haveEcho = true
		}
	}
	if !haveIP || !haveEcho || d.ip6.NextHeader != layers.IPProtocolICMPv6 ||
		d.ic.TypeCode != layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoReply, 0) {
		d.ignored.Add(1)
		return Reply{}, false
	}
	dst, ok1 := netip.AddrFromSlice(d.ip6.DstIP)
	src, ok2 := netip.AddrFromSlice(d.ip6.SrcIP)
	if !ok1 || !ok2 {
		d.ignored.Add(1) // unreachable: gopacket gives 16-byte addresses
		return Reply{}, false
	}
	d.received.Add(1)
	p, err := d.key.Check(d.echo.Identifier, d.echo.SeqNumber, d.echo.Payload, dst)
	switch {
	case errors.Is(err, icmp.ErrNotProbe):
		d.notProbe.Add(1)
		return Reply{}, false
	case err != nil:
		d.invalid.Add(1)
		return Reply{}, false
	case p.ScanID != d.scanID:
		d.invalid.Add(1)
		d.otherScan.Add(1)
		return Reply{}, false
	}
	t := p.Target.As16()
	if _, dup := d.seen[t]; dup {
		d.duplicate.Add(1)
		return Reply{}, false
	}
	d.seen[t] = struct{}{}
	d.valid.Add(1)
	return Reply{
		Target:    p.Target,
		Responder: src,
		RTT:       ts.Sub(p.Sent),
		HopLimit:  d.ip6.HopLimit,
		Time:      ts,
	}, true
}

// Stats returns the counters so far (KernelDrops is 0). It is safe for
// concurrent use with Decode; the fields are read one by one, so a snapshot
// taken during Decode may be off by the frame in flight.
func (d *Decoder) Stats() Stats {
	return Stats{
		Received:  d.received.Load(),
		Valid:     d.valid.Load(),
		Invalid:   d.invalid.Load(),
		OtherScan: d.otherScan.Load(),
		Duplicate: d.duplicate.Load(),
		NotProbe:  d.notProbe.Load(),
		Ignored:   d.ignored.Load(),
	}
}
