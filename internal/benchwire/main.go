// Command benchwire is `make bench-wire`: it measures widescan's two send
// paths on a sealed two-namespace testbed and prints one summary line.
//
// Topology: namespace wsbw-scan (veth bw0, 02:00:00:00:00:01,
// 2001:db8:1::1/64) and namespace wsbw-resp (veth bw1, 02:00:00:00:00:02,
// 2001:db8:1::2/64), joined by one veth pair. The responder answers every
// address of 2001:db8:100::/48 through the kernel's own ICMPv6 stack (an
// AnyIP local route) and blackholes the rest of 2001:db8::/32; ICMPv6 rate
// limits are off. The scanner routes 2001:db8::/32 via 2001:db8:1::2
// (permanent neighbour entries on both sides).
//
// For each send path, raw then packet, it scans 2,000,000 targets of
// 2001:db8:100::/48-80 with the IID low:1, uncapped, with the same
// permutation seed, and reports the achieved send rate, the replies
// captured (hits / probes sent), the kernel's capture drops, and the
// process's CPU time (user + system, getrusage) per million probes. It
// ends with exactly
//
//	bench-wire: raw_pps=A packet_pps=B ratio=C replies_captured=R% kernel_drops=K
//
// where R and K are the packet path's. It needs root and iproute2, sends
// nothing outside the namespaces it creates, and removes them on exit.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/internal/testbed"
	"github.com/p2pnet/widescan/prefixes"
	"github.com/p2pnet/widescan/widescan"
)

const (
	scanNS = "wsbw-scan"
	respNS = "wsbw-resp"
	iface  = "bw0"
)

func main() {
	targets := flag.Uint64("targets", 2_000_000, "targets per send path")
	rate := flag.Float64("rate", 0, "probe rate in probes/s; 0 is uncapped")
	ring := flag.Int("ring-mib", 256, "capture ring size in MiB")
	cooldown := flag.Duration("cooldown", 2*time.Second, "listening time after the last probe")
	paths := flag.String("paths", "raw,packet", "send paths to measure, in order")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench-wire: needs root (network namespaces)")
		os.Exit(2)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	err := run(ctx, *targets, *rate, *ring<<20, *cooldown, strings.Split(*paths, ","))
	if derr := down(); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-wire:", err)
		os.Exit(1)
	}
}

type result struct {
	path     widescan.SendPath
	st       widescan.Stats
	cpu      time.Duration
	captured float64
}

func run(ctx context.Context, n uint64, rate float64, ring int, cooldown time.Duration, paths []string) error {
	if err := up(ctx); err != nil {
		return err
	}
	res := map[widescan.SendPath]result{}
	for _, p := range paths {
		sp, err := widescan.ParseSendPath(p)
		if err != nil {
			return err
		}
		r, err := scan(ctx, sp, n, rate, ring, cooldown)
		if err != nil {
			return fmt.Errorf("%s path: %w", sp, err)
		}
		res[sp] = r
		st := r.st
		fmt.Printf("bench-wire: path=%s sent=%d pps=%.0f hits=%d replies_captured=%.2f%% kernel_drops=%d send_errors=%d cpu_s=%.2f cpu_s_per_mprobe=%.3f send_s=%.2f\n",
			sp, st.Sent, st.SendRate(), st.Hits, r.captured, st.KernelDrops, st.SendErrors,
			r.cpu.Seconds(), r.cpu.Seconds()/float64(max(1, st.Sent))*1e6, st.LastProbe.Sub(st.Start).Seconds())
	}
	raw, pk := res[widescan.SendPathRaw], res[widescan.SendPathPacket]
	ratio := 0.0
	if raw.st.SendRate() > 0 {
		ratio = pk.st.SendRate() / raw.st.SendRate()
	}
	fmt.Printf("bench-wire: raw_pps=%.0f packet_pps=%.0f ratio=%.2f replies_captured=%.2f%% kernel_drops=%d\n",
		raw.st.SendRate(), pk.st.SendRate(), ratio, pk.captured, pk.st.KernelDrops)
	return nil
}

func scan(ctx context.Context, path widescan.SendPath, n uint64, rate float64, ring int, cooldown time.Duration) (result, error) {
	w, err := prefixes.ParseWindow("2001:db8:100::/48-80", 64)
	if err != nil {
		return result{}, err
	}
	iid, err := generator.ParseIID("low:1")
	if err != nil {
		return result{}, err
	}
	cfg := widescan.Config{
		Targets:    []prefixes.Window{w},
		IID:        iid,
		Unblock:    []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")},
		PermSeed:   0x5eed,
		MaxTargets: n,
		Rate:       widescan.RateUnlimited,
		Interface:  iface,
		Cooldown:   cooldown,
		SendPath:   path,
		RingBytes:  ring,
	}
	if rate > 0 {
		cfg.Rate = rate
	}
	var r result
	r.path = path
	err = testbed.RunIn(scanNS, func() error {
		s, err := widescan.New(cfg)
		if err != nil {
			return err
		}
		before := cpuTime()
		st, err := s.Run(ctx)
		r.cpu = cpuTime() - before
		r.st = st
		return err
	})
	if err != nil {
		return r, err
	}
	if r.st.SendPath != path {
		return r, fmt.Errorf("ran on the %s path (%s)", r.st.SendPath, r.st.SendPathNote)
	}
	r.captured = 100 * float64(r.st.Hits) / float64(max(1, r.st.Sent))
	return r, nil
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var sysctls = map[string]string{
	"net/ipv6/icmp/ratelimit":                    "0",
	"net/ipv6/conf/all/accept_dad":               "0",
	"net/ipv6/conf/default/accept_dad":           "0",
	"net/ipv6/conf/all/accept_ra":                "0",
	"net/ipv6/conf/default/accept_ra":            "0",
	"net/ipv6/conf/default/router_solicitations": "0",
}

func up(ctx context.Context) error {
	if err := down(); err != nil {
		return err
	}
	for _, ns := range []string{scanNS, respNS} {
		if err := ip(ctx, "", "netns add "+ns); err != nil {
			return err
		}
		err := testbed.RunIn(ns, func() error {
			for k, v := range sysctls {
				if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	if err := ip(ctx, "", "link add bw0 netns "+scanNS+" address 02:00:00:00:00:01 type veth peer name bw1 netns "+respNS+" address 02:00:00:00:00:02"); err != nil {
		return err
	}
	if err := ip(ctx, scanNS, `link set lo up
link set bw0 up
addr add 2001:db8:1::1/64 dev bw0 nodad
neigh replace 2001:db8:1::2 lladdr 02:00:00:00:00:02 dev bw0 nud permanent
route add 2001:db8::/32 via 2001:db8:1::2 dev bw0`); err != nil {
		return err
	}
	return ip(ctx, respNS, `link set lo up
link set bw1 up
addr add 2001:db8:1::2/64 dev bw1 nodad
neigh replace 2001:db8:1::1 lladdr 02:00:00:00:00:01 dev bw1 nud permanent
route add local 2001:db8:100::/48 dev lo
route add blackhole 2001:db8::/32`)
}

// down removes the two namespaces (absent ones are skipped).
func down() error {
	for _, ns := range []string{scanNS, respNS} {
		if _, err := os.Stat(filepath.Join("/var/run/netns", ns)); err != nil {
			continue
		}
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			return fmt.Errorf("ip netns del %s: %w: %s", ns, err, out)
		}
	}
	return nil
}

// ip runs `ip -batch -` (in namespace ns when not empty) with cmds.
func ip(ctx context.Context, ns, cmds string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdin = strings.NewReader(cmds + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
