package widescan

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/p2pnet/widescan/icmp"
	"github.com/p2pnet/widescan/sniffer"
)

// Beacon defaults.
const (
	// DefaultCardTTL is the lifetime of a beacon card when Beacon.TTL is 0.
	DefaultCardTTL = 24 * time.Hour
	// DefaultAnswerInterval is the least time between two answers to the
	// same source address when Beacon.AnswerInterval is 0.
	DefaultAnswerInterval = time.Minute
	// NoAnswer, as Beacon.AnswerInterval, never answers beacons.
	NoAnswer = time.Duration(-1)
)

// Beacon makes an instance carry its signed identity card in every probe
// (icmp.FlagBeacon) and recognise other instances' cards: see package icmp
// for the card, package sniffer for the checks. Identity is required.
type Beacon struct {
	// Identity signs the card; see LoadOrCreateIdentity. Required.
	Identity Identity
	// Topic names the swarm: the card's network ID is
	// icmp.NetworkFor(Topic), and only peers of the same network are
	// reported. "" is a valid topic.
	Topic string
	// Port is the advertised service port (TCP) of the host node; 0 for
	// none.
	Port uint16
	// TTL is the card's lifetime from the start of the run; 0 means
	// DefaultCardTTL (24 h). The card is signed once, at start: a
	// listener running longer than TTL signs a new card when the old one
	// has less than half its lifetime left.
	TTL time.Duration
	// Endorsement, when not nil, is an authority's endorsement of
	// Identity's key for the network (icmp.Endorse), carried in the card
	// for peers with an authority trust policy.
	Endorsement *[ed25519.SignatureSize]byte
	// Trust is the policy for other instances' keys. Zero: trustless.
	Trust Trust
	// AnswerInterval limits answers: a new peer that probed us is answered
	// once with our card (an Echo Request with icmp.FlagAnswer, which is
	// never answered back), and a source address is answered at most once
	// per AnswerInterval. 0 means DefaultAnswerInterval (1 min); NoAnswer
	// (or any negative value) never answers.
	AnswerInterval time.Duration
}

// Network returns the beacon's network ID, icmp.NetworkFor(b.Topic).
func (b *Beacon) Network() icmp.NetworkID { return icmp.NetworkFor(b.Topic) }

// Validate reports whether b is usable.
func (b *Beacon) Validate() error {
	if len(b.Identity.PrivateKey) != ed25519.PrivateKeySize {
		return errors.New("widescan: beacon: identity required")
	}
	if b.TTL < 0 {
		return fmt.Errorf("widescan: beacon: negative TTL %v", b.TTL)
	}
	return b.Trust.Validate()
}

func (b *Beacon) ttl() time.Duration {
	if b.TTL == 0 {
		return DefaultCardTTL
	}
	return b.TTL
}

func (b *Beacon) answerInterval() time.Duration {
	if b.AnswerInterval == 0 {
		return DefaultAnswerInterval
	}
	return b.AnswerInterval
}

// Card signs and encodes b's card for the address addr, valid from now for
// TTL. It is what a run puts in its probes.
func (b *Beacon) Card(addr netip.Addr, now time.Time) ([]byte, error) {
	c := icmp.Card{
		Port:      b.Port,
		Expiry:    now.Add(b.ttl()),
		Network:   b.Network(),
		Addr:      addr,
		PublicKey: [32]byte(b.Identity.PublicKey()),
	}
	if b.Endorsement != nil {
		c.Endorsed, c.Endorsement = true, *b.Endorsement
	}
	card, err := icmp.AppendCard(nil, b.Identity.PrivateKey, c)
	if err != nil {
		return nil, fmt.Errorf("widescan: beacon: %w", err)
	}
	return card, nil
}

// Via says how a peer's card reached us: ViaProbe (its scan probed us) or
// ViaAnswer (it answered our beacon).
type Via = sniffer.Via

// Values of Via.
const (
	ViaProbe  = sniffer.ViaProbe
	ViaAnswer = sniffer.ViaAnswer
)

// Peer is another widescan instance of our network whose card passed the
// signature, expiry, address and trust checks. Each (PublicKey, Addr) is
// reported once per run. Its fields are sniffer.Peer's; widescan adds the
// JSON form the reports use.
type Peer sniffer.Peer

// answerSender is what peerEngine needs of an *icmp.Sender (an interface so
// that tests can count answers without a raw socket).
type answerSender interface {
	Send(ctx context.Context, targets [][16]byte) (int, error)
	SetCard(card []byte) error
	Close() error
}

// peerEngine is the beacon side of a run: the card, the answering Sender
// with its per-source rate limit, and the answer counters.
type peerEngine struct {
	b      *Beacon
	src    netip.Addr
	onPeer func(Peer)

	mu      sync.Mutex // guards the fields below
	card    []byte
	expires time.Time
	answer  answerSender
	last    map[netip.Addr]time.Time
	answers atomic.Uint64
	limited atomic.Uint64
	errs    atomic.Uint64
}

func newPeerEngine(b *Beacon, src netip.Addr, now time.Time) (*peerEngine, error) {
	card, err := b.Card(src, now)
	if err != nil {
		return nil, err
	}
	return &peerEngine{b: b, src: src, card: card, expires: now.Add(b.ttl()), last: map[netip.Addr]time.Time{}}, nil
}

// sniffConfig fills the peer fields of a sniffer config.
func (e *peerEngine) sniffConfig(c *sniffer.Config) {
	c.Peers = true
	c.Network = e.b.Network()
	c.Self = [32]byte(e.b.Identity.PublicKey())
	c.Trust = e.b.Trust.trustFunc()
}

// openAnswers opens the answering socket; it must run in the namespace of
// ifname. Without answers (NoAnswer) it does nothing.
func (e *peerEngine) openAnswers(ifname string, hop int, key icmp.Key, scanID uint64) error {
	if e.b.answerInterval() < 0 {
		return nil
	}
	s, err := icmp.NewSender(icmp.SenderConfig{Interface: ifname, Source: e.src, HopLimit: hop, Key: key, ScanID: scanID, Card: e.card, Answer: true})
	if err != nil {
		return fmt.Errorf("widescan: answer socket: %w", err)
	}
	e.answer = s
	return nil
}

func (e *peerEngine) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.answer != nil {
		e.answer.Close()
	}
}

// handle reports p and answers it when it probed us.
func (e *peerEngine) handle(p sniffer.Peer, now time.Time) {
	if e.onPeer != nil {
		e.onPeer(Peer(p))
	}
	if p.Via != ViaProbe {
		return // an answer is never answered: no ping-pong
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.answer == nil {
		return
	}
	iv := e.b.answerInterval()
	if t, ok := e.last[p.Addr]; ok && now.Sub(t) < iv {
		e.limited.Add(1)
		return
	}
	if len(e.last) >= 4096 { // forget sources answered long ago
		for a, t := range e.last {
			if now.Sub(t) >= iv {
				delete(e.last, a)
			}
		}
	}
	e.last[p.Addr] = now
	if n, err := e.answer.Send(context.Background(), [][16]byte{p.Addr.As16()}); n == 1 && err == nil {
		e.answers.Add(1)
	} else {
		e.errs.Add(1)
	}
}

// renew re-signs the card when less than half its lifetime is left, for long
// listens, and gives it to the answering Sender.
func (e *peerEngine) renew(now time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.expires.Sub(now) > e.b.ttl()/2 {
		return nil
	}
	card, err := e.b.Card(e.src, now)
	if err != nil {
		return err
	}
	if e.answer != nil {
		if err := e.answer.SetCard(card); err != nil {
			return fmt.Errorf("widescan: renew card: %w", err)
		}
	}
	e.card, e.expires = card, now.Add(e.b.ttl())
	return nil
}
