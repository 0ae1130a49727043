package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Allowed holds the only prefixes a testbed may plant or alias: the IPv6 documentation
// prefixes 2001:db8::/32 (RFC 3849) and 3fff::/20 (RFC 9637). Up refuses anything outside
// them. Callers must not modify it.
var Allowed = []netip.Prefix{
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("3fff::/20"),
}

// Infra is the prefix that holds the testbed's own link addresses (3fff:0:1::/64,
// 3fff:0:2::/64, 3fff:0:3::/64): 3fff:0::/32. Planted addresses and AnyIP prefixes must not
// overlap it.
var Infra = netip.MustParsePrefix("3fff::/32")

// Fixed interface names and addresses of the topology described in the package docs.
const (
	// ScanIface is the scanner's interface in the Name-scan namespace.
	ScanIface = "scan0"
	// DefaultName is the namespace prefix used when Config.Name is empty.
	DefaultName = "ws"
)

var (
	// ScannerAddr is the scanner's address on ScanIface.
	ScannerAddr = netip.MustParseAddr("3fff:0:1::2")
	// Gateway is the router's address on the scanner link, the scanner's next hop.
	Gateway = netip.MustParseAddr("3fff:0:1::1")

	docPrefix = netip.MustParsePrefix("2001:db8::/32")
	allPrefix = netip.MustParsePrefix("3fff::/20")
)

// netnsDir is where iproute2 keeps its named namespaces.
const netnsDir = "/var/run/netns"

// ErrNotAllowed is returned (wrapped) by Up for a planted address or AnyIP prefix outside
// Allowed, or one that overlaps Infra.
var ErrNotAllowed = errors.New("testbed: address outside the allowed documentation prefixes")

// Config describes a testbed. Its zero value is a valid, empty testbed named "ws".
type Config struct {
	// Name is the namespace prefix; "" means DefaultName ("ws"). The namespaces are
	// Name+"-scan", Name+"-rtr", Name+"-resp1" (planted hosts) and Name+"-resp2" (AnyIP).
	// It may hold letters, digits, '-', '_' and '.', at most 32 bytes.
	Name string
	// Planted addresses are assigned as /128s on lo of resp1 (no DAD), in bulk. Each must be
	// an IPv6 address inside Allowed, outside Infra and outside every AnyIP prefix.
	// Duplicates are ignored.
	Planted []netip.Addr
	// AnyIP prefixes become local routes (`ip -6 route add local P dev lo`) in resp2, so
	// every address inside them answers (an aliased prefix). Each must lie inside Allowed
	// and outside Infra. nil means none.
	AnyIP []netip.Prefix
	// Unreachable prefixes get an "unreachable" route in the router, which
	// answers every packet to them with an ICMPv6 Destination Unreachable
	// (code 0, no route to destination; RFC 4443 §3.1). Each must lie inside
	// Allowed and outside Infra. (A probe with hop limit 1 draws a Time
	// Exceeded from the router for any destination.)
	Unreachable []netip.Prefix
	// Instances is the number of extra scanner namespaces, 0 to MaxInstances, for
	// several widescan instances that scan (and find) each other: instance i (from 0) is
	// the namespace Name+"-i"+i with interface InstanceIface, address InstanceAddr(i) on
	// its own /64 link to the router, and routes to 2001:db8::/32 and 3fff::/20 via the
	// router, like the scanner. The window 3fff:0:100::/40-48 with the IID fixed:::2
	// covers every instance address.
	Instances int
}

// MaxInstances is the largest Config.Instances.
const MaxInstances = 64

// InstanceIface is the interface of every instance namespace.
const InstanceIface = "inst0"

// InstancePrefix holds the instances' links: instance i has 3fff:0:1ii::/64 (ii = i in
// hexadecimal, two digits), inside Infra.
var InstancePrefix = netip.MustParsePrefix("3fff:0:100::/40")

// InstanceAddr returns the address of instance i (from 0): 3fff:0:1ii::2, ii = i in
// hexadecimal. Its router is 3fff:0:1ii::1.
func InstanceAddr(i int) netip.Addr {
	a := InstancePrefix.Addr().As16()
	a[5] = byte(i)
	a[15] = 2
	return netip.AddrFrom16(a)
}

// InstanceNS returns the namespace of instance i (from 0) of the testbed called name
// ("" means DefaultName).
func InstanceNS(name string, i int) string {
	if name == "" {
		name = DefaultName
	}
	return fmt.Sprintf("%s-i%d", name, i)
}

// Instance is one instance namespace of a testbed.
type Instance struct {
	// NS is the namespace name, Iface its interface (InstanceIface), Addr its address.
	NS    string
	Iface string
	Addr  netip.Addr
}

// Testbed is a testbed that Up built. Its fields describe it; it holds no open resources,
// so there is nothing to close: Down(ctx, tb.Name) removes it. Safe for concurrent use.
type Testbed struct {
	// Name is the namespace prefix (Config.Name, or DefaultName).
	Name string
	// ScannerNS, RouterNS, PlantedNS and AnyIPNS are the four namespace names.
	ScannerNS, RouterNS, PlantedNS, AnyIPNS string
	// ScanIface is the scanner's interface ("scan0") in ScannerNS.
	ScanIface string
	// ScannerAddr is the address of ScanIface (3fff:0:1::2).
	ScannerAddr netip.Addr
	// Planted are the planted addresses, sorted and without duplicates.
	Planted []netip.Addr
	// AnyIP are the aliased prefixes (masked, sorted, without duplicates).
	AnyIP []netip.Prefix
	// Instances are the extra scanner namespaces (Config.Instances), in order.
	Instances []Instance
	// Unreachable are the prefixes the router answers with Destination
	// Unreachable (Config.Unreachable, masked).
	Unreachable []netip.Prefix
}

// Namespaces returns the four namespace names of the testbed called name ("" means
// DefaultName): scanner, router, planted responder, AnyIP responder.
func Namespaces(name string) (scan, rtr, resp1, resp2 string) {
	if name == "" {
		name = DefaultName
	}
	return name + "-scan", name + "-rtr", name + "-resp1", name + "-resp2"
}

func checkName(name string) error {
	if len(name) > 32 {
		return fmt.Errorf("testbed: name %q longer than 32 bytes", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("testbed: name %q: character %q not allowed", name, r)
		}
	}
	if name == "." || name == ".." {
		return fmt.Errorf("testbed: name %q not allowed", name)
	}
	return nil
}

func inAllowed(p netip.Prefix) bool {
	for _, a := range Allowed {
		if a.Bits() <= p.Bits() && a.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// normalize checks cfg and returns its planted addresses and AnyIP prefixes sorted, deduped.
func normalize(cfg Config) ([]netip.Addr, []netip.Prefix, error) {
	anyip := make([]netip.Prefix, 0, len(cfg.AnyIP))
	for _, p := range cfg.AnyIP {
		if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			return nil, nil, fmt.Errorf("AnyIP prefix %v: not an IPv6 prefix: %w", p, ErrNotAllowed)
		}
		p = p.Masked()
		if !inAllowed(p) {
			return nil, nil, fmt.Errorf("AnyIP prefix %v: %w", p, ErrNotAllowed)
		}
		if p.Overlaps(Infra) {
			return nil, nil, fmt.Errorf("AnyIP prefix %v overlaps the infrastructure prefix %v: %w", p, Infra, ErrNotAllowed)
		}
		anyip = append(anyip, p)
	}
	slices.SortFunc(anyip, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	anyip = slices.Compact(anyip)

	planted := slices.Clone(cfg.Planted)
	for _, a := range planted {
		if !a.Is6() || a.Is4In6() || a.Zone() != "" {
			return nil, nil, fmt.Errorf("planted address %v: not an IPv6 address: %w", a, ErrNotAllowed)
		}
		p := netip.PrefixFrom(a, 128)
		if !inAllowed(p) {
			return nil, nil, fmt.Errorf("planted address %v: %w", a, ErrNotAllowed)
		}
		if Infra.Contains(a) {
			return nil, nil, fmt.Errorf("planted address %v inside the infrastructure prefix %v: %w", a, Infra, ErrNotAllowed)
		}
		for _, q := range anyip {
			if q.Contains(a) {
				return nil, nil, fmt.Errorf("planted address %v inside AnyIP prefix %v", a, q)
			}
		}
	}
	slices.SortFunc(planted, netip.Addr.Compare)
	planted = slices.Compact(planted)
	return planted, anyip, nil
}

// link is one veth pair of the topology.
type link struct {
	aNS, aIf, bNS, bIf string
	aMAC, bMAC         string
	aAddr, bAddr       netip.Addr // both /64
}

// Up builds the testbed cfg describes and returns it. If any of its namespaces already
// exist, Up first removes them (as Down does) and builds afresh, so calling Up twice with the
// same Config gives the same testbed. On error Up removes whatever it built.
//
// Up refuses (ErrNotAllowed) planted addresses and AnyIP prefixes outside Allowed or
// overlapping Infra. It needs root and the iproute2 `ip` binary. With 5,000 planted
// addresses it takes well under a second on a typical machine.
func Up(ctx context.Context, cfg Config) (*Testbed, error) {
	name := cfg.Name
	if name == "" {
		name = DefaultName
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	planted, anyip, err := normalize(cfg)
	if err != nil {
		return nil, fmt.Errorf("testbed %s: %w", name, err)
	}
	var unreach []netip.Prefix
	for _, p := range cfg.Unreachable {
		if !p.IsValid() || !p.Addr().Is6() || !inAllowed(p.Masked()) || p.Overlaps(Infra) {
			return nil, fmt.Errorf("testbed %s: unreachable prefix %v: %w", name, p, ErrNotAllowed)
		}
		unreach = append(unreach, p.Masked())
	}
	if cfg.Instances < 0 || cfg.Instances > MaxInstances {
		return nil, fmt.Errorf("testbed %s: %d instances, want 0 to %d", name, cfg.Instances, MaxInstances)
	}
	scan, rtr, resp1, resp2 := Namespaces(name)
	tb := &Testbed{
		Name: name, ScannerNS: scan, RouterNS: rtr, PlantedNS: resp1, AnyIPNS: resp2,
		ScanIface: ScanIface, ScannerAddr: ScannerAddr, Planted: planted, AnyIP: anyip,
		Unreachable: unreach,
	}
	for i := range cfg.Instances {
		tb.Instances = append(tb.Instances, Instance{NS: InstanceNS(name, i), Iface: InstanceIface, Addr: InstanceAddr(i)})
	}
	if err := Down(ctx, name); err != nil {
		return nil, err
	}
	if err := tb.build(ctx); err != nil {
		// Best effort: the build error is the one that matters.
		_ = Down(context.WithoutCancel(ctx), name)
		return nil, fmt.Errorf("testbed %s up: %w", name, err)
	}
	return tb, nil
}

func (tb *Testbed) links() []link {
	ls := []link{
		{tb.ScannerNS, ScanIface, tb.RouterNS, "rscan0", "02:77:73:01:00:02", "02:77:73:01:00:01",
			ScannerAddr, Gateway},
		{tb.PlantedNS, "resp0", tb.RouterNS, "rresp1", "02:77:73:02:00:02", "02:77:73:02:00:01",
			netip.MustParseAddr("3fff:0:2::2"), netip.MustParseAddr("3fff:0:2::1")},
		{tb.AnyIPNS, "resp0", tb.RouterNS, "rresp2", "02:77:73:03:00:02", "02:77:73:03:00:01",
			netip.MustParseAddr("3fff:0:3::2"), netip.MustParseAddr("3fff:0:3::1")},
	}
	for i, in := range tb.Instances {
		gw := in.Addr.As16()
		gw[15] = 1
		ls = append(ls, link{in.NS, InstanceIface, tb.RouterNS, fmt.Sprintf("rinst%d", i),
			fmt.Sprintf("02:77:74:%02x:00:02", i), fmt.Sprintf("02:77:74:%02x:00:01", i),
			in.Addr, netip.AddrFrom16(gw)})
	}
	return ls
}

// sysctls are set in every namespace before any veth exists, so the veths inherit the
// "default" values.
var sysctls = []struct{ key, val string }{
	{"net/ipv6/icmp/ratelimit", "0"},
	{"net/ipv4/icmp_ratelimit", "0"},
	{"net/ipv4/icmp_msgs_per_sec", "100000000"},
	{"net/ipv4/icmp_msgs_burst", "100000000"},
	{"net/ipv6/conf/all/accept_dad", "0"},
	{"net/ipv6/conf/default/accept_dad", "0"},
	{"net/ipv6/conf/all/accept_ra", "0"},
	{"net/ipv6/conf/default/accept_ra", "0"},
	{"net/ipv6/conf/default/router_solicitations", "0"},
}

func (tb *Testbed) build(ctx context.Context) error {
	nss := []string{tb.ScannerNS, tb.RouterNS, tb.PlantedNS, tb.AnyIPNS}
	for _, in := range tb.Instances {
		nss = append(nss, in.NS)
	}
	var b strings.Builder
	for _, ns := range nss {
		fmt.Fprintf(&b, "netns add %s\n", ns)
	}
	if err := ipBatch(ctx, "", b.String()); err != nil {
		return err
	}
	for _, ns := range nss {
		err := do(ns, func() error {
			for _, s := range sysctls {
				if err := os.WriteFile(filepath.Join("/proc/sys", s.key), []byte(s.val), 0); err != nil {
					return fmt.Errorf("sysctl %s: %w", s.key, err)
				}
			}
			if ns == tb.RouterNS {
				if err := os.WriteFile("/proc/sys/net/ipv6/conf/all/forwarding", []byte("1"), 0); err != nil {
					return fmt.Errorf("sysctl forwarding: %w", err)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
	}

	// veths, created directly in their namespaces.
	b.Reset()
	per := map[string]*strings.Builder{}
	local := map[string][]netip.Addr{} // the addresses added in each namespace
	for _, ns := range nss {
		per[ns] = &strings.Builder{}
		fmt.Fprintf(per[ns], "link set lo up\n")
	}
	for _, l := range tb.links() {
		fmt.Fprintf(&b, "link add %s netns %s address %s type veth peer name %s netns %s address %s\n",
			l.aIf, l.aNS, l.aMAC, l.bIf, l.bNS, l.bMAC)
		for _, side := range []struct {
			ns, ifc, peerMAC string
			addr, peer       netip.Addr
		}{{l.aNS, l.aIf, l.bMAC, l.aAddr, l.bAddr}, {l.bNS, l.bIf, l.aMAC, l.bAddr, l.aAddr}} {
			w := per[side.ns]
			fmt.Fprintf(w, "link set %s up\n", side.ifc)
			fmt.Fprintf(w, "addr add %s/64 dev %s nodad\n", side.addr, side.ifc)
			local[side.ns] = append(local[side.ns], side.addr)
			fmt.Fprintf(w, "neigh replace %s lladdr %s dev %s nud permanent\n", side.peer, side.peerMAC, side.ifc)
		}
	}
	if err := ipBatch(ctx, "", b.String()); err != nil {
		return err
	}

	// Routes.
	links := tb.links()
	scanGW, resp1Addr, resp2Addr := links[0].bAddr, links[1].aAddr, links[2].aAddr
	resp1GW, resp2GW := links[1].bAddr, links[2].bAddr
	fmt.Fprintf(per[tb.ScannerNS], "route add %s via %s dev %s\n", docPrefix, scanGW, ScanIface)
	fmt.Fprintf(per[tb.ScannerNS], "route add %s via %s dev %s\n", allPrefix, scanGW, ScanIface)
	for i, in := range tb.Instances {
		gw := links[3+i].bAddr
		fmt.Fprintf(per[in.NS], "route add %s via %s dev %s\n", docPrefix, gw, InstanceIface)
		fmt.Fprintf(per[in.NS], "route add %s via %s dev %s\n", allPrefix, gw, InstanceIface)
	}

	r := per[tb.RouterNS]
	fmt.Fprintf(r, "route add %s via %s dev rresp1\n", docPrefix, resp1Addr)
	fmt.Fprintf(r, "route add blackhole %s\n", allPrefix)
	for _, p := range tb.Unreachable {
		fmt.Fprintf(r, "route add unreachable %s\n", p)
	}
	for _, p := range tb.AnyIP {
		fmt.Fprintf(r, "route add %s via %s dev rresp2\n", p, resp2Addr)
	}
	for _, a := range tb.Planted {
		if !docPrefix.Contains(a) {
			fmt.Fprintf(r, "route add %s/128 via %s dev rresp1\n", a, resp1Addr)
		}
	}

	p1 := per[tb.PlantedNS]
	fmt.Fprintf(p1, "route add %s via %s dev resp0\n", allPrefix, resp1GW)
	fmt.Fprintf(p1, "route add blackhole %s\n", docPrefix)
	for _, a := range tb.Planted {
		fmt.Fprintf(p1, "addr add %s/128 dev lo nodad\n", a)
	}
	local[tb.PlantedNS] = append(local[tb.PlantedNS], tb.Planted...)

	p2 := per[tb.AnyIPNS]
	fmt.Fprintf(p2, "route add %s via %s dev resp0\n", allPrefix, resp2GW)
	fmt.Fprintf(p2, "route add blackhole %s\n", docPrefix)
	for _, p := range tb.AnyIP {
		fmt.Fprintf(p2, "route add local %s dev lo\n", p)
	}

	for _, ns := range nss {
		if err := ipBatch(ctx, ns, per[ns].String()); err != nil {
			return err
		}
	}
	// An address answers only once its local route is in: the kernel adds
	// that from a work item after "addr add" returns, nodad or not.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, ns := range nss {
		if err := waitLocal(wctx, ns, local[ns]); err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	return nil
}

// ipBatch runs `ip -batch -` with cmds on its standard input; with ns != "" it runs
// `ip -6 -n ns -batch -` instead.
func ipBatch(ctx context.Context, ns, cmds string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-6", "-n", ns}, args...)
	}
	_, err := ip(ctx, strings.NewReader(cmds), args...)
	return err
}

// ip runs the iproute2 `ip` binary and returns its standard output. The error carries its
// arguments and standard error.
func ip(ctx context.Context, stdin *strings.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ip", args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// exists reports whether the named network namespace exists.
func exists(ns string) bool {
	_, err := os.Stat(filepath.Join(netnsDir, ns))
	return err == nil
}

// Down removes the four namespaces of the testbed called name ("" means DefaultName), and
// with them their veths, routes and addresses. Namespaces that do not exist are skipped, so
// Down of an absent testbed returns nil. A process still running inside a namespace keeps
// it alive in the kernel, but its name is gone.
func Down(ctx context.Context, name string) error {
	if name == "" {
		name = DefaultName
	}
	if err := checkName(name); err != nil {
		return err
	}
	scan, rtr, resp1, resp2 := Namespaces(name)
	var errs []error
	nss := []string{scan, rtr, resp1, resp2}
	for i := range MaxInstances {
		nss = append(nss, InstanceNS(name, i))
	}
	for _, ns := range nss {
		if !exists(ns) {
			continue
		}
		if _, err := ip(ctx, nil, "netns", "del", ns); err != nil && exists(ns) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("testbed %s down: %w", name, err)
	}
	return nil
}
