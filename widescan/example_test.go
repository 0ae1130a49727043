package widescan_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/netip"

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/prefixes"
	"github.com/p2pnet/widescan/widescan"
)

// A dry run sends nothing: it writes each probe to a pcap file, which is how
// a host can count and inspect a scan before running it for real. A live
// scan is the same Config with Interface set and DryRun nil, run as root.
func Example() {
	w, err := prefixes.ParseWindow("2001:db8:100::/56-64", 0)
	if err != nil {
		log.Fatal(err)
	}
	iid, err := generator.ParseIID("low:4")
	if err != nil {
		log.Fatal(err)
	}
	var pcap bytes.Buffer
	s, err := widescan.New(widescan.Config{
		Targets:  []prefixes.Window{w},
		IID:      iid,
		Unblock:  []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")},
		SourceIP: netip.MustParseAddr("2001:db8::1"),
		Rate:     widescan.RateUnlimited,
		DryRun:   &pcap,
		OnHit:    func(h widescan.Hit) { fmt.Println("live:", h.Target) },
	})
	if err != nil {
		log.Fatal(err)
	}
	st, err := s.Run(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("targets=%d written=%d hits=%d\n", st.Targets, st.Sent, st.Hits)
	// Output: targets=1024 written=1024 hits=0
}

// A host node in under 20 lines: scan with a beacon card, hand each verified
// peer (key, address, service port) to the node's own peer network, and serve
// the list at GET /api/peers. Needs root; examples/hostnode goes on to dial
// each peer and prove key possession.
func Example_hostNode() {
	id, err := widescan.LoadOrCreateIdentity("node-identity.pem") // mode 0600, made on first use
	if err != nil {
		log.Fatal(err)
	}
	var peers widescan.PeerTable
	go http.ListenAndServe("[::1]:8080", &peers)
	w, _ := prefixes.ParseWindow("2001:db8::/48-64", 0)
	s, err := widescan.New(widescan.Config{
		Targets: []prefixes.Window{w},
		Unblock: []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")},
		Beacon:  &widescan.Beacon{Identity: id, Topic: "my-swarm", Port: 4001},
		OnPeer:  func(p widescan.Peer) { peers.Add(p); fmt.Println("peer", p.Addr, p.Port) },
	})
	if err != nil {
		log.Fatal(err)
	}
	s.Run(context.Background())
}
