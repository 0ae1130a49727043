//go:build !linux

package icmp

import (
	"context"
	"net"
)

// PacketConfig configures a PacketSender; see the Linux documentation.
type PacketConfig struct {
	SenderConfig
	GatewayMAC    net.HardwareAddr
	SourceMAC     net.HardwareAddr
	NoQdiscBypass bool
}

// PacketSender is only available on Linux.
type PacketSender struct{}

// NewPacketSender returns ErrPacketUnsupported.
func NewPacketSender(PacketConfig) (*PacketSender, error) { return nil, ErrPacketUnsupported }

// Send returns ErrPacketUnsupported.
func (*PacketSender) Send(context.Context, [][16]byte) (int, error) { return 0, ErrPacketUnsupported }

// SetCard returns ErrPacketUnsupported.
func (*PacketSender) SetCard([]byte) error { return ErrPacketUnsupported }

// Stats returns zero counters.
func (*PacketSender) Stats() SenderStats { return SenderStats{} }

// Close returns nil.
func (*PacketSender) Close() error { return nil }
