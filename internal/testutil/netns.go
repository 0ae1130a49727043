//go:build linux

package testutil

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/p2pnet/widescan/internal/nl"
)

// NewNetns creates the network namespace name with lo up, then runs each
// ip(8) command of cmds inside it ("addr add 2001:db8::1/128 dev lo nodad" runs as
// "ip -n name addr add …"). A leftover namespace of that name (from a killed
// run) is deleted first; t.Cleanup deletes the new one, and with it every
// interface inside. It calls RequirePriv first. Add addresses with nodad:
// without it an address stays tentative until the kernel's DAD work item
// runs, even on lo, and a bind to it fails meanwhile on a loaded machine.
// Even with nodad the kernel installs the address's local route from that
// work item, so NewNetns waits (up to 30 s) until every IPv6 address that an
// "addr add" command of cmds added is delivered locally.
func NewNetns(t *testing.T, name string, cmds ...string) {
	t.Helper()
	RequirePriv(t)
	_ = exec.Command("ip", "netns", "del", name).Run() // absent is fine
	IP(t, "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	var local []netip.Addr
	for _, c := range append([]string{"link set lo up"}, cmds...) {
		f := strings.Fields(c)
		IP(t, append([]string{"-n", name}, f...)...)
		if len(f) > 2 && f[0] == "addr" && f[1] == "add" {
			if p, err := netip.ParsePrefix(f[2]); err == nil && p.Addr().Is6() {
				local = append(local, p.Addr())
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	InNetns(t, name, func() {
		if err := nl.WaitLocal(ctx, local...); err != nil {
			t.Fatalf("netns %s: %v", name, err)
		}
	})
}

// IP runs ip(8) with args and fails t (t.Fatalf, with ip's output) on error.
func IP(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// InNetns runs f on the test's goroutine, locked to its OS thread, with the
// thread switched into the network namespace name, and switches it back
// afterwards. Sockets f opens stay in name; goroutines f starts run in the
// original namespace. f may call t.Fatal. If the thread cannot be switched
// back, InNetns panics rather than let the runtime reuse a thread in the
// wrong namespace.
func InNetns(t *testing.T, name string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(fmt.Sprintf("restore network namespace: %v", err))
		}
	}()
	f()
}
