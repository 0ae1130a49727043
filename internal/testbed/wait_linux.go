//go:build linux

package testbed

import (
	"context"
	"net/netip"

	"github.com/p2pnet/widescan/internal/nl"
)

// waitLocal waits, inside namespace ns, until the kernel delivers packets to
// each of addrs locally (see nl.WaitLocal).
func waitLocal(ctx context.Context, ns string, addrs []netip.Addr) error {
	return do(ns, func() error { return nl.WaitLocal(ctx, addrs...) })
}
