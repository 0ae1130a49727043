package widescan_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2pnet/widescan/icmp"
	"github.com/p2pnet/widescan/internal/testutil"
	"github.com/p2pnet/widescan/widescan"
)

func testPeer(i int) widescan.Peer {
	seed := make([]byte, 32)
	seed[0], seed[1] = byte(i), byte(i>>8)
	k := ed25519.NewKeyFromSeed(seed)
	return widescan.Peer{
		Addr:      netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i+1)),
		PublicKey: k.Public().(ed25519.PublicKey),
		NetworkID: icmp.NetworkFor("t"),
		Port:      uint16(7000 + i),
		Expiry:    time.Unix(1800000000, 0).UTC(),
		FirstSeen: time.Unix(1700000000, int64(i)).UTC(),
		Via:       widescan.ViaProbe,
	}
}

// TestWebhookRetriesWithoutLossOrDuplicates: a receiver that fails most
// requests (503, or a dropped connection) gets every peer exactly once.
func TestWebhookRetriesWithoutLossOrDuplicates(t *testing.T) {
	rng := testutil.Rand(t)
	var mu sync.Mutex
	got := map[string]int{}
	keys := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fail := rng.IntN(3)
		mu.Unlock()
		switch fail {
		case 0:
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		case 1:
			hj, ok := w.(http.Hijacker)
			if ok {
				c, _, _ := hj.Hijack()
				c.Close() // a dropped connection: a network error for the client
				return
			}
		}
		b, _ := io.ReadAll(r.Body)
		var p widescan.Peer
		if err := json.Unmarshal(b, &p); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("bad delivery %s: %v", b, err)
		}
		mu.Lock()
		got[p.Addr.String()]++
		keys[p.Addr.String()] = r.Header.Get("Idempotency-Key")
		mu.Unlock()
	}))
	defer srv.Close()
	w, err := widescan.NewWebhook(widescan.WebhookConfig{URL: srv.URL, MaxAttempts: -1, Backoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); w.Notify(testPeer(i)) }()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v (stats %+v)", err, w.Stats())
	}
	st := w.Stats()
	if st.Delivered != n || st.Failed != 0 || st.Pending != 0 || st.Attempts <= n {
		t.Errorf("Stats = %+v, want %d delivered after retries", st, n)
	}
	for i := range n {
		p := testPeer(i)
		if c := got[p.Addr.String()]; c != 1 {
			t.Errorf("peer %v delivered %d times", p.Addr, c)
		}
		if k := keys[p.Addr.String()]; !strings.HasSuffix(k, "/"+p.Addr.String()) {
			t.Errorf("peer %v idempotency key %q", p.Addr, k)
		}
	}
}

// TestWebhookNeverBlocks: Notify returns at once while the receiver hangs,
// and Close gives up at its deadline, counting what was left.
func TestWebhookNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	w, err := widescan.NewWebhook(widescan.WebhookConfig{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	peers := make([]widescan.Peer, 1000)
	for i := range peers {
		peers[i] = testPeer(i)
	}
	start := time.Now()
	for _, p := range peers {
		w.Notify(p)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("1000 Notify calls took %v", d)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); err == nil {
		t.Error("Close returned nil with a hung receiver")
	}
	if st := w.Stats(); st.Failed != 1000 || st.Delivered != 0 {
		t.Errorf("Stats = %+v, want 1000 failed", st)
	}
	if _, err := widescan.NewWebhook(widescan.WebhookConfig{URL: "ftp://x"}); err == nil {
		t.Error("NewWebhook accepted an ftp URL")
	}
}

func TestPeerTableServesJSON(t *testing.T) {
	var tab widescan.PeerTable
	srv := httptest.NewServer(&tab)
	defer srv.Close()
	get := func() []widescan.Peer {
		resp, err := http.Get(srv.URL + "/api/peers")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("content type %q", ct)
		}
		var ps []widescan.Peer
		if err := json.NewDecoder(resp.Body).Decode(&ps); err != nil {
			t.Fatal(err)
		}
		return ps
	}
	if ps := get(); ps == nil || len(ps) != 0 {
		t.Fatalf("empty table served %v", ps)
	}
	if !tab.Add(testPeer(1)) || !tab.Add(testPeer(2)) || tab.Add(testPeer(1)) {
		t.Fatal("Add: wrong novelty")
	}
	ps := get()
	if len(ps) != 2 || ps[0].Addr != testPeer(1).Addr || !ps[1].PublicKey.Equal(testPeer(2).PublicKey) ||
		ps[1].Port != 7002 || !ps[1].FirstSeen.Equal(testPeer(2).FirstSeen) || ps[1].NetworkID != testPeer(2).NetworkID {
		t.Fatalf("served %+v", ps)
	}
	resp, err := http.Post(srv.URL+"/api/peers", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %s", resp.Status)
	}
}

func TestMetricsHandler(t *testing.T) {
	h := widescan.MetricsHandler(func() widescan.Stats { return widescan.Stats{Peers: 3, Forged: 2, Answers: 1} })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{"widescan_peers_known 3\n", `widescan_cards_rejected_total{reason="forged"} 2`, "widescan_answers_sent_total 1\n", "# TYPE widescan_hits_total counter\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

func TestLoadOrCreateIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "identity.pem")
	a, err := widescan.LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file mode %v, %v; want 0600", fi.Mode(), err)
	}
	b, err := widescan.LoadOrCreateIdentity(path)
	if err != nil || !a.PrivateKey.Equal(b.PrivateKey) {
		t.Fatalf("reload gave another key (%v)", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := widescan.LoadOrCreateIdentity(path); !errorsIs(err, widescan.ErrKeyPermissions) {
		t.Fatalf("world-readable key: %v, want ErrKeyPermissions", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, err := widescan.LoadOrCreateIdentity(bad); err == nil {
		t.Fatal("a garbage identity file loaded")
	}
}

func TestTrustPolicy(t *testing.T) {
	net := icmp.NetworkFor("t")
	alice := ed25519.NewKeyFromSeed(make([]byte, 32))
	auth := ed25519.NewKeyFromSeed(append(make([]byte, 31), 1))
	pubA := [32]byte(alice.Public().(ed25519.PublicKey))
	plain := &icmp.Card{Network: net, PublicKey: pubA}
	endorsed := &icmp.Card{Network: net, PublicKey: pubA, Endorsed: true, Endorsement: icmp.Endorse(auth, net, pubA)}
	forgedEndorsement := &icmp.Card{Network: net, PublicKey: pubA, Endorsed: true, Endorsement: icmp.Endorse(alice, net, pubA)}
	tests := []struct {
		name  string
		trust widescan.Trust
		card  *icmp.Card
		want  bool
	}{
		{"trustless accepts any key", widescan.Trust{}, plain, true},
		{"authority accepts an allowed key", widescan.Trust{Mode: widescan.TrustAuthority, Allow: []ed25519.PublicKey{alice.Public().(ed25519.PublicKey)}}, plain, true},
		{"authority refuses a key not allowed", widescan.Trust{Mode: widescan.TrustAuthority, Allow: []ed25519.PublicKey{auth.Public().(ed25519.PublicKey)}}, plain, false},
		{"authority accepts an endorsed key", widescan.Trust{Mode: widescan.TrustAuthority, Authorities: []ed25519.PublicKey{auth.Public().(ed25519.PublicKey)}}, endorsed, true},
		{"authority refuses a self-endorsed key", widescan.Trust{Mode: widescan.TrustAuthority, Authorities: []ed25519.PublicKey{auth.Public().(ed25519.PublicKey)}}, forgedEndorsement, false},
		{"authority refuses an unendorsed key", widescan.Trust{Mode: widescan.TrustAuthority, Authorities: []ed25519.PublicKey{auth.Public().(ed25519.PublicKey)}}, plain, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.trust.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := tt.trust.Allows(tt.card); got != tt.want {
				t.Fatalf("Allows = %v, want %v", got, tt.want)
			}
		})
	}
	if err := (widescan.Trust{Mode: widescan.TrustAuthority}).Validate(); err == nil {
		t.Error("authority mode without keys validated")
	}
	if m, err := widescan.ParseTrustMode("authority"); err != nil || m != widescan.TrustAuthority || m.String() != "authority" {
		t.Errorf("ParseTrustMode = %v, %v", m, err)
	}
	list := filepath.Join(t.TempDir(), "allow.txt")
	os.WriteFile(list, []byte("# allowed\n"+widescan.FormatPublicKey(alice.Public().(ed25519.PublicKey))+"  # alice\n\n"), 0o644)
	keys, err := widescan.LoadKeyList(list)
	if err != nil || len(keys) != 1 || !keys[0].Equal(alice.Public().(ed25519.PublicKey)) {
		t.Fatalf("LoadKeyList = %v, %v", keys, err)
	}
	os.WriteFile(list, []byte("zz\n"), 0o644)
	if _, err := widescan.LoadKeyList(list); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Fatalf("LoadKeyList of garbage: %v", err)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
