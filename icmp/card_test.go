package icmp

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// goldenIdentity is the ed25519 key of the golden card: seed 00 01 … 1f.
func goldenIdentity() ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	return ed25519.NewKeyFromSeed(seed)
}

func goldenCard() Card {
	priv := goldenIdentity()
	return Card{
		Port:      7000,
		Expiry:    time.Unix(1700086400, 0),
		Network:   NetworkFor("widescan-test"),
		Addr:      netip.MustParseAddr("2001:db8::53"),
		PublicKey: [32]byte(priv.Public().(ed25519.PublicKey)),
	}
}

// goldenCardHex is the card documented in doc.go.
const goldenCardHex = "" +
	"01" + "00" + "1b58" + // card version 1, card flags 0, port 7000
	"0000000065554280" + // expiry 1700086400 s
	"e61ffa227399d76bc2252f68bc843f35" + // network ID of "widescan-test"
	"20010db8000000000000000000000053" + // address 2001:db8::53
	"03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8" + // public key
	"d216cf346db516bdaf8b48ceb6de69b5c5d2c5bb3a7fe7c564ce13734797c89f" + // signature
	"a1c86c2ab3489b3fb6b2719e5055da1a328c5aead1609287eeefc2a0423cdb06"

// goldenBeaconHex is the golden probe of doc.go carrying the golden card.
const goldenBeaconHex = "" +
	"80000000e4b6dbf2" + // type, code, checksum, identifier, sequence
	"5753434e" + "01" + "01" + "0000" + // magic, version, flags = FlagBeacon, reserved
	"0102030405060708" + "17979cfe3d85cd15" + // scan ID, sent
	"20010db8000000000000000000000001" + // target
	"e4b6dbf219e596d8642c469e355faa2e" + // mac: unchanged by the card
	goldenCardHex

func TestGoldenCard(t *testing.T) {
	want, _ := hex.DecodeString(goldenCardHex)
	got, err := AppendCard(nil, goldenIdentity(), goldenCard())
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("AppendCard = %x, %v\nwant %x", got, err, want)
	}
	if len(got) != CardLen {
		t.Fatalf("card is %d bytes, want %d", len(got), CardLen)
	}
	c, err := ParseCard(want)
	if err != nil {
		t.Fatal(err)
	}
	exp := goldenCard()
	exp.Signature = [64]byte(want[CardLen-64:])
	if c != exp {
		t.Fatalf("ParseCard = %+v\nwant %+v", c, exp)
	}
	if err := c.Verify(); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.Expiry.Unix() != 1700086400 || c.Port != 7000 {
		t.Fatalf("decoded %+v", c)
	}

	beacon, _ := hex.DecodeString(goldenBeaconHex)
	if got := AppendBeaconRequest(nil, goldenKey(), goldenProbe(), 0, want); !bytes.Equal(got, beacon) {
		t.Fatalf("AppendBeaconRequest:\n got %x\nwant %x", got, beacon)
	}
	// The MAC still validates the echoed beacon, and the card is found.
	id, seq := uint16(0xe4b6), uint16(0xdbf2)
	if p, err := goldenKey().Check(id, seq, beacon[8:], goldenProbe().Source); err != nil || p.Target != goldenProbe().Target {
		t.Fatalf("Check of the beacon = %+v, %v", p, err)
	}
	flags, card, err := SplitPayload(beacon[8:])
	if err != nil || flags != FlagBeacon || !bytes.Equal(card, want) {
		t.Fatalf("SplitPayload = %#x, %x, %v", flags, card, err)
	}
}

func TestCardRejects(t *testing.T) {
	good, _ := hex.DecodeString(goldenCardHex)
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	tests := []struct {
		name   string
		card   func() []byte
		parse  error
		verify error
	}{
		{"the golden card verifies", func() []byte { return good }, nil, nil},
		{"a changed port is forged", func() []byte { b := bytes.Clone(good); b[3] ^= 1; return b }, nil, ErrBadSignature},
		{"a later expiry is forged", func() []byte { b := bytes.Clone(good); b[11]++; return b }, nil, ErrBadSignature},
		{"another network is forged", func() []byte { b := bytes.Clone(good); b[12] ^= 1; return b }, nil, ErrBadSignature},
		{"another address is forged", func() []byte { b := bytes.Clone(good); b[43] ^= 1; return b }, nil, ErrBadSignature},
		{"another key is forged", func() []byte {
			b := bytes.Clone(good)
			copy(b[44:76], other.Public().(ed25519.PublicKey))
			return b
		}, nil, ErrBadSignature},
		{"a flipped signature bit is forged", func() []byte { b := bytes.Clone(good); b[139] ^= 0x10; return b }, nil, ErrBadSignature},
		{"version 2 is malformed", func() []byte { b := bytes.Clone(good); b[0] = 2; return b }, ErrMalformedCard, nil},
		{"an unknown card flag is malformed", func() []byte { b := bytes.Clone(good); b[1] = 2; return b }, ErrMalformedCard, nil},
		{"the endorsed flag on a short card is malformed", func() []byte { b := bytes.Clone(good); b[1] = 1; return b }, ErrMalformedCard, nil},
		{"a short card is malformed", func() []byte { return good[:CardLen-1] }, ErrMalformedCard, nil},
		{"a long card is malformed", func() []byte { return append(bytes.Clone(good), 0) }, ErrMalformedCard, nil},
		{"an empty card is malformed", func() []byte { return nil }, ErrMalformedCard, nil},
		{"a multicast address is malformed", func() []byte {
			b := bytes.Clone(good)
			b[28] = 0xff
			return b
		}, ErrMalformedCard, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCard(tt.card())
			if !errors.Is(err, tt.parse) || (tt.parse == nil) != (err == nil) {
				t.Fatalf("ParseCard = %v, want %v", err, tt.parse)
			}
			if err != nil {
				return
			}
			if err := c.Verify(); !errors.Is(err, tt.verify) || (tt.verify == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.verify)
			}
		})
	}
}

func TestAppendCardRejects(t *testing.T) {
	c := goldenCard()
	if _, err := AppendCard(nil, ed25519.NewKeyFromSeed(make([]byte, 32)), c); err == nil {
		t.Error("signing another key's card: no error")
	}
	c.Addr = netip.MustParseAddr("192.0.2.1")
	if _, err := AppendCard(nil, goldenIdentity(), c); err == nil {
		t.Error("an IPv4 address: no error")
	}
}

func TestEndorsement(t *testing.T) {
	auth := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	mallory := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{10}, 32))
	c := goldenCard()
	c.Endorsed = true
	c.Endorsement = Endorse(auth, c.Network, c.PublicKey)
	b, err := AppendCard(nil, goldenIdentity(), c)
	if err != nil || len(b) != EndorsedCardLen {
		t.Fatalf("AppendCard = %d bytes, %v", len(b), err)
	}
	got, err := ParseCard(b)
	if err != nil || got.Verify() != nil {
		t.Fatalf("ParseCard = %+v, %v", got, err)
	}
	if !got.VerifyEndorsement(auth.Public().(ed25519.PublicKey)) {
		t.Error("the authority's endorsement does not verify")
	}
	if got.VerifyEndorsement(mallory.Public().(ed25519.PublicKey)) {
		t.Error("an endorsement verifies under another authority")
	}
	// An endorsement is bound to its network.
	c2 := got
	c2.Network = NetworkFor("other")
	if c2.VerifyEndorsement(auth.Public().(ed25519.PublicKey)) {
		t.Error("an endorsement verifies for another network")
	}
	plain, _ := ParseCard(mustHex(goldenCardHex))
	if plain.VerifyEndorsement(auth.Public().(ed25519.PublicKey)) {
		t.Error("a card without endorsement verifies")
	}
	// The payload carries an endorsed card too.
	pl := AppendBeaconRequest(nil, goldenKey(), goldenProbe(), FlagAnswer, b)[8:]
	if flags, card, err := SplitPayload(pl); err != nil || flags != FlagBeacon|FlagAnswer || len(card) != EndorsedCardLen {
		t.Fatalf("SplitPayload = %#x, %d bytes, %v", flags, len(card), err)
	}
}

func TestNetworkFor(t *testing.T) {
	a1, a2 := NetworkFor("a"), NetworkFor(string([]byte{'a'}))
	if a1 == NetworkFor("b") || a1 != a2 || a1 == NetworkFor("") {
		t.Fatal("NetworkFor is not a function of the topic")
	}
	if got := NetworkFor("widescan-test").String(); got != "e61ffa227399d76bc2252f68bc843f35" {
		t.Fatalf("NetworkFor = %s", got)
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzParseCard checks that ParseCard never panics, accepts only the two
// card lengths, and that what it accepts re-encodes to the same bytes when
// the signature verifies. The seed corpus is in testdata/fuzz/FuzzParseCard.
func FuzzParseCard(f *testing.F) {
	good := mustHex(goldenCardHex)
	f.Add(good)
	f.Add(good[:CardLen-1])
	c := goldenCard()
	c.Endorsed = true
	endorsed, _ := AppendCard(nil, goldenIdentity(), c)
	f.Add(endorsed)
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{1}, CardLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCard(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedCard) {
				t.Fatalf("ParseCard error %v is not ErrMalformedCard", err)
			}
			return
		}
		if len(b) != c.Len() || !c.Addr.Is6() {
			t.Fatalf("accepted %d bytes as a %d-byte card, address %v", len(b), c.Len(), c.Addr)
		}
		if c.Verify() == nil && !bytes.Equal(b, good) && !bytes.Equal(b, endorsed) {
			t.Fatalf("a card not signed by the test key verifies: %x", b)
		}
		// Re-encoding the fields (signature excluded) must give the same
		// signed prefix.
		if c.Endorsed != (b[1] == CardFlagEndorsed) || c.Port != uint16(b[2])<<8|uint16(b[3]) {
			t.Fatalf("decoded %+v from %x", c, b)
		}
	})
}
