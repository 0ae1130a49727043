//go:build linux

package sniffer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gopacket/gopacket/afpacket"
)

const (
	ringBlock    = 1 << 20               // bytes per TPACKET_V3 block
	blockTimeout = 10 * time.Millisecond // a partly filled block is handed over after this
	pollTimeout  = 50 * time.Millisecond // how often Run looks at ctx
	drainMax     = 100 * time.Millisecond
)

// Sniffer captures Echo Replies on one interface through an AF_PACKET
// TPACKET_V3 memory-mapped ring (gopacket/afpacket) with the classic BPF
// program Filter, and feeds them to a Decoder.
//
// Run must not be called concurrently with itself. Stats and Close are safe
// for concurrent use with Run.
type Sniffer struct {
	dec *Decoder

	mu     sync.Mutex // held by Run around each read and decode, and by Close
	tp     *afpacket.TPacket
	closed bool

	smu   sync.Mutex // guards drops and the socket for Stats
	drops uint64
	gone  bool
}

// Open opens the capture socket on cfg.Interface, sizes its ring, and
// attaches the filter. It does all namespace-dependent work (interface
// lookup, socket, bind) before it returns, so a caller may run it on an OS
// thread switched into another network namespace and use the Sniffer from any
// goroutine afterwards.
//
// Errors: no interface given; an unknown interface; ErrPermission (wrapped,
// with the kernel's error) without root or CAP_NET_RAW; ring setup failures
// (e.g. ENOMEM for a ring too large).
func Open(cfg Config) (*Sniffer, error) {
	if cfg.Interface == "" {
		return nil, errors.New("sniffer: interface required")
	}
	if _, err := net.InterfaceByName(cfg.Interface); err != nil {
		return nil, fmt.Errorf("sniffer: interface %q: %w", cfg.Interface, err)
	}
	ring := cfg.RingBytes
	if ring == 0 {
		ring = DefaultRingBytes
	}
	filter, err := Filter()
	if err != nil {
		return nil, fmt.Errorf("sniffer: assemble filter: %w", err)
	}
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(cfg.Interface),
		afpacket.OptProtocol(0x86dd), // ETH_P_IPV6
		afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
		afpacket.OptFrameSize(afpacket.DefaultFrameSize),
		afpacket.OptBlockSize(ringBlock),
		afpacket.OptNumBlocks(max(1, ring/ringBlock)),
		afpacket.OptBlockTimeout(blockTimeout),
		afpacket.OptPollTimeout(pollTimeout),
	)
	if err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("%w: open capture socket: %w", ErrPermission, err)
		}
		return nil, fmt.Errorf("sniffer: open capture on %q: %w", cfg.Interface, err)
	}
	if err := tp.SetBPF(filter); err != nil {
		tp.Close()
		return nil, fmt.Errorf("sniffer: attach filter: %w", err)
	}
	return &Sniffer{dec: NewDecoder(cfg), tp: tp}, nil
}

// Run reads frames and calls emit, from this goroutine only, with each valid
// new Reply, until ctx is done; then it handles what the ring already holds
// (for at most about 100 ms) and returns nil. It returns an error when a read
// fails, and one wrapping net.ErrClosed after Close. emit must not retain
// anything but the Reply value; it may call Stats or Close. Peers are
// counted and dropped: use RunEvents to receive them.
func (s *Sniffer) Run(ctx context.Context, emit func(Reply)) error {
	return s.RunEvents(ctx, func(ev Event) {
		if ev.Kind == EventReply {
			emit(ev.Reply)
		}
	})
}

// RunEvents is Run for Replies and Peers (Config.Peers): it calls emit with
// every Event whose Kind is not EventNone (see Decoder.DecodeEvent), from
// this goroutine only.
func (s *Sniffer) RunEvents(ctx context.Context, emit func(Event)) error {
	var deadline time.Time // set once ctx is done: stop draining then
	for {
		if deadline.IsZero() && ctx.Err() != nil {
			deadline = time.Now().Add(drainMax)
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return nil
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return fmt.Errorf("sniffer: run: %w", net.ErrClosed)
		}
		data, ci, err := s.tp.ZeroCopyReadPacketData()
		var ev Event
		if err == nil {
			ev = s.dec.DecodeEvent(data, ci.Timestamp)
		}
		s.mu.Unlock()
		switch {
		case err == nil:
			if ev.Kind != EventNone {
				emit(ev)
			}
		case errors.Is(err, afpacket.ErrTimeout):
			if !deadline.IsZero() {
				return nil // ring empty after ctx was done
			}
		default:
			return fmt.Errorf("sniffer: read: %w", err)
		}
	}
}

// Stats returns the decoder's counters and the kernel's drop count. It is
// safe for concurrent use, also after Close (which keeps the last counts).
func (s *Sniffer) Stats() Stats {
	st := s.dec.Stats()
	s.smu.Lock()
	s.refreshDrops()
	st.KernelDrops = s.drops
	s.smu.Unlock()
	return st
}

// refreshDrops reads the socket's drop counter; s.smu must be held.
func (s *Sniffer) refreshDrops() {
	if s.gone {
		return
	}
	if _, v3, err := s.tp.SocketStats(); err == nil {
		s.drops = uint64(v3.Drops())
	}
}

// Close stops capturing and releases the socket and ring. A Run in progress
// returns an error wrapping net.ErrClosed within about 50 ms. Close is safe
// for concurrent use and idempotent; it returns nil.
func (s *Sniffer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.smu.Lock()
	s.refreshDrops()
	s.gone = true
	s.smu.Unlock()
	s.tp.Close()
	s.closed = true
	return nil
}
