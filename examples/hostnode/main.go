// Command hostnode is a small P2P host node that uses widescan as its
// discovery module. It scans a target window with its beacon card, and for
// each verified peer it dials the peer's advertised TCP port and runs a
// handshake in which both sides prove possession of the ed25519 key that
// their beacon card carries (as diatribe's nodes do), then both send their
// known-peer lists (as JeChain nodes do on handshake). It serves the same
// handshake on -port, and writes what it found as JSON to -result.
//
//	hostnode -iface inst0 -identity id.pem -topic demo -port 7000 \
//	    -target 3fff:0:100::/40-48 -iid fixed:::2 -unblock 3fff::/20 -result out.json
//
// The handshake, one JSON object per line over TCP:
//
//	client → server  {"key": client key, "nonce": 32 random bytes}
//	server → client  {"key": server key, "nonce": 32 random bytes,
//	                  "sig": server's signature of "widescan-hostnode-v1 server" ‖ client nonce ‖ server nonce ‖ client key}
//	client → server  {"sig": client's signature of "widescan-hostnode-v1 client" ‖ server nonce ‖ client nonce ‖ server key,
//	                  "peers": client's known peers}
//	server → client  {"ok": true, "peers": server's known peers}
//
// The client checks that the server's key is the one in the peer's verified
// beacon card, so an address cannot be impersonated. It needs root (widescan
// opens raw sockets); run it inside a network namespace of the testbed.
package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/prefixes"
	"github.com/p2pnet/widescan/widescan"
)

type peerInfo struct {
	Addr string `json:"addr"`
	Port uint16 `json:"port"`
	Key  []byte `json:"key"`
}

type message struct {
	Key   []byte     `json:"key,omitempty"`
	Nonce []byte     `json:"nonce,omitempty"`
	Sig   []byte     `json:"sig,omitempty"`
	OK    bool       `json:"ok,omitempty"`
	Peers []peerInfo `json:"peers,omitempty"`
}

// Result is what -result receives.
type Result struct {
	Addr       string         `json:"addr"`
	Key        []byte         `json:"key"`
	Discovered []string       `json:"discovered"` // peers from beacons
	Handshakes []string       `json:"handshakes"` // peers whose handshake verified (we dialled)
	Inbound    []string       `json:"inbound"`    // peers that completed a handshake with us
	Learned    []string       `json:"learned"`    // addresses learned from peer lists
	Errors     []string       `json:"errors"`     // failed handshakes
	Stats      widescan.Stats `json:"stats"`
}

type node struct {
	id     widescan.Identity
	self   string // our address, left out of what we learn
	mu     sync.Mutex
	known  map[string]peerInfo // by address
	res    Result
	logger *log.Logger
}

func main() {
	iface := flag.String("iface", "", "interface to scan from (required)")
	idPath := flag.String("identity", "hostnode-identity.pem", "identity file (created with mode 0600)")
	topic := flag.String("topic", "widescan-hostnode", "swarm topic")
	port := flag.Int("port", 7000, "TCP port to serve the handshake on and advertise")
	target := flag.String("target", "", "target window, e.g. 3fff:0:100::/40-48 (required)")
	iidFlag := flag.String("iid", "low:1", "IID mode")
	var unblock []netip.Prefix
	flag.Func("unblock", "lift PREFIX from the built-in blocklist (repeatable)", func(s string) error {
		p, err := netip.ParsePrefix(s)
		unblock = append(unblock, p)
		return err
	})
	rate := flag.Float64("rate", 1000, "probes/s")
	cooldown := flag.Duration("cooldown", 5*time.Second, "listen this long after the last probe")
	startAt := flag.Int64("start-at", 0, "wait until this Unix time in ms before scanning (to line several nodes up)")
	serveUntil := flag.Int64("serve-until", 0, "keep serving handshakes until this Unix time in ms")
	resultPath := flag.String("result", "", "write the result as JSON to this file")
	flag.Parse()
	n := &node{known: map[string]peerInfo{}, logger: log.New(os.Stderr, "hostnode: ", 0)}
	if err := n.run(*iface, *idPath, *topic, *port, *target, *iidFlag, unblock, *rate, *cooldown, *startAt, *serveUntil, *resultPath); err != nil {
		n.logger.Fatal(err)
	}
}

func (n *node) run(iface, idPath, topic string, port int, target, iidSpec string, unblock []netip.Prefix,
	rate float64, cooldown time.Duration, startAt, serveUntil int64, resultPath string) error {
	if iface == "" || target == "" {
		return errors.New("-iface and -target are required")
	}
	id, err := widescan.LoadOrCreateIdentity(idPath)
	if err != nil {
		return err
	}
	n.id, n.res.Key = id, id.PublicKey()
	if ifi, err := net.InterfaceByName(iface); err == nil {
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() == nil && ipn.IP.IsGlobalUnicast() {
				n.self = ipn.IP.String()
				break
			}
		}
	}
	n.res.Addr = n.self
	w, err := prefixes.ParseWindow(target, 0)
	if err != nil {
		return err
	}
	iid, err := generator.ParseIID(iidSpec)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp6", "[::]:"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	defer ln.Close()
	go n.serve(ln)

	peers := make(chan widescan.Peer, 1024) // OnPeer must not block: dial elsewhere
	var dials sync.WaitGroup
	dials.Add(1)
	go func() {
		defer dials.Done()
		var wg sync.WaitGroup
		for p := range peers {
			wg.Add(1)
			go func() { defer wg.Done(); n.dial(p) }()
		}
		wg.Wait()
	}()
	s, err := widescan.New(widescan.Config{
		Targets: []prefixes.Window{w}, IID: iid, Unblock: unblock, Interface: iface, Rate: rate, Cooldown: cooldown,
		Beacon: &widescan.Beacon{Identity: id, Topic: topic, Port: uint16(port)},
		OnPeer: func(p widescan.Peer) { peers <- p },
	})
	if err != nil {
		return err
	}
	time.Sleep(time.Until(time.UnixMilli(startAt)))
	st, err := s.Run(context.Background())
	close(peers)
	dials.Wait()
	if err != nil {
		return err
	}
	time.Sleep(time.Until(time.UnixMilli(serveUntil)))
	n.mu.Lock()
	defer n.mu.Unlock()
	n.res.Stats = st
	for _, l := range [][]string{n.res.Discovered, n.res.Handshakes, n.res.Inbound, n.res.Learned} {
		slices.Sort(l)
	}
	n.logger.Printf("discovered %d, handshakes %d, inbound %d, learned %d, forged rejected %d",
		len(n.res.Discovered), len(n.res.Handshakes), len(n.res.Inbound), len(n.res.Learned), st.Forged)
	if resultPath == "" {
		return nil
	}
	b, err := json.MarshalIndent(n.res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(resultPath, append(b, '\n'), 0o644)
}

func (n *node) knownList() []peerInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := make([]peerInfo, 0, len(n.known))
	for _, p := range n.known {
		l = append(l, p)
	}
	return l
}

// learn records the addresses in a peer's list that we did not know.
func (n *node) learn(ps []peerInfo) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range ps {
		if _, ok := n.known[p.Addr]; !ok && p.Addr != n.self && !slices.Contains(n.res.Learned, p.Addr) {
			n.res.Learned = append(n.res.Learned, p.Addr)
		}
	}
}

func signed(role string, a, b, key []byte) []byte {
	return slices.Concat([]byte("widescan-hostnode-v1 "+role), a, b, key)
}

// dial runs the client side of the handshake with a discovered peer.
func (n *node) dial(p widescan.Peer) {
	n.mu.Lock()
	n.res.Discovered = append(n.res.Discovered, p.Addr.String())
	n.known[p.Addr.String()] = peerInfo{Addr: p.Addr.String(), Port: p.Port, Key: p.PublicKey}
	n.mu.Unlock()
	err := n.handshake(p)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		n.res.Errors = append(n.res.Errors, fmt.Sprintf("%s: %v", p.Addr, err))
		return
	}
	n.res.Handshakes = append(n.res.Handshakes, p.Addr.String())
}

func (n *node) handshake(p widescan.Peer) error {
	var c net.Conn
	var err error
	for try := 0; try < 5; try++ { // the peer's server may still be starting
		if c, err = net.DialTimeout("tcp6", netip.AddrPortFrom(p.Addr, p.Port).String(), 2*time.Second); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	enc, dec := json.NewEncoder(c), json.NewDecoder(bufio.NewReader(c))
	nonce := make([]byte, 32)
	rand.Read(nonce)
	if err := enc.Encode(message{Key: n.id.PublicKey(), Nonce: nonce}); err != nil {
		return err
	}
	var m message
	if err := dec.Decode(&m); err != nil {
		return err
	}
	if !ed25519.PublicKey(m.Key).Equal(p.PublicKey) {
		return errors.New("server key is not the key of its beacon card")
	}
	if len(m.Nonce) != 32 || !ed25519.Verify(p.PublicKey, signed("server", nonce, m.Nonce, n.id.PublicKey()), m.Sig) {
		return errors.New("server did not prove possession of its key")
	}
	sig := ed25519.Sign(n.id.PrivateKey, signed("client", m.Nonce, nonce, p.PublicKey))
	if err := enc.Encode(message{Sig: sig, Peers: n.knownList()}); err != nil {
		return err
	}
	if err := dec.Decode(&m); err != nil || !m.OK {
		return fmt.Errorf("server refused our proof (%v)", err)
	}
	n.learn(m.Peers)
	return nil
}

func (n *node) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			enc, dec := json.NewEncoder(c), json.NewDecoder(bufio.NewReader(c))
			var hello message
			if err := dec.Decode(&hello); err != nil || len(hello.Key) != ed25519.PublicKeySize || len(hello.Nonce) != 32 {
				return
			}
			nonce := make([]byte, 32)
			rand.Read(nonce)
			sig := ed25519.Sign(n.id.PrivateKey, signed("server", hello.Nonce, nonce, hello.Key))
			if err := enc.Encode(message{Key: n.id.PublicKey(), Nonce: nonce, Sig: sig}); err != nil {
				return
			}
			var proof message
			if err := dec.Decode(&proof); err != nil ||
				!ed25519.Verify(hello.Key, signed("client", nonce, hello.Nonce, n.id.PublicKey()), proof.Sig) {
				enc.Encode(message{OK: false})
				return
			}
			enc.Encode(message{OK: true, Peers: n.knownList()})
			from := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap().String()
			n.learn(proof.Peers)
			n.mu.Lock()
			n.res.Inbound = append(n.res.Inbound, from)
			n.mu.Unlock()
		}()
	}
}
