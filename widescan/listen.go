package widescan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p2pnet/widescan/icmp"
	"github.com/p2pnet/widescan/sniffer"
)

// ListenConfig configures a Listener: listen mode runs the sniffer without
// scanning, reports peers that probe us and answers each new one once with
// our card. The zero value of each field is its default; Interface and
// Beacon are required.
type ListenConfig struct {
	// Interface is the network interface to capture and answer on.
	// Required.
	Interface string
	// SourceIP is our address: the card's address and the answers'
	// source. Zero value: the first global unicast IPv6 address of
	// Interface.
	SourceIP netip.Addr
	// HopLimit is the answers' IPv6 hop limit. 0: 64.
	HopLimit int
	// Beacon is our identity, network and trust policy. Required.
	Beacon *Beacon
	// OnPeer, when not nil, receives every new verified peer, from the
	// capture goroutine (see Config.OnPeer).
	OnPeer func(Peer)
}

// Listener is listen mode. Create it with NewListener; Run may be called
// once. Stats is safe for concurrent use with Run.
type Listener struct {
	cfg     ListenConfig
	runOnce atomic.Bool

	mu    sync.Mutex // guards the fields below
	sn    *sniffer.Sniffer
	pe    *peerEngine
	start time.Time
	end   time.Time
}

// NewListener validates cfg. It opens no socket.
func NewListener(cfg ListenConfig) (*Listener, error) {
	if cfg.Interface == "" {
		return nil, errors.New("widescan: listen: interface required")
	}
	if cfg.Beacon == nil {
		return nil, errors.New("widescan: listen: beacon required")
	}
	if err := cfg.Beacon.Validate(); err != nil {
		return nil, err
	}
	if cfg.SourceIP.IsValid() && (!cfg.SourceIP.Is6() || cfg.SourceIP.Is4In6()) {
		return nil, fmt.Errorf("widescan: listen: source %s is not an IPv6 address", cfg.SourceIP)
	}
	if cfg.HopLimit < 0 || cfg.HopLimit > 255 {
		return nil, fmt.Errorf("widescan: listen: hop limit %d outside 0..255", cfg.HopLimit)
	}
	return &Listener{cfg: cfg}, nil
}

// Run opens the capture and answer sockets (on the caller's goroutine, so a
// caller may run it in another network namespace), then reports peers until
// ctx is done, and returns the final Stats and nil. It renews the card when
// less than half its lifetime is left. Errors: ErrPermission (wrapped)
// without root or CAP_NET_RAW; an interface that does not exist or holds no
// global IPv6 address; a capture failure. Run may be called once.
func (l *Listener) Run(ctx context.Context) (Stats, error) {
	if !l.runOnce.CompareAndSwap(false, true) {
		return l.Stats(), errors.New("widescan: listen: Run called twice")
	}
	src := l.cfg.SourceIP
	if !src.IsValid() {
		a, err := interfaceAddr(l.cfg.Interface)
		if err != nil {
			return l.Stats(), err
		}
		src = a
	}
	now := time.Now()
	pe, err := newPeerEngine(l.cfg.Beacon, src, now)
	if err != nil {
		return l.Stats(), err
	}
	pe.onPeer = l.cfg.OnPeer
	key, err := icmp.NewKey()
	if err != nil {
		return l.Stats(), err
	}
	scf := sniffer.Config{Interface: l.cfg.Interface, Key: key, RingBytes: 2 << 20}
	pe.sniffConfig(&scf)
	sn, err := sniffer.Open(scf)
	if err != nil {
		return l.Stats(), fmt.Errorf("widescan: %w", err)
	}
	defer sn.Close()
	if err := pe.openAnswers(l.cfg.Interface, l.cfg.HopLimit, key, 0); err != nil {
		return l.Stats(), err
	}
	defer pe.close()
	l.mu.Lock()
	l.sn, l.pe, l.start = sn, pe, now
	l.mu.Unlock()

	renewErr := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		t := time.NewTicker(max(time.Second, min(time.Minute, l.cfg.Beacon.ttl()/4)))
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case now := <-t.C:
				if err := pe.renew(now); err != nil {
					renewErr <- err
					cancel()
					return
				}
			}
		}
	}()
	err = sn.RunEvents(rctx, func(ev sniffer.Event) {
		if ev.Kind == sniffer.EventPeer {
			pe.handle(ev.Peer, time.Now())
		}
	})
	cancel()
	l.mu.Lock()
	l.end = time.Now()
	l.mu.Unlock()
	select {
	case rerr := <-renewErr:
		return l.Stats(), rerr
	default:
	}
	return l.Stats(), err
}

// Stats returns a snapshot of the peer and answer counters (the scan
// counters stay 0). Safe for concurrent use.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Stats{Start: l.start, End: l.end}
	if l.sn != nil {
		st.addSniffer(l.sn.Stats())
	}
	st.addAnswers(l.pe)
	return st
}

// interfaceAddr returns the first global unicast IPv6 address of ifname.
func interfaceAddr(ifname string) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("widescan: interface %q: %w", ifname, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("widescan: interface %q: %w", ifname, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Is6() && !ip.Is4In6() && ip.IsGlobalUnicast() {
				return ip, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("widescan: interface %q has no global IPv6 address (set a source IP)", ifname)
}
