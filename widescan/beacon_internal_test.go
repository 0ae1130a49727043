package widescan

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/p2pnet/widescan/icmp"
	"github.com/p2pnet/widescan/sniffer"
)

// TestCardRenewal: the card is signed once, and again only when less than
// half its lifetime is left.
func TestCardRenewal(t *testing.T) {
	id, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	b := &Beacon{Identity: id, Topic: "t", Port: 9, TTL: time.Hour}
	t0 := time.Unix(1700000000, 0)
	e, err := newPeerEngine(b, netip.MustParseAddr("2001:db8::5"), t0)
	if err != nil {
		t.Fatal(err)
	}
	first := e.card
	c, err := icmp.ParseCard(first)
	if err != nil || c.Verify() != nil || !c.Expiry.Equal(t0.Add(time.Hour)) || c.Port != 9 || c.Network != icmp.NetworkFor("t") {
		t.Fatalf("card %+v, %v", c, err)
	}
	if err := e.renew(t0.Add(29 * time.Minute)); err != nil || !bytes.Equal(e.card, first) {
		t.Fatalf("renewed too early (%v)", err)
	}
	if err := e.renew(t0.Add(31 * time.Minute)); err != nil || bytes.Equal(e.card, first) {
		t.Fatalf("not renewed after half its lifetime (%v)", err)
	}
	c, _ = icmp.ParseCard(e.card)
	if !c.Expiry.Equal(t0.Add(91*time.Minute)) || c.Verify() != nil {
		t.Fatalf("renewed card %+v", c)
	}
}

type fakeAnswers struct{ sent []netip.Addr }

func (f *fakeAnswers) Send(_ context.Context, ts [][16]byte) (int, error) {
	for _, t := range ts {
		f.sent = append(f.sent, netip.AddrFrom16(t))
	}
	return len(ts), nil
}
func (f *fakeAnswers) SetCard([]byte) error { return nil }
func (f *fakeAnswers) Close() error         { return nil }

// TestAnswers: a peer that probed us is answered, once per source per
// AnswerInterval; a peer that answered us is never answered (no ping-pong).
func TestAnswers(t *testing.T) {
	id, _ := NewIdentity()
	b := &Beacon{Identity: id, AnswerInterval: time.Minute}
	t0 := time.Unix(1700000000, 0)
	e, err := newPeerEngine(b, netip.MustParseAddr("2001:db8::5"), t0)
	if err != nil {
		t.Fatal(err)
	}
	fa := &fakeAnswers{}
	e.answer = fa
	var reported int
	e.onPeer = func(Peer) { reported++ }
	p1, p2 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	e.handle(sniffer.Peer{Addr: p1, Via: ViaProbe}, t0)
	e.handle(sniffer.Peer{Addr: p1, Via: ViaProbe}, t0.Add(time.Second))  // another key, same source: limited
	e.handle(sniffer.Peer{Addr: p2, Via: ViaAnswer}, t0.Add(time.Second)) // an answer: never answered
	e.handle(sniffer.Peer{Addr: p1, Via: ViaProbe}, t0.Add(2*time.Minute))
	if len(fa.sent) != 2 || fa.sent[0] != p1 || fa.sent[1] != p1 || reported != 4 {
		t.Fatalf("answered %v, reported %d; want [%v %v], 4", fa.sent, reported, p1, p1)
	}
	if e.answers.Load() != 2 || e.limited.Load() != 1 {
		t.Fatalf("answers=%d limited=%d, want 2, 1", e.answers.Load(), e.limited.Load())
	}
}
