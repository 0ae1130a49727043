package icmp

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/dchest/siphash"
)

// Version is the payload layout version written by AppendEchoRequest and the
// only one Check accepts.
const Version = 1

// PayloadLen is the length in bytes of a version 1 probe payload: the data
// that follows the 8-byte ICMPv6 Echo header.
const PayloadLen = 56

// EchoLen is the length in bytes of the whole ICMPv6 Echo Request message
// written by AppendEchoRequest: the 8-byte header plus PayloadLen.
const EchoLen = 8 + PayloadLen

// Magic opens every probe payload, so that captures and other widescan
// instances recognise widescan traffic. It is not secret.
var Magic = [4]byte{'W', 'S', 'C', 'N'}

// ICMPv6 message types (RFC 4443 §4.1, §4.2).
const (
	TypeEchoRequest = 128
	TypeEchoReply   = 129
)

// Offsets of the payload fields, relative to the start of the payload.
const (
	offMagic    = 0
	offVersion  = 4
	offFlags    = 5
	offReserved = 6
	offScanID   = 8
	offSent     = 16
	offTarget   = 24
	offMAC      = 40
	macLen      = 16
	macInputLen = 1 + 8 + 8 + 16 + 16 // version‖scanID‖sent‖target‖source
)

var (
	// ErrNotProbe reports a payload that is not widescan traffic of a version
	// this package understands: wrong length, no Magic, or an unknown Version.
	ErrNotProbe = errors.New("icmp: not a widescan probe")
	// ErrBadMAC reports a payload that looks like a widescan probe but whose
	// MAC does not verify: forged, corrupted, made with another Key, or
	// answered to another source address.
	ErrBadMAC = errors.New("icmp: bad probe MAC")
	// ErrPermission reports that opening a raw socket was refused by the
	// kernel (EPERM or EACCES). The process needs root or CAP_NET_RAW.
	ErrPermission = errors.New("icmp: need root or CAP_NET_RAW")
)

// Key is the 128-bit SipHash key that authenticates probes. A reply is valid
// only under the key that made its probe, so several machines that share a Key
// validate each other's replies. The zero Key is a valid (but public, hence
// forgeable) key; use NewKey for real scans.
type Key [16]byte

// NewKey returns a random Key read from crypto/rand.
func NewKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("icmp: new key: %w", err)
	}
	return k, nil
}

// ParseKey parses a Key written as 32 hexadecimal digits (upper or lower
// case), the form String returns.
func ParseKey(s string) (Key, error) {
	var k Key
	if len(s) != 2*len(k) {
		return Key{}, fmt.Errorf("icmp: parse key: want %d hex digits, got %d", 2*len(k), len(s))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return Key{}, fmt.Errorf("icmp: parse key: %w", err)
	}
	return k, nil
}

// String returns k as 32 lower-case hexadecimal digits. It reveals the key:
// do not log it unless the key is meant to be shared.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Probe is what a probe payload says: which scan sent it, when, to whom, and
// (not carried on the wire but covered by the MAC) from which source address.
type Probe struct {
	// ScanID names the scan; replies to other scans are told apart by it.
	ScanID uint64
	// Sent is when the probe was encoded, with nanosecond precision and no
	// monotonic clock reading (as decoded, it is time.Unix(0, ns)).
	Sent time.Time
	// Target is the destination the probe was sent to (IPv6).
	Target netip.Addr
	// Source is the address the probe was sent from (IPv6).
	Source netip.Addr
}

// AppendEchoRequest appends to b the ICMPv6 Echo Request message (RFC 4443
// §4.1) for p and returns the extended slice: the 8-byte header (type 128,
// code 0, checksum 0, identifier, sequence number) and the PayloadLen-byte
// version 1 payload described in the package documentation, EchoLen bytes in
// all. The checksum field is left 0: the kernel fills it on a raw ICMPv6
// socket (RFC 3542 §3.1); see Checksum for other uses.
//
// It does not allocate when cap(b)-len(b) >= EchoLen. Target and Source are
// encoded in their 16-byte form (As16); zones are ignored. p.Sent is encoded
// as nanoseconds since the Unix epoch.
func AppendEchoRequest(b []byte, key Key, p Probe) []byte {
	n := len(b)
	b = append(b, make([]byte, EchoLen)...) // no allocation when capacity suffices
	m := b[n : n+EchoLen : n+EchoLen]
	m[0] = TypeEchoRequest
	m[1] = 0 // code
	m[2], m[3] = 0, 0
	pl := m[8:]
	copy(pl[offMagic:], Magic[:])
	pl[offVersion] = Version
	pl[offFlags] = 0
	pl[offReserved], pl[offReserved+1] = 0, 0
	binary.BigEndian.PutUint64(pl[offScanID:], p.ScanID)
	binary.BigEndian.PutUint64(pl[offSent:], uint64(p.Sent.UnixNano()))
	t := p.Target.As16()
	copy(pl[offTarget:], t[:])
	mac := key.mac(pl, p.Source.As16())
	copy(pl[offMAC:], mac[:])
	copy(m[4:8], mac[0:4]) // identifier = mac[0:2], sequence = mac[2:4]
	return b
}

// mac computes the 16-byte MAC of a payload whose version, scan ID, sent and
// target fields are already in place, for the given source address.
func (k Key) mac(pl []byte, source [16]byte) [macLen]byte {
	var in [macInputLen]byte
	in[0] = pl[offVersion]
	copy(in[1:17], pl[offScanID:offTarget]) // scanID‖sent
	copy(in[17:33], pl[offTarget:offMAC])
	copy(in[33:49], source[:])
	h0, h1 := siphash.Hash128(binary.LittleEndian.Uint64(k[0:8]), binary.LittleEndian.Uint64(k[8:16]), in[:])
	var mac [macLen]byte
	binary.LittleEndian.PutUint64(mac[0:8], h0)
	binary.LittleEndian.PutUint64(mac[8:16], h1)
	return mac
}

// AppendBeaconRequest appends an Echo Request like AppendEchoRequest whose
// payload carries the encoded card (from AppendCard; CardLen or
// EndorsedCardLen bytes) after the version 1 fields, with FlagBeacon and the
// given extra flags (FlagAnswer or 0) set: EchoLen+len(card) bytes in all.
// The MAC is the same as without a card: it does not cover the flags or the
// card, which is signed by its owner instead. It does not allocate when b
// has room. It panics when card has another length.
func AppendBeaconRequest(b []byte, key Key, p Probe, flags uint8, card []byte) []byte {
	if len(card) != CardLen && len(card) != EndorsedCardLen {
		panic(fmt.Sprintf("icmp: beacon card of %d bytes", len(card)))
	}
	n := len(b)
	b = AppendEchoRequest(b, key, p)
	b[n+8+offFlags] = FlagBeacon | flags&^FlagBeacon
	return append(b, card...)
}

// SplitPayload checks that payload (the data after an Echo header) is
// widescan traffic of version 1 and returns its flags byte and its card
// bytes: nil without FlagBeacon, else a subslice of payload. It returns
// ErrNotProbe for anything else: no Magic, another Version, or a length
// other than PayloadLen (PayloadLen plus CardLen or EndorsedCardLen with
// FlagBeacon). It does not allocate.
func SplitPayload(payload []byte) (flags uint8, card []byte, err error) {
	if len(payload) < PayloadLen ||
		[4]byte(payload[offMagic:offMagic+4]) != Magic ||
		payload[offVersion] != Version {
		return 0, nil, ErrNotProbe
	}
	flags = payload[offFlags]
	rest := len(payload) - PayloadLen
	switch {
	case flags&FlagBeacon == 0 && rest == 0:
		return flags, nil, nil
	case flags&FlagBeacon != 0 && (rest == CardLen || rest == EndorsedCardLen):
		return flags, payload[PayloadLen:], nil
	}
	return 0, nil, ErrNotProbe
}

// Check validates the body of an ICMPv6 Echo Reply (RFC 4443 §4.2): its
// identifier id, sequence number seq and payload (the data after the 8-byte
// header: PayloadLen bytes, or more with a beacon card, see SplitPayload).
// source is the address the probe was sent from, which is the reply's
// destination address.
//
// It returns ErrNotProbe when the payload is not a version 1 widescan payload
// (SplitPayload fails), and ErrBadMAC when the MAC does not verify under k
// for source, or id and seq are not the MAC's first four bytes. It does not
// check the scan ID: compare Probe.ScanID yourself. It does not allocate,
// runs in time independent of where a forged MAC differs, and is safe for
// concurrent use. The flags, the reserved bytes and a card are not covered
// by the MAC.
func (k Key) Check(id, seq uint16, payload []byte, source netip.Addr) (Probe, error) {
	if _, _, err := SplitPayload(payload); err != nil {
		return Probe{}, err
	}
	mac := k.mac(payload, source.As16())
	var ids [4]byte
	binary.BigEndian.PutUint16(ids[0:2], id)
	binary.BigEndian.PutUint16(ids[2:4], seq)
	ok := subtle.ConstantTimeCompare(mac[:], payload[offMAC:offMAC+macLen]) &
		subtle.ConstantTimeCompare(mac[0:4], ids[:])
	if ok != 1 {
		return Probe{}, ErrBadMAC
	}
	return Probe{
		ScanID: binary.BigEndian.Uint64(payload[offScanID:]),
		Sent:   time.Unix(0, int64(binary.BigEndian.Uint64(payload[offSent:]))),
		Target: netip.AddrFrom16([16]byte(payload[offTarget:offMAC])),
		Source: source,
	}, nil
}

// Checksum returns the ICMPv6 checksum (RFC 4443 §2.3) of the message msg sent
// from src to dst, computed over the IPv6 pseudo-header (RFC 8200 §8.1) and
// msg with its checksum field (bytes 2 and 3) taken as zero. Store it
// big-endian in msg[2:4]. It does not allocate.
func Checksum(src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	s, d := src.As16(), dst.As16()
	for i := 0; i < 16; i += 2 {
		sum += uint32(s[i])<<8 | uint32(s[i+1])
		sum += uint32(d[i])<<8 | uint32(d[i+1])
	}
	l := uint32(len(msg))
	sum += l>>16 + l&0xffff
	sum += 58 // next header: ICMPv6
	for i := 0; i+1 < len(msg); i += 2 {
		if i == 2 {
			continue // the checksum field itself
		}
		sum += uint32(msg[i])<<8 | uint32(msg[i+1])
	}
	if len(msg)%2 == 1 {
		sum += uint32(msg[len(msg)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
