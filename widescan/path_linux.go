//go:build linux

package widescan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/p2pnet/widescan/icmp"
	"github.com/p2pnet/widescan/internal/nl"
)

// solicitWait bounds how long choosePath waits for the kernel to resolve
// the gateway's link-layer address.
const solicitWait = time.Second

// choosePath picks the send path for probes to dst leaving through ifname,
// and for the packet path the next hop's link-layer address. note says why
// SendPathAuto chose the raw path.
func (s *Scanner) choosePath(ctx context.Context, ifname string, dst netip.Addr) (path SendPath, gw net.HardwareAddr, note string, err error) {
	want := s.cfg.SendPath
	if want == SendPathRaw {
		return SendPathRaw, nil, "", nil
	}
	fail := func(e error) (SendPath, net.HardwareAddr, string, error) {
		if want == SendPathPacket {
			return 0, nil, "", fmt.Errorf("widescan: send path packet: %w", e)
		}
		return SendPathRaw, nil, e.Error(), nil
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return 0, nil, "", fmt.Errorf("widescan: interface %q: %w", ifname, err)
	}
	if len(ifi.HardwareAddr) != 6 || ifi.Flags&net.FlagLoopback != 0 {
		return fail(fmt.Errorf("interface %s has no Ethernet header", ifname))
	}
	if s.cfg.GatewayMAC != nil {
		return SendPathPacket, s.cfg.GatewayMAC, "", nil
	}
	r, err := nl.RouteTo(dst)
	if err != nil {
		return fail(fmt.Errorf("%w: %w (set the gateway MAC)", icmp.ErrNoGatewayMAC, err))
	}
	if !r.Gateway.IsValid() {
		return fail(fmt.Errorf("%w: %s is on-link, no gateway (set the gateway MAC, or use the raw send path)", icmp.ErrNoGatewayMAC, dst))
	}
	sctx, cancel := context.WithTimeout(ctx, solicitWait)
	defer cancel()
	mac, err := nl.Solicit(sctx, ifi.Index, r.Gateway)
	if err != nil {
		if !errors.Is(err, nl.ErrNoNeighbor) {
			err = fmt.Errorf("%w: %w", nl.ErrNoNeighbor, err)
		}
		return fail(fmt.Errorf("%w: gateway %s on %s: %w (set it with -G/--gateway-mac)", icmp.ErrNoGatewayMAC, r.Gateway, ifname, err))
	}
	return SendPathPacket, mac, "", nil
}
