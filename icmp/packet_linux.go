//go:build linux

package icmp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PacketConfig configures a PacketSender.
type PacketConfig struct {
	// SenderConfig gives the interface, source address, hop limit, key,
	// scan ID and card, as for a Sender. Interface is required.
	SenderConfig
	// GatewayMAC is the link-layer destination of every frame: the next
	// hop's address (the gateway's, from the neighbour table or
	// -G/--gateway-mac). Required; 6 bytes.
	GatewayMAC net.HardwareAddr
	// SourceMAC is the frames' link-layer source. nil: the interface's own
	// address.
	SourceMAC net.HardwareAddr
	// NoQdiscBypass keeps the interface's queueing discipline in the path.
	// false (the default) sets PACKET_QDISC_BYPASS: frames go straight to
	// the driver, which saves a qdisc enqueue and dequeue per frame; a
	// driver with a full queue then refuses the frame (ENOBUFS, retried).
	NoQdiscBypass bool
}

// PacketSender sends probes as complete Ethernet frames (Ethernet + IPv6 +
// ICMPv6) through an AF_PACKET socket (packet(7)), in batches of up to 64
// with sendmmsg(2): the kernel does no routing, neighbour lookup, IPv6
// header or checksum work per probe. Each frame is a template with the
// destination address, the probe's Echo fields and MAC and the ICMPv6
// checksum patched in; the checksum of the constant parts (source address,
// card) is computed once. The socket's protocol is 0, so it receives
// nothing: replies are read by package sniffer.
//
// Send calls are serialised by an internal lock; Stats and Close are safe
// for concurrent use with Send.
type PacketSender struct {
	cfg PacketConfig
	ft  *frameTemplate
	f   *os.File // the non-blocking socket, in the runtime poller
	rc  syscall.RawConn
	sll unix.RawSockaddrLinklayer

	mu   sync.Mutex // guards the send buffers below
	buf  []byte     // sendBatch frames
	iov  []unix.Iovec
	hdrs []mmsghdr

	sent, errs atomic.Uint64
	closeOnce  sync.Once
	closeErr   error
}

// mmsghdr is struct mmsghdr (sendmmsg(2)).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

var _ ProbeWriter = (*PacketSender)(nil)

// NewPacketSender opens an AF_PACKET socket for cfg.Interface, sets
// PACKET_QDISC_BYPASS (unless cfg.NoQdiscBypass) and a 4 MiB send buffer,
// and prepares the frame template. Like NewSender it does all
// namespace-dependent work before it returns.
//
// Errors: an invalid cfg; an unknown interface, or one without a 6-byte
// link-layer address (use the raw Sender there); ErrNoGatewayMAC (wrapped)
// without cfg.GatewayMAC; ErrPermission (wrapped) without root or
// CAP_NET_RAW.
func NewPacketSender(cfg PacketConfig) (*PacketSender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Interface == "" {
		return nil, errors.New("icmp: packet sender: interface required")
	}
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("icmp: interface %q: %w", cfg.Interface, err)
	}
	if cfg.SourceMAC == nil {
		cfg.SourceMAC = ifi.HardwareAddr
	}
	if len(ifi.HardwareAddr) != 6 || ifi.Flags&net.FlagLoopback != 0 {
		return nil, fmt.Errorf("icmp: interface %q has no Ethernet header: use the raw send path", cfg.Interface)
	}
	if cfg.GatewayMAC == nil {
		return nil, fmt.Errorf("%w on %s", ErrNoGatewayMAC, cfg.Interface)
	}
	ft, err := newFrameTemplate(cfg.SenderConfig, cfg.GatewayMAC, cfg.SourceMAC)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("%w: open packet socket: %w", ErrPermission, err)
		}
		return nil, fmt.Errorf("icmp: open packet socket: %w", err)
	}
	if !cfg.NoQdiscBypass {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("icmp: set PACKET_QDISC_BYPASS: %w", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20) // best effort
	}
	f := os.NewFile(uintptr(fd), "packet:"+cfg.Interface)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("icmp: packet socket: %w", err)
	}
	fl := cfg.FrameLen()
	s := &PacketSender{
		cfg:  cfg,
		ft:   ft,
		f:    f,
		rc:   rc,
		buf:  make([]byte, sendBatch*fl),
		iov:  make([]unix.Iovec, sendBatch),
		hdrs: make([]mmsghdr, sendBatch),
	}
	s.sll = unix.RawSockaddrLinklayer{
		Family:   unix.AF_PACKET,
		Protocol: htons(unix.ETH_P_IPV6),
		Ifindex:  int32(ifi.Index),
		Halen:    6,
	}
	copy(s.sll.Addr[:], cfg.GatewayMAC)
	for i := range s.hdrs {
		s.iov[i].Base = &s.buf[i*fl]
		s.iov[i].SetLen(fl)
		h := &s.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&s.sll))
		h.Namelen = unix.SizeofSockaddrLinklayer
		h.Iov = &s.iov[i]
		h.SetIovlen(1)
	}
	return s, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Send writes one frame per target (Sent = time.Now, taken once per batch of
// up to 64 probes) with sendmmsg(2) and returns the number of probes the
// kernel accepted. Per-probe failures are counted in Stats().Errors, after
// a few retries for ENOBUFS, ENOMEM and EAGAIN. It returns early with
// ctx.Err() when ctx is done, and with an error wrapping os.ErrClosed after
// Close.
func (s *PacketSender) Send(ctx context.Context, targets [][16]byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0
	fl := s.cfg.FrameLen()
	for len(targets) > 0 {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		k := min(len(targets), sendBatch)
		pr := Probe{ScanID: s.cfg.ScanID, Sent: time.Now(), Source: s.cfg.Source}
		for i := range k {
			pr.Target = targetAddr(targets[i])
			s.ft.write(s.buf[i*fl:(i+1)*fl], pr)
		}
		n, err := s.writeBatch(s.hdrs[:k])
		total += n
		if err != nil {
			return total, err
		}
		targets = targets[k:]
	}
	return total, nil
}

// sendmmsg sends hs once, waiting in the runtime poller while the socket's
// buffer is full.
func (s *PacketSender) sendmmsg(hs []mmsghdr) (int, error) {
	var n int
	var errno unix.Errno
	err := s.rc.Write(func(fd uintptr) bool {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hs[0])), uintptr(len(hs)), 0, 0, 0)
		if e == unix.EAGAIN {
			return false // wait until writable
		}
		n, errno = int(r), e
		return true
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return n, nil
}

// writeBatch writes hs, retrying transient errors and skipping (and
// counting) frames that fail. It returns the number sent and a fatal error.
func (s *PacketSender) writeBatch(hs []mmsghdr) (int, error) {
	sent, retries := 0, 0
	for len(hs) > 0 {
		n, err := s.sendmmsg(hs)
		if n > 0 {
			sent += n
			s.sent.Add(uint64(n))
			hs = hs[n:]
			retries = 0
		}
		if err == nil {
			if n == 0 {
				s.errs.Add(uint64(len(hs)))
				return sent, nil
			}
			continue
		}
		switch {
		case errors.Is(err, os.ErrClosed):
			return sent, fmt.Errorf("icmp: send: %w", err)
		case transient(err) && retries < sendRetries:
			time.Sleep(retryBase << retries)
			retries++
		default:
			s.errs.Add(1)
			hs = hs[1:]
			retries = 0
		}
	}
	return sent, nil
}

// SetCard replaces the beacon card that the frames carry, as
// Sender.SetCard does. Safe for concurrent use with Send; card is copied.
func (s *PacketSender) SetCard(card []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cfg.replaceCard(card); err != nil {
		return err
	}
	ft, err := newFrameTemplate(s.cfg.SenderConfig, s.cfg.GatewayMAC, s.cfg.SourceMAC)
	if err != nil {
		return err
	}
	s.ft = ft
	return nil
}

// Stats returns the counters so far. It is safe for concurrent use.
func (s *PacketSender) Stats() SenderStats {
	return SenderStats{Sent: s.sent.Load(), Errors: s.errs.Load()}
}

// Close closes the socket. A Send in progress returns an error wrapping
// os.ErrClosed. Close is safe for concurrent use; later calls return the
// first call's result.
func (s *PacketSender) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.f.Close() })
	return s.closeErr
}
