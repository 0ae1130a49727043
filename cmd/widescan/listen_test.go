package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/p2pnet/widescan/icmp"
	"github.com/p2pnet/widescan/internal/testbed"
	"github.com/p2pnet/widescan/internal/testutil"
	"github.com/p2pnet/widescan/widescan"
)

func peerFlagsFor(t *testing.T, args ...string) (*peerFlags, error) {
	t.Helper()
	var f peerFlags
	fl := pflag.NewFlagSet("test", pflag.ContinueOnError)
	f.bind(fl, "")
	args = append([]string{"--identity", filepath.Join(t.TempDir(), "id.pem")}, args...)
	return &f, fl.Parse(args)
}

func TestPeerFlags(t *testing.T) {
	authority, err := widescan.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	authHex := widescan.FormatPublicKey(authority.PublicKey())
	tests := []struct {
		name string
		args []string
		err  string
	}{
		{"defaults give a trustless beacon", nil, ""},
		{"authority mode with an authority key", []string{"--trust", "authority", "--authority", authHex}, ""},
		{"authority mode without keys is refused", []string{"--trust", "authority"}, "authority trust needs"},
		{"an allow list needs authority mode", []string{"--authority", authHex}, "need --trust authority"},
		{"an unknown trust mode is refused", []string{"--trust", "maybe"}, "trust mode"},
		{"a short endorsement is refused", []string{"--endorsement", "abcd"}, "128 hex digits"},
		{"a bad authority key is refused", []string{"--trust", "authority", "--authority", "xyz"}, "public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := peerFlagsFor(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			b, err := f.beacon()
			if tt.err == "" {
				if err != nil || b == nil || b.Topic != "widescan" {
					t.Fatalf("beacon() = %+v, %v", b, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("beacon() error %v, want one containing %q", err, tt.err)
			}
		})
	}
	// The identity file is created with mode 0600.
	f, _ := peerFlagsFor(t)
	if _, err := f.beacon(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(f.identity); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v, %v", fi, err)
	}
}

func TestIdentityCommandEndorses(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := newIdentityCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetArgs(args)
		stdout := os.Stdout
		r, w, _ := os.Pipe()
		os.Stdout = w
		err := cmd.Execute()
		w.Close()
		os.Stdout = stdout
		b := new(bytes.Buffer)
		b.ReadFrom(r)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(b.String())
	}
	key := run("--identity", filepath.Join(dir, "node.pem"))
	auth := run("--identity", filepath.Join(dir, "auth.pem"))
	e := run("--endorse-as", filepath.Join(dir, "auth.pem"), "--topic", "swarm", key)
	sig, err := hex.DecodeString(e)
	if err != nil || len(sig) != 64 {
		t.Fatalf("endorsement %q", e)
	}
	pk, _ := widescan.ParsePublicKey(key)
	ak, _ := widescan.ParsePublicKey(auth)
	c := icmp.Card{Network: icmp.NetworkFor("swarm"), PublicKey: [32]byte(pk), Endorsed: true, Endorsement: [64]byte(sig)}
	if !c.VerifyEndorsement(ak) {
		t.Fatal("the printed endorsement does not verify under the authority key")
	}
}

// TestListenAndBeaconScanInTheTestbed runs `listen` in one instance
// namespace and `scan --beacon` in another, as the CLI does, and checks the
// peer lines each writes to --peers-output.
func TestListenAndBeaconScanInTheTestbed(t *testing.T) {
	testutil.RequirePriv(t)
	name := fmt.Sprintf("wcl%d", os.Getpid()%100000)
	t.Cleanup(func() {
		if err := testbed.Down(context.Background(), name); err != nil {
			t.Errorf("testbed down: %v", err)
		}
	})
	tb, err := testbed.Up(t.Context(), testbed.Config{Name: name, Instances: 2})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a, b := tb.Instances[0], tb.Instances[1]

	var lf listenFlags
	fl := pflag.NewFlagSet("listen", pflag.ContinueOnError)
	lf.peers.bind(fl, "-")
	if err := fl.Parse([]string{"--identity", filepath.Join(dir, "b.pem"), "--topic", "cli", "--port", "4002",
		"--peers-output", filepath.Join(dir, "b.jsonl")}); err != nil {
		t.Fatal(err)
	}
	lf.iface = b.Iface
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	lerr := make(chan error, 1)
	go func() { lerr <- testbed.RunIn(b.NS, func() error { return runListen(ctx, lf) }) }()
	time.Sleep(time.Second) // the listener opens its sockets

	sf, args := parseScanFlags(t, "--beacon", "--identity", filepath.Join(dir, "a.pem"), "--topic", "cli", "--port", "4001",
		"--peers-output", filepath.Join(dir, "a.jsonl"), "-o", filepath.Join(dir, "hits.jsonl"),
		"--iid", "fixed:::2", "--unblock", "3fff::/20", "--rate", "0", "--cooldown", "1s", "--no-progress",
		"-i", a.Iface, "3fff:0:100::/40-48")
	if err := testbed.RunIn(a.NS, func() error { return runScan(t.Context(), sf, args) }); err != nil {
		t.Fatalf("scan: %v", err)
	}
	cancel()
	if err := testutil.WaitChan(t, lerr, 5*time.Second); !errors.Is(err, errInterrupted) {
		t.Fatalf("listen returned %v, want errInterrupted", err)
	}
	read := func(f string) []widescan.Peer {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		var ps []widescan.Peer
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var p widescan.Peer
			if err := json.Unmarshal([]byte(line), &p); err != nil {
				t.Fatalf("%s: %q: %v", f, line, err)
			}
			ps = append(ps, p)
		}
		return ps
	}
	if ps := read("a.jsonl"); len(ps) != 1 || ps[0].Addr != b.Addr || ps[0].Port != 4002 || ps[0].Via != widescan.ViaAnswer {
		t.Errorf("scan peers = %+v, want %v via answer", ps, b.Addr)
	}
	if ps := read("b.jsonl"); len(ps) != 1 || ps[0].Addr != a.Addr || ps[0].Port != 4001 || ps[0].Via != widescan.ViaProbe {
		t.Errorf("listen peers = %+v, want %v via probe", ps, a.Addr)
	}
}
