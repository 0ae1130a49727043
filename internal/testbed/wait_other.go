//go:build !linux

package testbed

import (
	"context"
	"errors"
	"net/netip"
)

// waitLocal needs Linux's rtnetlink; the testbed as a whole needs Linux.
func waitLocal(context.Context, string, []netip.Addr) error {
	return errors.New("testbed: network namespaces need Linux")
}
