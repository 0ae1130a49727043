package sniffer

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/time/rate"

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

	// Peers turns on beacon recognition: beacon cards in inbound Echo
	// Requests are checked and valid new ones reported as Peers. false:
	// Echo Requests are counted in Stats.Ignored.
	Peers bool
	// Network is the swarm whose cards are accepted; others are counted in
	// Stats.WrongNetwork.
	Network icmp.NetworkID
	// Self is our own ed25519 public key: a card with it (our own beacon
	// reflected to us) is counted in Stats.Self, never reported. Zero: none.
	Self [ed25519.PublicKeySize]byte
	// Trust is the trust policy; nil trusts any validly signed card
	// (trustless).
	Trust TrustFunc
	// VerifyRate caps the ed25519 signature checks, in checks per second
	// of capture time (burst: one second's worth), so that a flood of
	// forged cards cannot starve the capture of CPU (a check costs about
	// 50 µs). Cards over the cap are counted in Stats.VerifyLimited and
	// dropped. 0 means DefaultVerifyRate; negative: no cap.
	VerifyRate float64
}

// DefaultVerifyRate is Config.VerifyRate when 0: 2,000 signature checks/s,
// about a tenth of one core.
const DefaultVerifyRate = 2000

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
	// Type and Code are the ICMPv6 type and code (RFC 4443): 129/0 for an
	// Echo Reply; 1 (Destination Unreachable), 2 (Packet Too Big), 3 (Time
	// Exceeded) or 4 (Parameter Problem) for an error validated through the
	// probe it quotes, whose Responder is the router that sent it.
	Type, Code uint8
	// Info is the 32-bit field after an error's checksum: the MTU of a
	// Packet Too Big, the pointer of a Parameter Problem; 0 otherwise.
	Info uint32
}

// Stats counts what the sniffer saw. Every frame is counted once in
// Received, Beacons or Ignored. Received = Valid + Duplicate + Invalid +
// NotProbe + AnswerEchoes; Beacons = Peers + PeerDuplicate + Malformed +
// Forged + Expired + WrongNetwork + Replayed + Self + Untrusted +
// VerifyLimited.
type Stats struct {
	// Received counts ICMPv6 Echo Replies (type 129, code 0) and ICMPv6
	// errors (types 1 to 4) decoded.
	Received uint64
	// Errors counts the part of Received that are ICMPv6 errors;
	// ErrorsValid the part of Valid.
	Errors      uint64
	ErrorsValid uint64
	// AnswerEchoes counts Echo Replies to our answers (icmp.FlagAnswer):
	// valid widescan traffic that is not a hit.
	AnswerEchoes uint64

	// Beacons counts inbound Echo Requests that carry a beacon card (only
	// with Config.Peers).
	Beacons uint64
	// Peers counts the new valid peers reported: one per (public key,
	// address).
	Peers uint64
	// PeerDuplicate counts valid cards of a peer already reported.
	PeerDuplicate uint64
	// Malformed counts cards that do not parse (icmp.ErrMalformedCard).
	Malformed uint64
	// Forged counts cards whose signature does not verify.
	Forged uint64
	// Expired counts cards past their expiry at capture time.
	Expired uint64
	// WrongNetwork counts cards of another network (swarm).
	WrongNetwork uint64
	// Replayed counts cards sent from an address other than their own.
	Replayed uint64
	// Self counts our own card reflected back to us.
	Self uint64
	// Untrusted counts valid cards the trust policy refused.
	Untrusted uint64
	// VerifyLimited counts cards dropped unchecked because signature
	// checks were over Config.VerifyRate.
	VerifyLimited uint64

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
	// magic, wrong length or version): other pings on the link; and ICMPv6
	// errors whose quoted packet is not one of our Echo Requests (another
	// protocol, truncated, extension headers).
	NotProbe uint64
	// Ignored counts frames that are not Echo Replies or beacons, or do not
	// decode (truncated, garbage, plain Echo Requests, other ICMPv6 types).
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
// With Config.Peers it also checks the beacon cards of inbound Echo
// Requests (see DecodeEvent).
//
// Decode must not be called concurrently; Stats is safe for concurrent use
// with Decode. The dedup set grows by one entry (16 bytes plus map overhead,
// about 40 bytes) per distinct valid Target and is never pruned; the peer
// set by about 150 bytes per distinct (key, address) with a valid card.
type Decoder struct {
	key    icmp.Key
	scanID uint64
	cfg    Config
	peers  map[peerKey][ed25519.SignatureSize]byte // the verified signature
	verify *rate.Limiter                           // nil: no cap

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
	errors, errorsValid                                               atomic.Uint64

	answerEchoes, beacons, nPeers, peerDup, malformed, forged, expired, wrongNet, replayed, self, untrusted, verifyLimited atomic.Uint64
}

type peerKey struct {
	pub  [ed25519.PublicKeySize]byte
	addr [16]byte
}

// NewDecoder returns a Decoder for cfg's Key and ScanID.
func NewDecoder(cfg Config) *Decoder {
	d := &Decoder{
		key:     cfg.Key,
		scanID:  cfg.ScanID,
		cfg:     cfg,
		peers:   make(map[peerKey][ed25519.SignatureSize]byte),
		decoded: make([]gopacket.LayerType, 0, 8),
		seen:    make(map[[16]byte]struct{}),
	}
	switch vr := cfg.VerifyRate; {
	case vr == 0:
		d.verify = rate.NewLimiter(DefaultVerifyRate, DefaultVerifyRate)
	case vr > 0:
		d.verify = rate.NewLimiter(rate.Limit(vr), max(1, int(vr)))
	}
	d.parser = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &d.eth, &d.dot1q, &d.ip6, &d.ic, &d.echo, &d.payload)
	d.parser.IgnoreUnsupported = true
	return d
}

// Decode decodes one Ethernet frame captured at ts. It returns the Reply and
// true when the frame is a valid Echo Reply to this scan whose Target has not
// been seen before; otherwise false (a Peer the frame may carry is counted
// but dropped: use DecodeEvent for peers). Every frame is counted in Stats.
// frame is not retained. A valid frame costs no allocation, except that
// inserting a new Target into the dedup map allocates when the map grows.
// Decode never panics on malformed input.
func (d *Decoder) Decode(frame []byte, ts time.Time) (Reply, bool) {
	ev := d.DecodeEvent(frame, ts)
	return ev.Reply, ev.Kind == EventReply
}

// DecodeEvent decodes one Ethernet frame captured at ts, as Decode does, and
// also reports peers: with Config.Peers, an inbound Echo Request whose
// payload carries a beacon card (icmp.FlagBeacon) is checked in this order
// and counted in Stats by the first check it fails: the card parses
// (Malformed); its network is Config.Network (WrongNetwork); it has not
// expired at ts (Expired); its address is the packet's source (Replayed);
// signature checks are within Config.VerifyRate (VerifyLimited); its
// signature verifies (Forged); its key is not Config.Self (Self); the
// trust policy accepts it (Untrusted). A card that passes is reported once
// per (public key, address) as EventPeer; later cards of that pair are
// PeerDuplicate, and skip the signature check when their signature is the
// one already verified. The probe MAC of a beacon is not checked: it was
// made with the other instance's key.
//
// An Echo Reply never yields a peer: its card is our own, echoed back.
// Replies to our answers (icmp.FlagAnswer) are counted in AnswerEchoes and
// are not hits. Reporting a new peer allocates its PublicKey.
func (d *Decoder) DecodeEvent(frame []byte, ts time.Time) Event {
	d.decoded = d.decoded[:0]
	if err := d.parser.DecodeLayers(frame, &d.decoded); err != nil {
		d.ignored.Add(1) // we don't trust any bytes after the first error
		return Event{}
	}
	var haveIP, haveICMP, haveEcho bool
	for _, lt := range d.decoded {
		switch lt {
		case layers.LayerTypeIPv6:
			haveIP = true
		case layers.LayerTypeICMPv6:
			haveICMP = true
		case layers.LayerTypeICMPv6Echo:
			haveEcho = true
		}
	}
	if !haveIP || !haveICMP || d.ip6.NextHeader != layers.IPProtocolICMPv6 {
		d.ignored.Add(1)
		return Event{}
	}
	dst, ok1 := netip.AddrFromSlice(d.ip6.DstIP)
	src, ok2 := netip.AddrFromSlice(d.ip6.SrcIP)
	if !ok1 || !ok2 {
		d.ignored.Add(1) // unreachable: gopacket gives 16-byte addresses
		return Event{}
	}
	if t := d.ic.TypeCode.Type(); t >= layers.ICMPv6TypeDestinationUnreachable && t <= layers.ICMPv6TypeParameterProblem {
		return d.icmpError(src, dst, ts)
	}
	if !haveEcho {
		d.ignored.Add(1)
		return Event{}
	}
	switch d.ic.TypeCode {
	case layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoReply, 0):
		return d.reply(src, dst, ts)
	case layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0):
		if d.cfg.Peers {
			if flags, card, err := icmp.SplitPayload(d.echo.Payload); err == nil && card != nil {
				d.beacons.Add(1)
				return d.beacon(flags, card, src, ts)
			}
		}
	}
	d.ignored.Add(1)
	return Event{}
}

func (d *Decoder) reply(src, dst netip.Addr, ts time.Time) Event {
	d.received.Add(1)
	p, err := d.key.Check(d.echo.Identifier, d.echo.SeqNumber, d.echo.Payload, dst)
	return d.accept(p, err, d.echo.Payload, src, ts, Reply{Type: icmp.TypeEchoReply})
}

// Offsets in an ICMPv6 error message (RFC 4443 §3): the 4-byte header, the
// 4-byte field (unused, MTU or pointer), then as much of the invoking packet
// as fits: its IPv6 header and our Echo Request.
const (
	errInner     = 8
	errInnerEcho = errInner + 40
	errMinLen    = errInnerEcho + 8 + icmp.PayloadLen
)

// icmpError validates an ICMPv6 error through the packet it quotes: an IPv6
// header with next header ICMPv6, then an Echo Request whose identifier,
// sequence number and payload carry a MAC that verifies for the quoted
// source, and whose quoted destination is the probe's target. The outer
// destination is not checked: the MAC covers the source the probe was sent
// from.
func (d *Decoder) icmpError(src, _ netip.Addr, ts time.Time) Event {
	d.received.Add(1)
	d.errors.Add(1)
	// d.ic.Contents is the 4-byte header; its payload is the rest of the
	// message, whatever the parser made of it.
	body := d.ic.LayerPayload()
	if len(body)+4 < errMinLen {
		d.notProbe.Add(1)
		return Event{}
	}
	msg := body[:len(body):len(body)]
	info := binary.BigEndian.Uint32(msg[0:4])
	in := msg[errInner-4:]
	if in[0]>>4 != 6 || in[6] != 58 {
		d.notProbe.Add(1) // not IPv6, or extension headers: not our probe
		return Event{}
	}
	echo := in[40:]
	if plen := int(binary.BigEndian.Uint16(in[4:6])); plen < len(echo) {
		echo = echo[:plen] // trailing bytes after the quoted packet
	}
	if len(echo) < 8+icmp.PayloadLen || echo[0] != icmp.TypeEchoRequest || echo[1] != 0 {
		d.notProbe.Add(1)
		return Event{}
	}
	innerSrc := netip.AddrFrom16([16]byte(in[8:24]))
	innerDst := netip.AddrFrom16([16]byte(in[24:40]))
	payload := echo[8:]
	p, err := d.key.Check(binary.BigEndian.Uint16(echo[4:6]), binary.BigEndian.Uint16(echo[6:8]), payload, innerSrc)
	if err == nil && p.Target != innerDst {
		err = icmp.ErrBadMAC // a valid probe quoted with another destination
	}
	tc := d.ic.TypeCode
	return d.accept(p, err, payload, src, ts, Reply{Type: tc.Type(), Code: tc.Code(), Info: info})
}

// accept finishes validation of a checked probe p (err from Check on
// payload), dedups it and returns the Reply event built on r.
func (d *Decoder) accept(p icmp.Probe, err error, payload []byte, src netip.Addr, ts time.Time, r Reply) Event {
	switch {
	case errors.Is(err, icmp.ErrNotProbe):
		d.notProbe.Add(1)
		return Event{}
	case err != nil:
		d.invalid.Add(1)
		return Event{}
	case p.ScanID != d.scanID:
		d.invalid.Add(1)
		d.otherScan.Add(1)
		return Event{}
	}
	if payload[5]&icmp.FlagAnswer != 0 { // Check passed: payload is long enough
		d.answerEchoes.Add(1) // our answer to a beacon came back: not a hit
		return Event{}
	}
	t := p.Target.As16()
	if _, dup := d.seen[t]; dup {
		d.duplicate.Add(1)
		return Event{}
	}
	d.seen[t] = struct{}{}
	d.valid.Add(1)
	if r.Type != icmp.TypeEchoReply {
		d.errorsValid.Add(1)
	}
	r.Target, r.Responder, r.RTT, r.HopLimit, r.Time = p.Target, src, ts.Sub(p.Sent), d.ip6.HopLimit, ts
	return Event{Kind: EventReply, Reply: r}
}

func (d *Decoder) beacon(flags uint8, b []byte, src netip.Addr, ts time.Time) Event {
	c, err := icmp.ParseCard(b)
	switch {
	case err != nil:
		d.malformed.Add(1)
		return Event{}
	case c.Network != d.cfg.Network:
		d.wrongNet.Add(1)
		return Event{}
	case !ts.Before(c.Expiry):
		d.expired.Add(1)
		return Event{}
	case c.Addr != src:
		d.replayed.Add(1)
		return Event{}
	}
	k := peerKey{pub: c.PublicKey, addr: src.As16()}
	if sig, ok := d.peers[k]; ok && sig == c.Signature {
		d.peerDup.Add(1) // this very card verified before
		return Event{}
	}
	if d.verify != nil && !d.verify.AllowN(ts, 1) {
		d.verifyLimited.Add(1)
		return Event{}
	}
	if c.Verify() != nil {
		d.forged.Add(1)
		return Event{}
	}
	if c.PublicKey == d.cfg.Self && d.cfg.Self != ([ed25519.PublicKeySize]byte{}) {
		d.self.Add(1)
		return Event{}
	}
	if d.cfg.Trust != nil && d.cfg.Trust(&c) != nil {
		d.untrusted.Add(1)
		return Event{}
	}
	if _, ok := d.peers[k]; ok {
		d.peers[k] = c.Signature // a renewed card of a known peer
		d.peerDup.Add(1)
		return Event{}
	}
	d.peers[k] = c.Signature
	d.nPeers.Add(1)
	via := ViaProbe
	if flags&icmp.FlagAnswer != 0 {
		via = ViaAnswer
	}
	return Event{Kind: EventPeer, Peer: Peer{
		Addr:      src,
		PublicKey: ed25519.PublicKey(append([]byte(nil), c.PublicKey[:]...)),
		NetworkID: c.Network,
		Port:      c.Port,
		Expiry:    c.Expiry,
		FirstSeen: ts,
		Via:       via,
	}}
}

// Stats returns the counters so far (KernelDrops is 0). It is safe for
// concurrent use with Decode; the fields are read one by one, so a snapshot
// taken during Decode may be off by the frame in flight.
func (d *Decoder) Stats() Stats {
	return Stats{
		Received:    d.received.Load(),
		Errors:      d.errors.Load(),
		ErrorsValid: d.errorsValid.Load(),
		Valid:       d.valid.Load(),
		Invalid:     d.invalid.Load(),
		OtherScan:   d.otherScan.Load(),
		Duplicate:   d.duplicate.Load(),
		NotProbe:    d.notProbe.Load(),
		Ignored:     d.ignored.Load(),

		AnswerEchoes:  d.answerEchoes.Load(),
		Beacons:       d.beacons.Load(),
		Peers:         d.nPeers.Load(),
		PeerDuplicate: d.peerDup.Load(),
		Malformed:     d.malformed.Load(),
		Forged:        d.forged.Load(),
		Expired:       d.expired.Load(),
		WrongNetwork:  d.wrongNet.Load(),
		Replayed:      d.replayed.Load(),
		Self:          d.self.Load(),
		Untrusted:     d.untrusted.Load(),
		VerifyLimited: d.verifyLimited.Load(),
	}
}
