package icmp

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Flags of the probe payload's flags byte (offset 5). Receivers ignore the
// other bits.
const (
	// FlagBeacon says that a Card follows the 56-byte version 1 payload.
	FlagBeacon = 1 << 0
	// FlagAnswer marks an Echo Request sent in answer to another
	// instance's beacon. It is never answered itself, so two instances
	// cannot ping-pong, and the Echo Reply it draws is not a hit.
	FlagAnswer = 1 << 1
)

// Card sizes in bytes (card version 1).
const (
	// CardLen is the length of a card without an endorsement.
	CardLen = 140
	// EndorsedCardLen is the length of a card that carries an authority's
	// endorsement (CardFlagEndorsed).
	EndorsedCardLen = CardLen + ed25519.SignatureSize
	// CardVersion is the card layout version written by AppendCard and the
	// only one ParseCard accepts.
	CardVersion = 1
	// CardFlagEndorsed, in the card's own flags byte, says that a 64-byte
	// endorsement precedes the signature.
	CardFlagEndorsed = 1 << 0
)

// Offsets inside a card.
const (
	cardOffVersion = 0
	cardOffFlags   = 1
	cardOffPort    = 2
	cardOffExpiry  = 4
	cardOffNetwork = 12
	cardOffAddr    = 28
	cardOffKey     = 44
	cardOffEndorse = 76 // endorsement, or signature when not endorsed
)

// cardContext and endorseContext separate the messages this package signs
// from any other use of the same ed25519 key (domain separation).
const (
	cardContext    = "widescan card v1\x00"
	endorseContext = "widescan endorsement v1\x00"
	networkContext = "widescan network v1\x00"
)

// Errors returned by ParseCard and Card.Verify; match them with errors.Is.
var (
	// ErrMalformedCard: the bytes are not a version 1 card (length,
	// version, an address that is not IPv6).
	ErrMalformedCard = errors.New("icmp: malformed beacon card")
	// ErrBadSignature: the card's ed25519 signature does not verify under
	// the card's own public key (forged or corrupted).
	ErrBadSignature = errors.New("icmp: bad beacon card signature")
)

// NetworkID names a swarm: instances report only peers whose cards carry
// their own NetworkID. It is the first 16 bytes of SHA-256 over
// "widescan network v1\x00" ‖ topic (see NetworkFor).
type NetworkID [16]byte

// NetworkFor returns the NetworkID of a topic string, as Easypeers derives a
// swarm identifier from a topic. Any string, including "", is a topic.
func NetworkFor(topic string) NetworkID {
	h := sha256.Sum256([]byte(networkContext + topic))
	return NetworkID(h[:16])
}

// String returns id as 32 lower-case hexadecimal digits.
func (id NetworkID) String() string { return hex.EncodeToString(id[:]) }

// Card is a beacon card: a widescan instance's signed identity, carried after
// the probe payload when FlagBeacon is set. It is signed once (AppendCard)
// and copied into every probe unchanged.
//
// Layout, card version 1 (integers big-endian, offsets from the card's
// start):
//
//	offset  size  field
//	     0     1  card version = 1
//	     1     1  card flags: bit 0 CardFlagEndorsed; the others 0
//	     2     2  service port (TCP), 0 for none
//	     4     8  expiry: int64 seconds since the Unix epoch (UTC)
//	    12    16  network ID
//	    28    16  address: the IPv6 address the card is valid from
//	    44    32  ed25519 public key (RFC 8032)
//	    76    64  endorsement, only when CardFlagEndorsed: the authority's
//	              ed25519 signature over "widescan endorsement v1\x00" ‖
//	              network ID ‖ public key
//	 76|140   64  signature: ed25519 over "widescan card v1\x00" ‖ every
//	              card byte before it
//
// CardLen = 140 bytes, EndorsedCardLen = 204 bytes.
type Card struct {
	// Port is the advertised service port (TCP) of the instance's host
	// node; 0 means none.
	Port uint16
	// Expiry is when the card stops being valid, with second precision.
	Expiry time.Time
	// Network is the swarm the card belongs to.
	Network NetworkID
	// Addr is the IPv6 address the card is valid from: a card that arrives
	// from another source address is a replay.
	Addr netip.Addr
	// PublicKey is the instance's ed25519 public key.
	PublicKey [ed25519.PublicKeySize]byte
	// Endorsed says whether Endorsement holds an authority's signature.
	Endorsed bool
	// Endorsement is an authority's signature (see Endorse), valid when
	// Endorsed.
	Endorsement [ed25519.SignatureSize]byte
	// Signature is the card's own signature, set by ParseCard (AppendCard
	// computes it and ignores this field).
	Signature [ed25519.SignatureSize]byte
}

// Len returns the encoded length of c: CardLen or EndorsedCardLen.
func (c *Card) Len() int {
	if c.Endorsed {
		return EndorsedCardLen
	}
	return CardLen
}

// AppendCard appends the card c, signed with priv, to b and returns the
// extended slice. c.PublicKey must be priv's public key and c.Addr an IPv6
// address; otherwise it returns b unchanged and an error. c.Signature is
// ignored. Signing costs about 25 µs: sign once and reuse the bytes.
func AppendCard(b []byte, priv ed25519.PrivateKey, c Card) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return b, errors.New("icmp: card: bad private key length")
	}
	if [32]byte(priv.Public().(ed25519.PublicKey)) != c.PublicKey {
		return b, errors.New("icmp: card: public key is not the signing key's")
	}
	if !c.Addr.Is6() || c.Addr.Is4In6() {
		return b, fmt.Errorf("icmp: card: address %v is not IPv6", c.Addr)
	}
	n := len(b)
	b = append(b, make([]byte, c.Len())...)
	m := b[n:]
	m[cardOffVersion] = CardVersion
	if c.Endorsed {
		m[cardOffFlags] = CardFlagEndorsed
	}
	binary.BigEndian.PutUint16(m[cardOffPort:], c.Port)
	binary.BigEndian.PutUint64(m[cardOffExpiry:], uint64(c.Expiry.Unix()))
	copy(m[cardOffNetwork:], c.Network[:])
	a := c.Addr.As16()
	copy(m[cardOffAddr:], a[:])
	copy(m[cardOffKey:], c.PublicKey[:])
	signed := cardOffEndorse
	if c.Endorsed {
		copy(m[cardOffEndorse:], c.Endorsement[:])
		signed += ed25519.SignatureSize
	}
	sig := ed25519.Sign(priv, append([]byte(cardContext), m[:signed]...))
	copy(m[signed:], sig)
	return b, nil
}

// ParseCard decodes a version 1 card that fills b exactly. It checks the
// structure only (ErrMalformedCard); call Verify for the signature. It does
// not retain b and does not allocate.
func ParseCard(b []byte) (Card, error) {
	if len(b) < CardLen || b[cardOffVersion] != CardVersion {
		return Card{}, ErrMalformedCard
	}
	flags := b[cardOffFlags]
	endorsed := flags&CardFlagEndorsed != 0
	want := CardLen
	if endorsed {
		want = EndorsedCardLen
	}
	if len(b) != want || flags&^CardFlagEndorsed != 0 {
		return Card{}, ErrMalformedCard
	}
	c := Card{
		Port:     binary.BigEndian.Uint16(b[cardOffPort:]),
		Expiry:   time.Unix(int64(binary.BigEndian.Uint64(b[cardOffExpiry:])), 0),
		Network:  NetworkID(b[cardOffNetwork:cardOffAddr]),
		Addr:     netip.AddrFrom16([16]byte(b[cardOffAddr:cardOffKey])),
		Endorsed: endorsed,
	}
	copy(c.PublicKey[:], b[cardOffKey:cardOffEndorse])
	sigOff := cardOffEndorse
	if endorsed {
		copy(c.Endorsement[:], b[cardOffEndorse:])
		sigOff += ed25519.SignatureSize
	}
	copy(c.Signature[:], b[sigOff:])
	if c.Addr.Is4In6() || c.Addr.IsUnspecified() || c.Addr.IsMulticast() {
		return Card{}, ErrMalformedCard
	}
	return c, nil
}

// Verify checks c.Signature under c.PublicKey over the card's encoding
// (RFC 8032 ed25519, as crypto/ed25519.Verify). It returns nil or
// ErrBadSignature. It does not check the expiry, the network, the address or
// any trust policy. Safe for concurrent use; it costs about 50 µs.
func (c *Card) Verify() error {
	var buf [len(cardContext) + EndorsedCardLen]byte
	m := append(buf[:0], cardContext...)
	m = append(m, CardVersion, 0)
	if c.Endorsed {
		m[len(m)-1] = CardFlagEndorsed
	}
	m = binary.BigEndian.AppendUint16(m, c.Port)
	m = binary.BigEndian.AppendUint64(m, uint64(c.Expiry.Unix()))
	m = append(m, c.Network[:]...)
	a := c.Addr.As16()
	m = append(m, a[:]...)
	m = append(m, c.PublicKey[:]...)
	if c.Endorsed {
		m = append(m, c.Endorsement[:]...)
	}
	if !ed25519.Verify(c.PublicKey[:], m, c.Signature[:]) {
		return ErrBadSignature
	}
	return nil
}

// Endorse returns an authority's endorsement of the key pub for the network
// id: the ed25519 signature by authority over "widescan endorsement v1\x00" ‖
// id ‖ pub. Put it in Card.Endorsement (with Endorsed set) so that peers
// running an authority trust policy accept the card.
func Endorse(authority ed25519.PrivateKey, id NetworkID, pub [ed25519.PublicKeySize]byte) [ed25519.SignatureSize]byte {
	sig := ed25519.Sign(authority, endorsementMessage(id, pub))
	return [ed25519.SignatureSize]byte(sig)
}

// VerifyEndorsement reports whether c is endorsed by authority: Endorsed is
// set and Endorsement is authority's signature over c's network and key.
// Safe for concurrent use.
func (c *Card) VerifyEndorsement(authority ed25519.PublicKey) bool {
	return c.Endorsed && len(authority) == ed25519.PublicKeySize &&
		ed25519.Verify(authority, endorsementMessage(c.Network, c.PublicKey), c.Endorsement[:])
}

func endorsementMessage(id NetworkID, pub [ed25519.PublicKeySize]byte) []byte {
	m := make([]byte, 0, len(endorseContext)+len(id)+len(pub))
	m = append(m, endorseContext...)
	m = append(m, id[:]...)
	return append(m, pub[:]...)
}
