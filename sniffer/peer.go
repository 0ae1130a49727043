package sniffer

import (
	"crypto/ed25519"
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/p2pnet/widescan/icmp"
)

// Via says how a peer's card reached us.
type Via uint8

const (
	// ViaProbe: the peer's scan probed one of our addresses (an inbound
	// Echo Request carrying its card).
	ViaProbe Via = iota + 1
	// ViaAnswer: the peer answered our beacon with its own card (an Echo
	// Request with icmp.FlagAnswer).
	ViaAnswer
)

// String returns "probe", "answer" or "Via(N)".
func (v Via) String() string {
	switch v {
	case ViaProbe:
		return "probe"
	case ViaAnswer:
		return "answer"
	}
	return "Via(" + strconv.Itoa(int(v)) + ")"
}

// Peer is another widescan instance whose beacon card passed every check:
// signature, expiry, network, source address and trust policy.
type Peer struct {
	// Addr is the peer's IPv6 address: the card's address, which equals the
	// source of the packet that carried it.
	Addr netip.Addr
	// PublicKey is the peer's ed25519 public key.
	PublicKey ed25519.PublicKey
	// NetworkID is the swarm the peer belongs to (ours).
	NetworkID icmp.NetworkID
	// Port is the peer's advertised service port (TCP); 0 for none.
	Port uint16
	// Expiry is when the peer's card expires.
	Expiry time.Time
	// FirstSeen is the capture time of the first valid card.
	FirstSeen time.Time
	// Via says whether the peer probed us or answered our beacon.
	Via Via
}

// ErrUntrusted is what a TrustFunc returns (possibly wrapped) for a card it
// refuses. The decoder counts any non-nil TrustFunc result in
// Stats.Untrusted.
var ErrUntrusted = errors.New("sniffer: key not trusted")

// TrustFunc decides whether a card whose signature, expiry, network and
// address already checked is trusted: nil accepts it. It is called from the
// goroutine that decodes, at most once per new (key, address) pair and card
// signature; it must be safe for that use and should be fast.
type TrustFunc func(c *icmp.Card) error

// EventKind tells what an Event holds.
type EventKind uint8

const (
	// EventNone: the frame produced nothing to report.
	EventNone EventKind = iota
	// EventReply: a validated, first-seen Echo Reply (Event.Reply).
	EventReply
	// EventPeer: a validated, first-seen peer (Event.Peer).
	EventPeer
)

// String returns "none", "reply", "peer" or "EventKind(N)".
func (k EventKind) String() string {
	switch k {
	case EventNone:
		return "none"
	case EventReply:
		return "reply"
	case EventPeer:
		return "peer"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is what one frame produced: a Reply, a Peer, or nothing.
type Event struct {
	// Kind says which of Reply and Peer is set.
	Kind EventKind
	// Reply is set when Kind is EventReply.
	Reply Reply
	// Peer is set when Kind is EventPeer.
	Peer Peer
}
