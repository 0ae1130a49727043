package widescan

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrKeyPermissions is returned (wrapped) by LoadOrCreateIdentity when the
// identity file can be read or written by others than its owner (any of the
// mode bits 0077): a private key must be mode 0600.
var ErrKeyPermissions = errors.New("widescan: identity file readable by others (want mode 0600)")

// Identity is an instance's ed25519 key pair (RFC 8032): its beacon cards
// are signed with it, and its public key is how peers know it. The zero
// value is not usable. Safe for concurrent use (it is never modified).
type Identity struct {
	// PrivateKey is the ed25519 private key (64 bytes).
	PrivateKey ed25519.PrivateKey
}

// NewIdentity returns a fresh random Identity (crypto/rand).
func NewIdentity() (Identity, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Identity{}, fmt.Errorf("widescan: generate identity: %w", err)
	}
	return Identity{PrivateKey: priv}, nil
}

// PublicKey returns the identity's ed25519 public key (32 bytes).
func (id Identity) PublicKey() ed25519.PublicKey {
	return id.PrivateKey.Public().(ed25519.PublicKey)
}

// LoadOrCreateIdentity reads the identity stored at path, a PEM "PRIVATE KEY"
// block holding a PKCS #8 ed25519 key (as written by openssl genpkey
// -algorithm ed25519). When path does not exist it generates a new identity
// and writes it there, creating the file with mode 0600 (and missing parent
// directories with mode 0700); it never overwrites an existing file, so two
// processes that race end up with the same key.
//
// Errors: ErrKeyPermissions (wrapped) for an existing file with any of the
// mode bits 0077 set; a parse error naming path for a file that is not an
// ed25519 PKCS #8 PEM key; I/O errors.
func LoadOrCreateIdentity(path string) (Identity, error) {
	id, err := loadIdentity(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	if id, err = NewIdentity(); err != nil {
		return Identity{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(id.PrivateKey)
	if err != nil {
		return Identity{}, fmt.Errorf("widescan: identity: %w", err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return Identity{}, fmt.Errorf("widescan: identity: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadIdentity(path) // another process created it first
	}
	if err != nil {
		return Identity{}, fmt.Errorf("widescan: identity: %w", err)
	}
	werr := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return Identity{}, fmt.Errorf("widescan: write identity %s: %w", path, werr)
	}
	return id, nil
}

func loadIdentity(path string) (Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return Identity{}, err // fs.ErrNotExist is handled by the caller
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Identity{}, fmt.Errorf("widescan: identity: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return Identity{}, fmt.Errorf("%w: %s has mode %04o", ErrKeyPermissions, path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Identity{}, fmt.Errorf("widescan: identity: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return Identity{}, fmt.Errorf("widescan: identity %s: no PEM PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return Identity{}, fmt.Errorf("widescan: identity %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return Identity{}, fmt.Errorf("widescan: identity %s: a %T key, want ed25519", path, k)
	}
	return Identity{PrivateKey: priv}, nil
}

// ParsePublicKey parses an ed25519 public key written as 64 hexadecimal
// digits or as standard base64 (44 characters, padded), the forms
// FormatPublicKey and allow-list files use.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	var b []byte
	var err error
	if len(s) == 2*ed25519.PublicKeySize {
		b, err = hex.DecodeString(s)
	} else {
		b, err = base64.StdEncoding.DecodeString(s)
	}
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("widescan: public key %q: want 64 hex digits or 32 bytes of base64", s)
	}
	return ed25519.PublicKey(b), nil
}

// FormatPublicKey returns pub as 64 lower-case hexadecimal digits.
func FormatPublicKey(pub ed25519.PublicKey) string { return hex.EncodeToString(pub) }
