package sniffer

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/p2pnet/widescan/icmp"
)

var (
	testNet   = icmp.NetworkFor("sniffer-test")
	peerAddr  = netip.MustParseAddr("2001:db8:1::77")
	peerKeyA  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	selfKey   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	authority = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
)

func pub(k ed25519.PrivateKey) [32]byte { return [32]byte(k.Public().(ed25519.PublicKey)) }

// cardSpec describes a beacon card; the zero value (with key set) is a valid
// card of peerAddr in testNet, expiring an hour after testRecv.
type cardSpec struct {
	key      ed25519.PrivateKey
	addr     netip.Addr
	network  *icmp.NetworkID
	expiry   time.Time
	endorsed bool
	mutate   func(card []byte)
}

func card(t testing.TB, s cardSpec) []byte {
	t.Helper()
	c := icmp.Card{Port: 7000, Expiry: testRecv.Add(time.Hour), Network: testNet, Addr: peerAddr, PublicKey: pub(s.key)}
	if s.addr.IsValid() {
		c.Addr = s.addr
	}
	if s.network != nil {
		c.Network = *s.network
	}
	if !s.expiry.IsZero() {
		c.Expiry = s.expiry
	}
	if s.endorsed {
		c.Endorsed = true
		c.Endorsement = icmp.Endorse(authority, c.Network, c.PublicKey)
	}
	b, err := icmp.AppendCard(nil, s.key, c)
	if err != nil {
		t.Fatal(err)
	}
	if s.mutate != nil {
		s.mutate(b)
	}
	return b
}

// beaconFrame is an Echo Request from src to ourAddr carrying cardBytes.
func beaconFrame(t testing.TB, src netip.Addr, flags uint8, cardBytes []byte) []byte {
	t.Helper()
	msg := icmp.AppendBeaconRequest(nil, icmp.Key{9}, icmp.Probe{ScanID: 5, Sent: testSent, Target: ourAddr, Source: src}, flags, cardBytes)
	c := icmp.Checksum(src, ourAddr, msg)
	msg[2], msg[3] = byte(c>>8), byte(c)
	return rawFrame(t, src, ourAddr, 64, msg)
}

func peerConfig() Config {
	cfg := testConfig()
	cfg.Peers, cfg.Network, cfg.Self = true, testNet, pub(selfKey)
	return cfg
}

func TestDecodePeer(t *testing.T) {
	d := NewDecoder(peerConfig())
	f := beaconFrame(t, peerAddr, 0, card(t, cardSpec{key: peerKeyA}))
	ev := d.DecodeEvent(f, testRecv)
	want := Peer{Addr: peerAddr, PublicKey: peerKeyA.Public().(ed25519.PublicKey), NetworkID: testNet, Port: 7000,
		Expiry: time.Unix(testRecv.Add(time.Hour).Unix(), 0), FirstSeen: testRecv, Via: ViaProbe}
	if ev.Kind != EventPeer || !peerEqual(ev.Peer, want) {
		t.Fatalf("DecodeEvent = %+v, want peer %+v", ev, want)
	}
	// The same card again, and an answer from the same peer: duplicates.
	for _, f := range [][]byte{f, beaconFrame(t, peerAddr, icmp.FlagAnswer, card(t, cardSpec{key: peerKeyA}))} {
		if ev := d.DecodeEvent(f, testRecv.Add(time.Second)); ev.Kind != EventNone {
			t.Fatalf("duplicate reported: %+v", ev)
		}
	}
	if st := d.Stats(); st != (Stats{Beacons: 3, Peers: 1, PeerDuplicate: 2}) {
		t.Fatalf("Stats = %+v", st)
	}
	// Decode (replies only) drops the peer but counts it.
	d = NewDecoder(peerConfig())
	f = beaconFrame(t, peerAddr, icmp.FlagAnswer, card(t, cardSpec{key: peerKeyA}))
	if _, ok := d.Decode(f, testRecv); ok {
		t.Fatal("Decode reported a beacon as a reply")
	}
	if st := d.Stats(); st.Peers != 1 {
		t.Fatalf("Stats = %+v", st)
	}
	ev = NewDecoder(peerConfig()).DecodeEvent(f, testRecv)
	if ev.Kind != EventPeer || ev.Peer.Via != ViaAnswer || ev.Peer.Via.String() != "answer" {
		t.Fatalf("answer: %+v", ev)
	}
}

func peerEqual(a, b Peer) bool {
	return a.Addr == b.Addr && bytes.Equal(a.PublicKey, b.PublicKey) && a.NetworkID == b.NetworkID &&
		a.Port == b.Port && a.Expiry.Equal(b.Expiry) && a.FirstSeen.Equal(b.FirstSeen) && a.Via == b.Via
}

func TestDecodePeerRejects(t *testing.T) {
	otherNet := icmp.NetworkFor("another swarm")
	refuse := func(*icmp.Card) error { return ErrUntrusted }
	endorsedOnly := func(c *icmp.Card) error {
		if !c.VerifyEndorsement(authority.Public().(ed25519.PublicKey)) {
			return ErrUntrusted
		}
		return nil
	}
	tests := []struct {
		name  string
		trust TrustFunc
		frame func() []byte
		want  Stats
	}{
		{"a forged signature is forged", nil, func() []byte {
			return beaconFrame(t, peerAddr, 0, card(t, cardSpec{key: peerKeyA, mutate: func(b []byte) { b[3]++ }}))
		}, Stats{Beacons: 1, Forged: 1}},
		{"a card signed by another key is forged", nil, func() []byte {
			return beaconFrame(t, peerAddr, 0, card(t, cardSpec{key: peerKeyA, mutate: func(b []byte) { copy(b[44:76], selfKey.Public().(ed25519.PublicKey)) }}))
		}, Stats{Beacons: 1, Forged: 1}},
		{"an expired card is expired", nil, func() []byte {
			return beaconFrame(t, peerAddr, 0, card(t, cardSpec{key: peerKeyA, expiry: testRecv.Add(-time.Second)}))
		}, Stats{Beacons: 1, Expired: 1}},
		{"a card expiring at capture time is expired", nil, func() []byte {
			return beaconFrame(t, peerAddr, 0, card(t, cardSpec{key: peerKeyA, expiry: testRecv.Truncate(time.Second)}))
		}, Stats{Beacons: 1, Expired: 1}},
		{"another network's card is wrong-network", nil, func() []byte {
			return beaconFrame(t, peerAddr, 0, card(t, cardSpec{key: peerKeyA, network: &otherNet}))
		}, Stats{Beacons: 1, WrongNetwork: 1}},
		{"a card replayed from another address is replayed", nil, func() []byte {
			return beaconFrame(t, netip.MustParseAddr("2001:db8:1::66"), 0, card(t, cardSpec{key: peerKeyA}))
		}, Stats{Beacons: 1, Replayed: 1}},
		{"our own card is self", nil, func() []byte {
			return beaconFrame(t, peerAddr, 0, card(t, cardSpec{key: selfKey}))
		}, Stats{Beacons: 1, Self: 1}},
		{"a card the policy refuses is untrusted", refuse, func() []byte {
			return beaconFrame(t, peerAddr, 0, card(t, cardSpec{key: peerKeyA}))
		}, Stats{Beacons: 1, Untrusted: 1}},
		{"an unendorsed card under an authority is untrusted", endorsedOnly, func() []byte {
			return beaconFrame(t, peerAddr, 0, card(t, cardSpec{key: peerKeyA}))
		}, Stats{Beacons: 1, Untrusted: 1}},
		{"an endorsed card under its authority is a peer", endorsedOnly, func() []byte {
			return beaconFrame(t, peerAddr, 0, card(t, cardSpec{key: peerKeyA, endorsed: true}))
		}, Stats{Beacons: 1, Peers: 1}},
		{"a malformed card is malformed", nil, func() []byte {
			return beaconFrame(t, peerAddr, 0, card(t, cardSpec{key: peerKeyA, mutate: func(b []byte) { b[0] = 9 }}))
		}, Stats{Beacons: 1, Malformed: 1}},
		{"a card in an echo reply is never a peer", nil, func() []byte {
			f := beaconFrame(t, peerAddr, 0, card(t, cardSpec{key: peerKeyA}))
			f[14+40] = icmp.TypeEchoReply // checksum is not checked by the decoder
			return f
		}, Stats{Received: 1, Invalid: 1}},
		{"a plain echo request is ignored", nil, func() []byte {
			return frame(t, frameSpec{target: target2, typ: icmp.TypeEchoRequest})
		}, Stats{Ignored: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := peerConfig()
			cfg.Trust = tt.trust
			d := NewDecoder(cfg)
			ev := d.DecodeEvent(tt.frame(), testRecv)
			if (ev.Kind == EventPeer) != (tt.want.Peers == 1) || ev.Kind == EventReply {
				t.Fatalf("DecodeEvent = %+v", ev)
			}
			if st := d.Stats(); st != tt.want {
				t.Fatalf("Stats = %+v, want %+v", st, tt.want)
			}
		})
	}
}

// TestDecodeOwnCardEchoed: our beacon probe's Echo Reply carries our card; it
// is a hit, never a peer.
func TestDecodeOwnCardEchoed(t *testing.T) {
	d := NewDecoder(peerConfig())
	own := card(t, cardSpec{key: selfKey, addr: ourAddr})
	msg := icmp.AppendBeaconRequest(nil, testKey, icmp.Probe{ScanID: testScanID, Sent: testSent, Target: target2, Source: ourAddr}, 0, own)
	msg[0] = icmp.TypeEchoReply
	f := rawFrame(t, target2, ourAddr, 61, msg)
	ev := d.DecodeEvent(f, testRecv)
	if ev.Kind != EventReply || ev.Reply.Target != target2 {
		t.Fatalf("DecodeEvent = %+v", ev)
	}
	// The reply to an answer (FlagAnswer) is not a hit.
	msg = icmp.AppendBeaconRequest(nil, testKey, icmp.Probe{ScanID: testScanID, Sent: testSent, Target: peerAddr, Source: ourAddr}, icmp.FlagAnswer, own)
	msg[0] = icmp.TypeEchoReply
	if ev := d.DecodeEvent(rawFrame(t, peerAddr, ourAddr, 61, msg), testRecv); ev.Kind != EventNone {
		t.Fatalf("answer echo = %+v", ev)
	}
	if st := d.Stats(); st != (Stats{Received: 2, Valid: 1, AnswerEchoes: 1}) {
		t.Fatalf("Stats = %+v", st)
	}
}

// TestDecodePeersOff: without Config.Peers, beacons are ignored.
func TestDecodePeersOff(t *testing.T) {
	d := NewDecoder(testConfig())
	if ev := d.DecodeEvent(beaconFrame(t, peerAddr, 0, card(t, cardSpec{key: peerKeyA})), testRecv); ev.Kind != EventNone {
		t.Fatalf("DecodeEvent = %+v", ev)
	}
	if st := d.Stats(); st != (Stats{Ignored: 1}) {
		t.Fatalf("Stats = %+v", st)
	}
	if !errors.Is(ErrUntrusted, ErrUntrusted) || Via(9).String() != "Via(9)" {
		t.Fatal("Via.String")
	}
}

func BenchmarkDecodeBeaconDuplicate(b *testing.B) {
	d := NewDecoder(peerConfig())
	f := beaconFrame(b, peerAddr, 0, card(b, cardSpec{key: peerKeyA}))
	d.DecodeEvent(f, testRecv)
	b.ReportAllocs()
	for b.Loop() {
		d.DecodeEvent(f, testRecv)
	}
}

// TestDecodeVerifyRate: a flood of forged cards is cut at the signature
// check budget, and the cards over it are counted.
func TestDecodeVerifyRate(t *testing.T) {
	cfg := peerConfig()
	cfg.VerifyRate = 10
	d := NewDecoder(cfg)
	for i := range 30 {
		f := beaconFrame(t, peerAddr, 0, card(t, cardSpec{key: peerKeyA, mutate: func(b []byte) { b[139] ^= byte(i + 1) }}))
		d.DecodeEvent(f, testRecv) // all at one instant: only the burst is checked
	}
	if st := d.Stats(); st.Forged != 10 || st.VerifyLimited != 20 || st.Beacons != 30 {
		t.Fatalf("Stats = %+v, want 10 forged, 20 limited", st)
	}
	// A second later the budget is back: a valid card gets through.
	ev := d.DecodeEvent(beaconFrame(t, peerAddr, 0, card(t, cardSpec{key: peerKeyA})), testRecv.Add(time.Second))
	if ev.Kind != EventPeer {
		t.Fatalf("DecodeEvent = %+v", ev)
	}
}
