//go:build !linux

package widescan

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/p2pnet/widescan/icmp"
)

// choosePath picks the raw path: the packet path needs Linux AF_PACKET.
func (s *Scanner) choosePath(ctx context.Context, ifname string, dst netip.Addr) (SendPath, net.HardwareAddr, string, error) {
	if s.cfg.SendPath == SendPathPacket {
		return 0, nil, "", fmt.Errorf("widescan: send path packet: %w", icmp.ErrPacketUnsupported)
	}
	return SendPathRaw, nil, "", nil
}
