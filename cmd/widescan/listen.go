package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/p2pnet/widescan/icmp"
	"github.com/p2pnet/widescan/widescan"
)

// peerFlags are the flags of the beacon, trust policy and peer reporting,
// shared by scan (with --beacon) and listen.
type peerFlags struct {
	identity       string
	topic          string
	port           uint16
	cardTTL        time.Duration
	trust          string
	allow          []string
	authorities    []string
	endorsement    string
	answerInterval time.Duration
	webhook        string
	peersHTTP      string
	metrics        string
	peersOutput    string
}

func defaultIdentityPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "widescan-identity.pem"
	}
	return filepath.Join(dir, "widescan", "identity.pem")
}

func (f *peerFlags) bind(fl *pflag.FlagSet, peersOutputDefault string) {
	fl.StringVar(&f.identity, "identity", defaultIdentityPath(), "ed25519 identity `FILE` (PEM, mode 0600; created on first use)")
	fl.StringVar(&f.topic, "topic", "widescan", "swarm topic: the card's network ID is a hash of it; other swarms are ignored")
	fl.Uint16Var(&f.port, "port", 0, "service port (TCP) advertised in the card")
	fl.DurationVar(&f.cardTTL, "card-ttl", widescan.DefaultCardTTL, "lifetime of the signed card")
	fl.StringVar(&f.trust, "trust", "trustless", "trust policy: trustless (any valid signature) or authority")
	fl.StringArrayVar(&f.allow, "allow", nil, "with --trust authority: accept the keys listed in `FILE` (repeatable)")
	fl.StringArrayVar(&f.authorities, "authority", nil, "with --trust authority: accept cards endorsed by this `KEY` (hex or base64; repeatable)")
	fl.StringVar(&f.endorsement, "endorsement", "", "an authority's endorsement of our key (128 hex digits, from widescan endorse), carried in the card")
	fl.DurationVar(&f.answerInterval, "answer-interval", widescan.DefaultAnswerInterval, "answer one source at most once per this interval; 0 or negative: never answer")
	fl.StringVar(&f.webhook, "webhook", "", "POST each new peer as JSON to `URL` (retried with backoff, never blocking)")
	fl.StringVar(&f.peersHTTP, "peers-http", "", "serve the peers as JSON at http://`ADDR`/api/peers")
	fl.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics at http://`ADDR`/metrics")
	fl.StringVar(&f.peersOutput, "peers-output", peersOutputDefault, "write each new peer as a JSON line to `FILE` (- for stdout, empty for none)")
}

// beacon builds the Beacon from the flags.
func (f *peerFlags) beacon() (*widescan.Beacon, error) {
	id, err := widescan.LoadOrCreateIdentity(f.identity)
	if err != nil {
		return nil, err
	}
	b := &widescan.Beacon{Identity: id, Topic: f.topic, Port: f.port, TTL: f.cardTTL, AnswerInterval: f.answerInterval}
	if f.answerInterval == 0 {
		b.AnswerInterval = widescan.NoAnswer
	}
	if b.Trust.Mode, err = widescan.ParseTrustMode(f.trust); err != nil {
		return nil, fmt.Errorf("--trust: %w", err)
	}
	for _, p := range f.allow {
		keys, err := widescan.LoadKeyList(p)
		if err != nil {
			return nil, err
		}
		b.Trust.Allow = append(b.Trust.Allow, keys...)
	}
	for _, s := range f.authorities {
		k, err := widescan.ParsePublicKey(s)
		if err != nil {
			return nil, fmt.Errorf("--authority: %w", err)
		}
		b.Trust.Authorities = append(b.Trust.Authorities, k)
	}
	if b.Trust.Mode == widescan.TrustTrustless && (len(f.allow) > 0 || len(f.authorities) > 0) {
		return nil, errors.New("--allow and --authority need --trust authority")
	}
	if f.endorsement != "" {
		e, err := hex.DecodeString(f.endorsement)
		if err != nil || len(e) != ed25519.SignatureSize {
			return nil, errors.New("--endorsement: want 128 hex digits")
		}
		sig := [ed25519.SignatureSize]byte(e)
		b.Endorsement = &sig
	}
	return b, b.Validate()
}

// peerSinks reports peers to the places the flags name.
type peerSinks struct {
	table   widescan.PeerTable
	hook    *widescan.Webhook
	mu      sync.Mutex
	out     *json.Encoder
	closers []func() error
	servers []*http.Server
	errc    chan error
}

func (f *peerFlags) sinks(stats func() widescan.Stats) (*peerSinks, error) {
	s := &peerSinks{errc: make(chan error, 2)}
	switch f.peersOutput {
	case "":
	case "-":
		s.out = json.NewEncoder(os.Stdout)
	default:
		of, err := os.Create(f.peersOutput)
		if err != nil {
			return nil, err
		}
		s.out = json.NewEncoder(of)
		s.closers = append(s.closers, of.Close)
	}
	if f.webhook != "" {
		h, err := widescan.NewWebhook(widescan.WebhookConfig{URL: f.webhook, OnError: func(p widescan.Peer, err error) {
			fmt.Fprintf(os.Stderr, "widescan: webhook for peer %s: %v (will retry)\n", p.Addr, err)
		}})
		if err != nil {
			s.close()
			return nil, err
		}
		s.hook = h
	}
	serve := func(addr, path string, h http.Handler) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle(path, h)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		s.servers = append(s.servers, srv)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.errc <- err
			}
		}()
		fmt.Fprintf(os.Stderr, "widescan: serving http://%s%s\n", ln.Addr(), path)
		return nil
	}
	if f.peersHTTP != "" {
		if err := serve(f.peersHTTP, "/api/peers", &s.table); err != nil {
			s.close()
			return nil, fmt.Errorf("--peers-http: %w", err)
		}
	}
	if f.metrics != "" {
		if err := serve(f.metrics, "/metrics", widescan.MetricsHandler(stats)); err != nil {
			s.close()
			return nil, fmt.Errorf("--metrics: %w", err)
		}
	}
	return s, nil
}

// onPeer is the Config.OnPeer of the CLI: it never blocks on the network.
func (s *peerSinks) onPeer(p widescan.Peer) {
	s.table.Add(p)
	if s.hook != nil {
		s.hook.Notify(p)
	}
	if s.out != nil {
		s.mu.Lock()
		_ = s.out.Encode(p)
		s.mu.Unlock()
	}
}

// close stops the servers and gives the webhook up to 10 s to deliver.
func (s *peerSinks) close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s.hook != nil {
		if err := s.hook.Close(ctx); err != nil {
			st := s.hook.Stats()
			errs = append(errs, fmt.Errorf("webhook: %d peers not delivered: %w", st.Failed, err))
		}
	}
	for _, srv := range s.servers {
		srv.Close()
	}
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

type listenFlags struct {
	iface    string
	sourceIP string
	hopLimit int
	peers    peerFlags
}

func newListenCmd() *cobra.Command {
	var f listenFlags
	cmd := &cobra.Command{
		Use:   "listen [flags]",
		Short: "Listen for other widescan instances' beacons without scanning",
		Long: `Listen captures on --interface, recognises the beacon cards in the Echo
Requests other widescan instances send (their scans probing us), verifies each
card (signature, expiry, --topic network, source address, --trust policy) and
reports every new peer: as JSON lines on --peers-output, to --webhook, at
--peers-http /api/peers and in --metrics. A new peer that probed us is answered
once with our own card (at most once per --answer-interval per source), so it
learns about us too. It runs until interrupted. Needs root or CAP_NET_RAW.`,
		Example: `  widescan listen -i eth0 --topic my-swarm --port 4001 --peers-http [::1]:8080
  widescan listen -i eth0 --trust authority --authority 3b6a27bc... --webhook http://[::1]:9000/peers`,
		RunE: func(cmd *cobra.Command, args []string) error { return runListen(cmd.Context(), f) },
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.iface, "interface", "i", "", "interface to capture and answer on (required)")
	fl.StringVar(&f.sourceIP, "source-ip", "", "our address, in the card and as the answers' source (default: the interface's first global IPv6 address)")
	fl.IntVar(&f.hopLimit, "hop-limit", 64, "answers' IPv6 hop limit")
	f.peers.bind(fl, "-")
	return cmd
}

func runListen(ctx context.Context, f listenFlags) error {
	if f.iface == "" {
		return errors.New("listen: --interface required")
	}
	b, err := f.peers.beacon()
	if err != nil {
		return err
	}
	cfg := widescan.ListenConfig{Interface: f.iface, HopLimit: f.hopLimit, Beacon: b}
	if f.sourceIP != "" {
		a, err := netip.ParseAddr(f.sourceIP)
		if err != nil || !a.Is6() || a.Is4In6() {
			return fmt.Errorf("--source-ip %q: not an IPv6 address", f.sourceIP)
		}
		cfg.SourceIP = a
	}
	var lp atomic.Pointer[widescan.Listener] // for the metrics endpoint
	sinks, err := f.peers.sinks(func() widescan.Stats {
		if l := lp.Load(); l != nil {
			return l.Stats()
		}
		return widescan.Stats{}
	})
	if err != nil {
		return err
	}
	cfg.OnPeer = sinks.onPeer
	l, err := widescan.NewListener(cfg)
	if err != nil {
		sinks.close()
		return err
	}
	lp.Store(l)
	fmt.Fprintf(os.Stderr, "widescan: listening on %s as %s, network %s\n", f.iface,
		widescan.FormatPublicKey(b.Identity.PublicKey()), b.Network())
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case err := <-sinks.errc:
			fmt.Fprintln(os.Stderr, "widescan: http:", err)
			cancel()
		case <-lctx.Done():
		}
	}()
	st, runErr := l.Run(lctx)
	cerr := sinks.close()
	fmt.Fprintln(os.Stderr, peerSummary(st))
	if runErr != nil {
		return runErr
	}
	if ctx.Err() != nil {
		return errInterrupted
	}
	return cerr
}

// peerSummary is the one-line account of the peer counters.
func peerSummary(st widescan.Stats) string {
	return fmt.Sprintf("widescan: peers=%d beacons=%d duplicate=%d rejected: forged=%d expired=%d wrong_network=%d replayed=%d untrusted=%d malformed=%d self=%d verify_limited=%d answers=%d answers_limited=%d",
		st.Peers, st.Beacons, st.PeerDuplicate, st.Forged, st.Expired, st.WrongNetwork, st.Replayed, st.Untrusted, st.Malformed, st.Self, st.VerifyLimited,
		st.Answers, st.AnswersLimited)
}

func newIdentityCmd() *cobra.Command {
	var path, topic, authority string
	cmd := &cobra.Command{
		Use:   "identity [KEY]",
		Short: "Print this instance's public key (creating the identity), or endorse KEY as an authority",
		Long: `identity prints the public key of --identity, creating the file (mode 0600)
on first use. With --endorse-as AUTHORITY_FILE and a KEY argument it prints the
authority's endorsement of KEY for --topic instead: give it to the KEY's owner
for --endorsement, and the authority's public key to peers for --authority.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if authority == "" {
				if len(args) != 0 {
					return errors.New("identity: KEY needs --endorse-as")
				}
				id, err := widescan.LoadOrCreateIdentity(path)
				if err != nil {
					return err
				}
				fmt.Println(widescan.FormatPublicKey(id.PublicKey()))
				return nil
			}
			if len(args) != 1 {
				return errors.New("identity --endorse-as: give the KEY to endorse")
			}
			auth, err := widescan.LoadOrCreateIdentity(authority)
			if err != nil {
				return err
			}
			k, err := widescan.ParsePublicKey(args[0])
			if err != nil {
				return err
			}
			e := icmp.Endorse(auth.PrivateKey, icmp.NetworkFor(topic), [32]byte(k))
			fmt.Println(hex.EncodeToString(e[:]))
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "identity", defaultIdentityPath(), "identity `FILE`")
	cmd.Flags().StringVar(&topic, "topic", "widescan", "swarm topic of the endorsement")
	cmd.Flags().StringVar(&authority, "endorse-as", "", "authority identity `FILE`: endorse KEY")
	return cmd
}
