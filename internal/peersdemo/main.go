// Command peersdemo shows widescan instances finding and trusting each other:
// `make peers-demo` runs it as
//
//	go run ./internal/peersdemo -hostnode bin/hostnode
//
// It builds a testbed named "wspeers" with 8 instance namespaces (see
// testbed.Config.Instances), starts examples/hostnode in each of them, all
// scanning the instance window 3fff:0:100::/40-48 (IID ::2) with their
// beacon cards at the same moment, and, while they listen, injects forged
// cards from the testbed's scanner namespace: one with a corrupted
// signature and one that claims instance 0's key, to every instance. Each
// host node dials the peers it discovered, proves key possession in both
// directions and swaps peer lists. The demo then reads the nodes' results,
// removes the testbed and prints
//
//	peers-demo: instances=8 discovered=D/56 verified_handshakes=H/56 forged_rejected=R/R
//
// where D counts ordered pairs (A discovered B), H the handshakes A→B that
// verified, and R the forged cards injected, of which the nodes counted
// R' as forged (printed R'/R). It exits non-zero unless D and H are 56 and
// every forged card was rejected as forged. It needs root and iproute2.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/p2pnet/widescan/icmp"
	"github.com/p2pnet/widescan/internal/testbed"
	"github.com/p2pnet/widescan/widescan"
)

const (
	testbedName = "wspeers"
	topic       = "peers-demo"
	servicePort = 7000
	window      = "3fff:0:100::/40-48"
)

func main() {
	hostnode := flag.String("hostnode", "bin/hostnode", "path of the examples/hostnode binary")
	n := flag.Int("instances", 8, "number of instances")
	keep := flag.Bool("keep", false, "leave the testbed and the work directory in place")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo(ctx, *hostnode, *n, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "peers-demo: %v\n", err)
		os.Exit(1)
	}
}

// result is the part of examples/hostnode's result file the demo reads.
type result struct {
	Addr       string         `json:"addr"`
	Discovered []string       `json:"discovered"`
	Handshakes []string       `json:"handshakes"`
	Learned    []string       `json:"learned"`
	Errors     []string       `json:"errors"`
	Stats      widescan.Stats `json:"stats"`
}

func demo(ctx context.Context, hostnode string, n int, keep bool) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("needs root to build the network-namespace testbed (sudo make peers-demo)")
	}
	hn, err := filepath.Abs(hostnode)
	if err != nil {
		return err
	}
	if _, err := os.Stat(hn); err != nil {
		return fmt.Errorf("hostnode binary: %w (make peers-demo builds it)", err)
	}
	dir, err := os.MkdirTemp("", "widescan-peers-demo-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	// Identities made here, so that the demo knows instance 0's key to
	// forge a card that claims it.
	ids := make([]widescan.Identity, n)
	for i := range ids {
		if ids[i], err = widescan.LoadOrCreateIdentity(filepath.Join(dir, fmt.Sprintf("id%d.pem", i))); err != nil {
			return err
		}
	}
	tb, err := testbed.Up(ctx, testbed.Config{Name: testbedName, Instances: n})
	if err != nil {
		return err
	}
	defer func() {
		if keep {
			fmt.Fprintf(os.Stderr, "peers-demo: -keep: testbed %s and %s left in place\n", tb.Name, dir)
			return
		}
		if derr := testbed.Down(context.Background(), tb.Name); derr != nil {
			err = errors.Join(err, derr)
		}
	}()

	start := time.Now().Add(2 * time.Second)
	cooldown := 5 * time.Second
	serveUntil := start.Add(cooldown + 6*time.Second)
	procs := make([]*exec.Cmd, n)
	for i, in := range tb.Instances {
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", in.NS, hn,
			"-iface", in.Iface, "-identity", filepath.Join(dir, fmt.Sprintf("id%d.pem", i)),
			"-topic", topic, "-port", strconv.Itoa(servicePort),
			"-target", window, "-iid", "fixed:::2", "-unblock", "3fff::/20", "-rate", "2000",
			"-cooldown", cooldown.String(),
			"-start-at", strconv.FormatInt(start.UnixMilli(), 10),
			"-serve-until", strconv.FormatInt(serveUntil.UnixMilli(), 10),
			"-result", filepath.Join(dir, fmt.Sprintf("result%d.json", i)))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start hostnode %d: %w", i, err)
		}
		procs[i] = cmd
	}
	fmt.Fprintf(os.Stderr, "peers-demo: %d host nodes started in %s-i0…%d, scanning %s at %s\n",
		n, tb.Name, n-1, window, start.Format(time.TimeOnly))

	// Forge while every node is in its cooldown, listening.
	time.Sleep(time.Until(start.Add(1500 * time.Millisecond)))
	injected, ferr := forge(tb, ids[0].PublicKey())
	var werrs []error
	for i, p := range procs {
		if err := p.Wait(); err != nil {
			werrs = append(werrs, fmt.Errorf("hostnode %d: %w", i, err))
		}
	}
	if err := errors.Join(append(werrs, ferr)...); err != nil {
		return err
	}

	addrs := map[string]int{}
	for i, in := range tb.Instances {
		addrs[in.Addr.String()] = i
	}
	var discovered, handshakes, forged int
	for i := range n {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("result%d.json", i)))
		if err != nil {
			return err
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("result %d: %w", i, err)
		}
		discovered += countPeers(r.Discovered, addrs, i)
		handshakes += countPeers(r.Handshakes, addrs, i)
		forged += int(r.Stats.Forged)
		for _, e := range r.Errors {
			fmt.Fprintf(os.Stderr, "peers-demo: instance %d: handshake %s\n", i, e)
		}
	}
	pairs := n * (n - 1)
	fmt.Printf("peers-demo: instances=%d discovered=%d/%d verified_handshakes=%d/%d forged_rejected=%d/%d\n",
		n, discovered, pairs, handshakes, pairs, forged, injected)
	if discovered != pairs || handshakes != pairs || forged != injected {
		return errors.New("not every pair discovered and verified, or a forged card not rejected")
	}
	return nil
}

// countPeers counts the distinct instance addresses in l other than
// instance self's.
func countPeers(l []string, addrs map[string]int, self int) int {
	seen := map[string]bool{}
	for _, a := range l {
		if i, ok := addrs[a]; ok && i != self && !seen[a] {
			seen[a] = true
		}
	}
	return len(seen)
}

// forge sends two forged beacon cards to every instance from the testbed's
// scanner namespace: one whose signature is corrupted, and one that claims
// victim's key but is signed by another key. Both carry the demo's network,
// a valid expiry and the sender's own address, so that only the signature
// check can reject them. It returns how many it sent.
func forge(tb *testbed.Testbed, victim ed25519.PublicKey) (int, error) {
	_, mallory, err := ed25519.GenerateKey(nil)
	if err != nil {
		return 0, err
	}
	c := icmp.Card{
		Port:      servicePort,
		Expiry:    time.Now().Add(time.Hour),
		Network:   icmp.NetworkFor(topic),
		Addr:      tb.ScannerAddr,
		PublicKey: [32]byte(mallory.Public().(ed25519.PublicKey)),
	}
	corrupted, err := icmp.AppendCard(nil, mallory, c)
	if err != nil {
		return 0, err
	}
	corrupted[len(corrupted)-1] ^= 0x01
	claimed, err := icmp.AppendCard(nil, mallory, c)
	if err != nil {
		return 0, err
	}
	copy(claimed[44:76], victim) // the public key field (icmp.Card layout)
	var targets [][16]byte
	for _, in := range tb.Instances {
		targets = append(targets, in.Addr.As16())
	}
	sent := 0
	err = tb.Do(tb.ScannerNS, func() error {
		for _, card := range [][]byte{corrupted, claimed} {
			s, err := icmp.NewSender(icmp.SenderConfig{Interface: tb.ScanIface, Source: tb.ScannerAddr, Card: card})
			if err != nil {
				return err
			}
			k, err := s.Send(context.Background(), targets)
			s.Close()
			sent += k
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && sent != 2*len(targets) {
		err = fmt.Errorf("sent %d of %d forged cards", sent, 2*len(targets))
	}
	fmt.Fprintf(os.Stderr, "peers-demo: injected %d forged cards from %v\n", sent, netip.Addr(tb.ScannerAddr))
	return sent, err
}
