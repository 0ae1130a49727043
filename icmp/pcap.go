package icmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// PcapLinkType is the link type of the files PcapWriter writes: raw IP
// (LINKTYPE_RAW, 101), each record one IPv6 packet with no link-layer header.
const PcapLinkType = layers.LinkTypeRaw

// PcapWriter is the dry-run ProbeWriter: it writes each probe as a complete
// IPv6 packet (header with hop limit, ICMPv6 Echo Request with the real
// checksum) into a pcap file, and sends nothing on the network. Record
// timestamps are the probes' Sent times, in microseconds (classic pcap).
//
// Send calls are serialised by an internal lock; Stats and Close are safe for
// concurrent use with Send.
type PcapWriter struct {
	cfg SenderConfig

	mu     sync.Mutex // guards the fields below
	w      *pcapgo.Writer
	closed bool
	sbuf   gopacket.SerializeBuffer
	ip     layers.IPv6
	msg    []byte

	sent, errs atomic.Uint64
}

// NewPcapWriter writes the pcap file header to w and returns a PcapWriter
// that appends one record per probe. cfg.Interface may be empty; cfg.Source
// is required. It returns an error for an invalid cfg or when the header
// cannot be written. Closing the PcapWriter does not close w.
func NewPcapWriter(w io.Writer, cfg SenderConfig) (*PcapWriter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65535, PcapLinkType); err != nil {
		return nil, fmt.Errorf("icmp: write pcap header: %w", err)
	}
	src := cfg.Source.As16()
	return &PcapWriter{
		cfg:  cfg,
		w:    pw,
		sbuf: gopacket.NewSerializeBuffer(),
		ip: layers.IPv6{
			Version:    6,
			NextHeader: layers.IPProtocolICMPv6,
			HopLimit:   uint8(cfg.hopLimit()),
			SrcIP:      net.IP(src[:]),
			DstIP:      make(net.IP, 16),
		},
		msg: make([]byte, 0, cfg.msgLen()),
	}, nil
}

// Send writes one packet per target, with Sent = time.Now taken per probe.
// A write error to the underlying io.Writer is returned (after counting the
// probe in Stats().Errors), since later writes would fail too. It returns
// ctx.Err() when ctx is done, and an error after Close.
func (p *PcapWriter) Send(ctx context.Context, targets [][16]byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, errors.New("icmp: pcap writer closed")
	}
	n := 0
	for i, t := range targets {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return n, err
			}
		}
		pr := Probe{ScanID: p.cfg.ScanID, Sent: time.Now(), Target: netip.AddrFrom16(t), Source: p.cfg.Source}
		if err := p.write(pr); err != nil {
			p.errs.Add(1)
			return n, err
		}
		p.sent.Add(1)
		n++
	}
	return n, nil
}

func (p *PcapWriter) write(pr Probe) error {
	p.msg = p.cfg.encode(p.msg[:0], pr)
	c := Checksum(pr.Source, pr.Target, p.msg)
	p.msg[2], p.msg[3] = byte(c>>8), byte(c)
	copy(p.ip.DstIP, pr.Target.AsSlice())
	err := gopacket.SerializeLayers(p.sbuf, gopacket.SerializeOptions{FixLengths: true}, &p.ip, gopacket.Payload(p.msg))
	if err != nil {
		return fmt.Errorf("icmp: serialize probe: %w", err)
	}
	data := p.sbuf.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: pr.Sent, CaptureLength: len(data), Length: len(data)}
	if err := p.w.WritePacket(ci, data); err != nil {
		return fmt.Errorf("icmp: write pcap record: %w", err)
	}
	return nil
}

// Stats returns the counters so far. It is safe for concurrent use.
func (p *PcapWriter) Stats() SenderStats {
	return SenderStats{Sent: p.sent.Load(), Errors: p.errs.Load()}
}

// Close marks the writer closed; later Sends fail. It does not close (or
// flush) the io.Writer given to NewPcapWriter: records are written through to
// it unbuffered. Safe for concurrent use; it always returns nil.
func (p *PcapWriter) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return nil
}
