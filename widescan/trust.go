package widescan

import (
	"bufio"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/p2pnet/widescan/icmp"
	"github.com/p2pnet/widescan/sniffer"
)

// TrustMode selects how peers' keys are trusted, after the P2PNet
// bootstrap's trustless and authority modes.
type TrustMode uint8

const (
	// TrustTrustless accepts any card whose signature verifies (the
	// default).
	TrustTrustless TrustMode = iota
	// TrustAuthority accepts only keys in Trust.Allow, or cards endorsed
	// (icmp.Endorse) by a key in Trust.Authorities.
	TrustAuthority
)

// String returns "trustless", "authority" or "TrustMode(N)".
func (m TrustMode) String() string {
	switch m {
	case TrustTrustless:
		return "trustless"
	case TrustAuthority:
		return "authority"
	}
	return fmt.Sprintf("TrustMode(%d)", uint8(m))
}

// ParseTrustMode parses "trustless" or "authority".
func ParseTrustMode(s string) (TrustMode, error) {
	switch s {
	case "trustless":
		return TrustTrustless, nil
	case "authority":
		return TrustAuthority, nil
	}
	return 0, fmt.Errorf("widescan: trust mode %q: want trustless or authority", s)
}

// Trust is a peer trust policy. The zero value is trustless. Cards that the
// policy refuses are counted in Stats.Untrusted.
type Trust struct {
	// Mode is trustless or authority.
	Mode TrustMode
	// Allow lists the keys accepted in authority mode (see LoadKeyList).
	Allow []ed25519.PublicKey
	// Authorities lists keys whose endorsement of a card's key (for the
	// card's network) makes it accepted in authority mode.
	Authorities []ed25519.PublicKey
}

// Validate reports whether t is usable: a known Mode, keys of the right
// length, and in authority mode at least one allowed key or authority.
func (t Trust) Validate() error {
	if t.Mode > TrustAuthority {
		return fmt.Errorf("widescan: unknown trust mode %v", t.Mode)
	}
	for _, k := range append(append([]ed25519.PublicKey(nil), t.Allow...), t.Authorities...) {
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("widescan: trust: a %d-byte public key", len(k))
		}
	}
	if t.Mode == TrustAuthority && len(t.Allow) == 0 && len(t.Authorities) == 0 {
		return errors.New("widescan: authority trust needs an allow list or an authority key")
	}
	return nil
}

// Allows reports whether the policy accepts a card whose signature,
// network, expiry and address already checked. Safe for concurrent use.
func (t Trust) Allows(c *icmp.Card) bool {
	if t.Mode == TrustTrustless {
		return true
	}
	for _, k := range t.Allow {
		if [32]byte(k) == c.PublicKey {
			return true
		}
	}
	for _, a := range t.Authorities {
		if c.VerifyEndorsement(a) {
			return true
		}
	}
	return false
}

func (t Trust) trustFunc() sniffer.TrustFunc {
	if t.Mode == TrustTrustless {
		return nil
	}
	return func(c *icmp.Card) error {
		if !t.Allows(c) {
			return sniffer.ErrUntrusted
		}
		return nil
	}
}

// LoadKeyList reads ed25519 public keys from path, one per line (64 hex
// digits or base64, see ParsePublicKey); blank lines and text after '#' are
// ignored. Errors name the file and line.
func LoadKeyList(path string) ([]ed25519.PublicKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("widescan: key list: %w", err)
	}
	defer f.Close()
	var keys []ed25519.PublicKey
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		k, err := ParsePublicKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("widescan: key list %s: %w", path, err)
	}
	return keys, nil
}
