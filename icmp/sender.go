package icmp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv6"
)

// DefaultHopLimit is the hop limit of probes when SenderConfig.HopLimit is 0.
const DefaultHopLimit = 64

// sendBatch is how many probes one sendmmsg(2) call carries.
const sendBatch = 64

// Transient send errors (ENOBUFS, ENOMEM, EAGAIN) are retried this many
// times, sleeping retryBase, 2·retryBase, … in between, before the probe is
// counted in SenderStats.Errors.
const (
	sendRetries = 4
	retryBase   = 50 * time.Microsecond
)

// SenderConfig configures a Sender or a PcapWriter. The zero value is not
// usable: Interface (Sender only) and Source are required.
type SenderConfig struct {
	// Interface is the name of the network interface probes leave through,
	// e.g. "eth0". Required by NewSender; ignored by NewPcapWriter.
	Interface string
	// Source is the IPv6 address probes are sent from. It must be assigned
	// to this host for NewSender. Required. Replies are validated against it.
	Source netip.Addr
	// HopLimit is the IPv6 hop limit of probes, 1 to 255; 0 means
	// DefaultHopLimit (64).
	HopLimit int
	// Key authenticates probes; see Key. The zero Key works but is public.
	Key Key
	// ScanID is written into every probe and returned by Key.Check.
	ScanID uint64
	// Card, when not nil, is an encoded beacon card (AppendCard: CardLen
	// or EndorsedCardLen bytes) carried by every probe (FlagBeacon). nil:
	// plain version 1 probes. It is not copied: do not modify it while the
	// writer is in use.
	Card []byte
	// Answer sets FlagAnswer on every probe: the writer sends answers to
	// other instances' beacons, which are never answered in turn. It needs
	// Card.
	Answer bool
}

// msgLen is the length of one encoded probe.
func (c SenderConfig) msgLen() int { return EchoLen + len(c.Card) }

// encode writes the probe p for c into b[:0] and returns it.
func (c SenderConfig) encode(b []byte, p Probe) []byte {
	if c.Card == nil {
		return AppendEchoRequest(b, c.Key, p)
	}
	var flags uint8
	if c.Answer {
		flags = FlagAnswer
	}
	return AppendBeaconRequest(b, c.Key, p, flags, c.Card)
}

// Validate reports whether c is usable by NewPcapWriter. NewSender also
// requires Interface.
func (c SenderConfig) Validate() error {
	if !c.Source.Is6() || c.Source.Is4In6() || c.Source.IsUnspecified() {
		return fmt.Errorf("icmp: source %v: not a unicast IPv6 address", c.Source)
	}
	if c.HopLimit < 0 || c.HopLimit > 255 {
		return fmt.Errorf("icmp: hop limit %d: want 0 (default %d) to 255", c.HopLimit, DefaultHopLimit)
	}
	if c.Card != nil {
		if _, err := ParseCard(c.Card); err != nil {
			return fmt.Errorf("icmp: beacon card: %w", err)
		}
	}
	if c.Answer && c.Card == nil {
		return errors.New("icmp: an answer needs a beacon card")
	}
	return nil
}

func (c SenderConfig) hopLimit() int {
	if c.HopLimit == 0 {
		return DefaultHopLimit
	}
	return c.HopLimit
}

// SenderStats counts probes. Sent + Errors is the number of targets handed to
// Send (up to cancellation).
type SenderStats struct {
	// Sent is the number of probes the kernel accepted (or, for a
	// PcapWriter, that were written).
	Sent uint64
	// Errors is the number of probes that could not be sent after retries
	// (ENOBUFS, EHOSTUNREACH, EPERM from a firewall, …).
	Errors uint64
}

// ProbeWriter sends probes: a Sender puts them on the wire, a PcapWriter
// writes them to a capture file.
type ProbeWriter interface {
	// Send encodes and sends one probe to each target (16-byte IPv6
	// addresses) and returns how many were sent.
	Send(ctx context.Context, targets [][16]byte) (int, error)
	// Stats returns the counters so far; safe for concurrent use.
	Stats() SenderStats
	// Close releases the writer's resources.
	Close() error
}

var (
	_ ProbeWriter = (*Sender)(nil)
	_ ProbeWriter = (*PcapWriter)(nil)
)

// Sender sends probes through a raw ICMPv6 socket (RFC 3542). The kernel
// computes the ICMPv6 checksum and builds the IPv6 header. The socket's
// ICMPv6 filter blocks all input: replies are read by package sniffer.
//
// Send calls are serialised by an internal lock; Stats and Close are safe for
// concurrent use with Send. For parallel sending, open several Senders.
type Sender struct {
	cfg  SenderConfig
	conn *ipv6.PacketConn

	mu    sync.Mutex // guards the send buffers below
	msgs  []ipv6.Message
	addrs []net.IPAddr
	buf   []byte // sendBatch × cfg.msgLen() encoded probes
	ips   []byte // sendBatch × 16 destination addresses

	sent, errs atomic.Uint64
	closeOnce  sync.Once
	closeErr   error
}

// NewSender opens a raw ICMPv6 socket bound to cfg.Source, sets its hop limit,
// blocks all its input with an ICMPv6 filter, and forces probes out through
// cfg.Interface (an IPV6_PKTINFO control message with the interface index on
// every packet). All namespace-dependent work (interface lookup, socket) is
// done before it returns, so it may be called from an OS thread switched into
// another network namespace.
//
// Errors: an invalid cfg; an unknown interface; ErrPermission (wrapped, with
// the kernel's error) without root or CAP_NET_RAW; EADDRNOTAVAIL when Source
// is not assigned to this host.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Interface == "" {
		return nil, errors.New("icmp: sender: interface required")
	}
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("icmp: interface %q: %w", cfg.Interface, err)
	}
	// Equivalent to x/net/icmp.ListenPacket("ip6:ipv6-icmp", source), which
	// calls net.ListenPacket; we keep the *net.IPConn for the ipv6 wrapper.
	c, err := net.ListenPacket("ip6:ipv6-icmp", cfg.Source.String())
	if err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("%w: open raw socket: %w", ErrPermission, err)
		}
		return nil, fmt.Errorf("icmp: open raw socket on %v: %w", cfg.Source, err)
	}
	p := ipv6.NewPacketConn(c)
	var f ipv6.ICMPFilter
	f.SetAll(true) // block every type: this socket is never read
	if err := p.SetICMPFilter(&f); err != nil {
		c.Close()
		return nil, fmt.Errorf("icmp: set ICMPv6 filter: %w", err)
	}
	if err := p.SetHopLimit(cfg.hopLimit()); err != nil {
		c.Close()
		return nil, fmt.Errorf("icmp: set hop limit: %w", err)
	}
	oob := (&ipv6.ControlMessage{IfIndex: ifi.Index}).Marshal()
	ml := cfg.msgLen()
	s := &Sender{
		cfg:   cfg,
		conn:  p,
		msgs:  make([]ipv6.Message, sendBatch),
		addrs: make([]net.IPAddr, sendBatch),
		buf:   make([]byte, sendBatch*ml),
		ips:   make([]byte, sendBatch*16),
	}
	for i := range s.msgs {
		s.addrs[i].IP = net.IP(s.ips[i*16 : (i+1)*16 : (i+1)*16])
		s.msgs[i] = ipv6.Message{
			Buffers: [][]byte{s.buf[i*ml : (i+1)*ml : (i+1)*ml]},
			OOB:     oob,
			Addr:    &s.addrs[i],
		}
	}
	return s, nil
}

// Send encodes one probe per target (Sent = time.Now, taken once per batch of
// up to 64 probes) and writes them with sendmmsg(2). It returns the number of
// probes the kernel accepted. Per-probe failures are counted in
// Stats().Errors, not returned: ENOBUFS, ENOMEM and EAGAIN are retried a few
// times with a short backoff first. It returns early with ctx.Err() when ctx
// is done, and with an error wrapping net.ErrClosed after Close.
func (s *Sender) Send(ctx context.Context, targets [][16]byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0
	for len(targets) > 0 {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		k := min(len(targets), sendBatch)
		pr := Probe{ScanID: s.cfg.ScanID, Sent: time.Now(), Source: s.cfg.Source}
		ml := s.cfg.msgLen()
		for i := range k {
			pr.Target = netip.AddrFrom16(targets[i])
			s.cfg.encode(s.buf[i*ml:i*ml], pr)
			copy(s.ips[i*16:], targets[i][:])
		}
		n, err := s.writeBatch(s.msgs[:k])
		total += n
		if err != nil {
			return total, err
		}
		targets = targets[k:]
	}
	return total, nil
}

// SetCard replaces the beacon card that the probes carry, for a card
// renewed before it expires. card must have the length of the current one
// (a Sender made without a card cannot take one). Safe for concurrent use
// with Send; card is copied.
func (s *Sender) SetCard(card []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.replaceCard(card)
}

// replaceCard checks card (a valid card of the current card's length) and
// puts a copy of it in place of c.Card.
func (c *SenderConfig) replaceCard(card []byte) error {
	if c.Card == nil || len(card) != len(c.Card) {
		return fmt.Errorf("icmp: set card: %d bytes, want %d", len(card), len(c.Card))
	}
	if _, err := ParseCard(card); err != nil {
		return fmt.Errorf("icmp: set card: %w", err)
	}
	c.Card = append([]byte(nil), card...)
	return nil
}

// writeBatch writes ms, retrying transient errors and skipping (and
// counting) probes that fail. It returns the number sent and a fatal error.
func (s *Sender) writeBatch(ms []ipv6.Message) (int, error) {
	sent, retries := 0, 0
	for len(ms) > 0 {
		n, err := s.conn.WriteBatch(ms, 0)
		if n > 0 {
			sent += n
			s.sent.Add(uint64(n))
			ms = ms[n:]
			retries = 0
		}
		if err == nil {
			if n == 0 { // no progress and no error: do not spin
				s.errs.Add(uint64(len(ms)))
				return sent, nil
			}
			continue
		}
		switch {
		case errors.Is(err, net.ErrClosed):
			return sent, fmt.Errorf("icmp: send: %w", err)
		case transient(err) && retries < sendRetries:
			time.Sleep(retryBase << retries)
			retries++
		default:
			s.errs.Add(1) // the first message of ms failed: skip it
			ms = ms[1:]
			retries = 0
		}
	}
	return sent, nil
}

func transient(err error) bool {
	return errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.EAGAIN)
}

// Stats returns the counters so far. It is safe for concurrent use.
func (s *Sender) Stats() SenderStats {
	return SenderStats{Sent: s.sent.Load(), Errors: s.errs.Load()}
}

// Close closes the socket. A Send in progress returns an error wrapping
// net.ErrClosed. Close is safe for concurrent use; later calls return the
// first call's result.
func (s *Sender) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.conn.Close() })
	return s.closeErr
}
