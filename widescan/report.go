package widescan

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// peerJSON is the JSON form of a Peer.
type peerJSON struct {
	Addr      string `json:"addr"`
	PublicKey string `json:"public_key"`
	NetworkID string `json:"network_id"`
	Port      uint16 `json:"port"`
	Expiry    string `json:"expiry"`
	FirstSeen string `json:"first_seen"`
	Via       string `json:"via"`
}

// MarshalJSON encodes p as an object with the fields addr, public_key (64
// hex digits), network_id (32 hex digits), port, expiry and first_seen
// (RFC 3339, UTC) and via ("probe" or "answer"), as the webhook and the
// peers endpoint send it.
func (p Peer) MarshalJSON() ([]byte, error) {
	return json.Marshal(peerJSON{
		Addr:      p.Addr.String(),
		PublicKey: hex.EncodeToString(p.PublicKey),
		NetworkID: p.NetworkID.String(),
		Port:      p.Port,
		Expiry:    p.Expiry.UTC().Format(time.RFC3339),
		FirstSeen: p.FirstSeen.UTC().Format(time.RFC3339Nano),
		Via:       p.Via.String(),
	})
}

// UnmarshalJSON decodes the form MarshalJSON writes.
func (p *Peer) UnmarshalJSON(b []byte) error {
	var j peerJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	a, err := netip.ParseAddr(j.Addr)
	if err != nil {
		return fmt.Errorf("widescan: peer addr: %w", err)
	}
	pub, err := ParsePublicKey(j.PublicKey)
	if err != nil {
		return err
	}
	nid, err := hex.DecodeString(j.NetworkID)
	if err != nil || len(nid) != len(p.NetworkID) {
		return fmt.Errorf("widescan: peer network_id %q", j.NetworkID)
	}
	exp, err1 := time.Parse(time.RFC3339, j.Expiry)
	seen, err2 := time.Parse(time.RFC3339Nano, j.FirstSeen)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("widescan: peer times: %w", err)
	}
	via := ViaProbe
	if j.Via == ViaAnswer.String() {
		via = ViaAnswer
	}
	*p = Peer{Addr: a, PublicKey: pub, NetworkID: [16]byte(nid), Port: j.Port, Expiry: exp, FirstSeen: seen, Via: via}
	return nil
}

// key identifies a peer: its public key and address.
func (p Peer) key() string { return string(p.PublicKey) + p.Addr.String() }

// PeerTable is the set of peers found so far, one entry per (public key,
// address) in order of discovery. It serves them as JSON (see ServeHTTP).
// The zero value is an empty table; it is safe for concurrent use.
type PeerTable struct {
	mu    sync.Mutex
	peers []Peer
	index map[string]struct{}
}

// Add inserts p and reports whether it was new. Use it as (or in)
// Config.OnPeer.
func (t *PeerTable) Add(p Peer) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.index == nil {
		t.index = map[string]struct{}{}
	}
	if _, ok := t.index[p.key()]; ok {
		return false
	}
	t.index[p.key()] = struct{}{}
	t.peers = append(t.peers, p)
	return true
}

// Peers returns a copy of the peers, in order of discovery.
func (t *PeerTable) Peers() []Peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Peer(nil), t.peers...)
}

// Len returns the number of peers.
func (t *PeerTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.peers)
}

// ServeHTTP answers GET (and HEAD) with the peers as a JSON array of the
// objects Peer.MarshalJSON writes, content type application/json, and other
// methods with 405. Mount it at /api/peers, the path the CLI's --peers-http
// serves (after P2PBootstrap's /api/Bootstrap/peers).
func (t *PeerTable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	peers := t.Peers()
	if peers == nil {
		peers = []Peer{}
	}
	b, err := json.Marshal(peers)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// Webhook defaults.
const (
	// DefaultWebhookAttempts is WebhookConfig.MaxAttempts when 0.
	DefaultWebhookAttempts = 8
	// DefaultWebhookBackoff is the first retry delay when
	// WebhookConfig.Backoff is 0; each retry doubles it, up to MaxBackoff.
	DefaultWebhookBackoff = 500 * time.Millisecond
	// DefaultWebhookMaxBackoff is WebhookConfig.MaxBackoff when 0.
	DefaultWebhookMaxBackoff = 30 * time.Second
	// DefaultWebhookTimeout is the per-request timeout of the default
	// client.
	DefaultWebhookTimeout = 10 * time.Second
)

// WebhookConfig configures a Webhook. URL is required; the zero value of the
// other fields is their default.
type WebhookConfig struct {
	// URL receives one POST per new peer: the JSON object of
	// Peer.MarshalJSON, content type application/json, with an
	// Idempotency-Key header (public key and address) that stays the same
	// across retries, so a receiver can drop the copy of a delivery whose
	// response was lost. Required; http or https.
	URL string
	// Client sends the requests. nil: an http.Client with
	// DefaultWebhookTimeout.
	Client *http.Client
	// MaxAttempts is how many times one peer is tried before it is given
	// up (counted in WebhookStats.Failed). 0: DefaultWebhookAttempts;
	// negative: until Close.
	MaxAttempts int
	// Backoff is the delay before the first retry, doubled on each
	// further one up to MaxBackoff. 0: DefaultWebhookBackoff and
	// DefaultWebhookMaxBackoff.
	Backoff, MaxBackoff time.Duration
	// OnError, when not nil, is called (from the delivery goroutine) with
	// each failed attempt's error.
	OnError func(Peer, error)
}

// WebhookStats counts deliveries.
type WebhookStats struct {
	// Delivered counts peers the URL accepted (2xx); Attempts counts all
	// requests; Failed counts peers given up after MaxAttempts or at
	// Close; Pending is the queue length now.
	Delivered, Attempts, Failed uint64
	Pending                     int
}

// Webhook POSTs each peer given to Notify to a URL, in order, from one
// goroutine, retrying failures (network errors, non-2xx statuses) with
// exponential backoff, as the Scrypta network's HOOK does. Notify never
// blocks: the queue is unbounded (one entry per new peer), so a slow or
// failing receiver never delays a scan. Safe for concurrent use.
type Webhook struct {
	cfg    WebhookConfig
	wake   chan struct{}
	closed chan struct{}
	done   chan struct{}
	stop   context.CancelFunc
	ctx    context.Context

	mu    sync.Mutex
	queue []Peer
	shut  bool

	delivered, attempts, failed atomic.Uint64
}

// NewWebhook checks cfg and starts the delivery goroutine; Close stops it.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("widescan: webhook URL %q: want an http or https URL with a host", cfg.URL)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: DefaultWebhookTimeout}
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultWebhookAttempts
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultWebhookBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultWebhookMaxBackoff
	}
	ctx, stop := context.WithCancel(context.Background())
	w := &Webhook{cfg: cfg, wake: make(chan struct{}, 1), closed: make(chan struct{}), done: make(chan struct{}), ctx: ctx, stop: stop}
	go w.loop()
	return w, nil
}

// Notify queues p for delivery and returns at once. After Close it drops p
// (counted in Failed).
func (w *Webhook) Notify(p Peer) {
	w.mu.Lock()
	if w.shut {
		w.mu.Unlock()
		w.failed.Add(1)
		return
	}
	w.queue = append(w.queue, p)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Stats returns the counters so far.
func (w *Webhook) Stats() WebhookStats {
	w.mu.Lock()
	n := len(w.queue)
	w.mu.Unlock()
	return WebhookStats{Delivered: w.delivered.Load(), Attempts: w.attempts.Load(), Failed: w.failed.Load(), Pending: n}
}

// Close stops accepting peers and waits until the queue is delivered or ctx
// is done; then it abandons what is left (counted in Failed) and returns
// ctx's error. Close is idempotent.
func (w *Webhook) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.shut {
		w.shut = true
		close(w.closed)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		w.stop()
		<-w.done
		return ctx.Err()
	}
}

func (w *Webhook) loop() {
	defer close(w.done)
	for {
		w.mu.Lock()
		if len(w.queue) == 0 {
			shut := w.shut
			w.mu.Unlock()
			if shut {
				return
			}
			select {
			case <-w.wake:
			case <-w.closed:
			case <-w.ctx.Done():
			}
			if w.ctx.Err() != nil {
				w.abandon()
				return
			}
			continue
		}
		p := w.queue[0]
		w.mu.Unlock()
		ok := w.deliver(p)
		w.mu.Lock()
		w.queue = w.queue[1:]
		w.mu.Unlock()
		if ok {
			w.delivered.Add(1)
		} else {
			w.failed.Add(1)
		}
		if w.ctx.Err() != nil {
			w.abandon()
			return
		}
	}
}

func (w *Webhook) abandon() {
	w.mu.Lock()
	w.failed.Add(uint64(len(w.queue)))
	w.queue = nil
	w.mu.Unlock()
}

// deliver tries p until it is accepted, MaxAttempts is reached, or the
// Webhook is stopped.
func (w *Webhook) deliver(p Peer) bool {
	body, err := json.Marshal(p)
	if err != nil {
		return false
	}
	delay := w.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err := w.post(p, body)
		if err == nil {
			return true
		}
		if w.cfg.OnError != nil {
			w.cfg.OnError(p, err)
		}
		if w.cfg.MaxAttempts > 0 && attempt >= w.cfg.MaxAttempts {
			return false
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
			return false
		}
		delay = min(2*delay, w.cfg.MaxBackoff)
	}
}

func (w *Webhook) post(p Peer, body []byte) error {
	w.attempts.Add(1)
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", hex.EncodeToString(p.PublicKey)+"/"+p.Addr.String())
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook: %s", resp.Status)
	}
	return nil
}

// MetricsHandler serves stats() as Prometheus metrics (through
// github.com/prometheus/client_golang): counters named widescan_*_total,
// widescan_cards_rejected_total with a reason label, and the gauge
// widescan_peers_known, for a long-running listen mode or scan. It calls stats
// once per scrape; stats must be safe for concurrent use (as Scanner.Stats
// and Listener.Stats are).
func MetricsHandler(stats func() Stats) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(statsCollector(stats))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// statsCollector exports a Stats snapshot, taken at each scrape.
type statsCollector func() Stats

type statsMetric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(Stats) uint64
}

var (
	statsMetrics = []statsMetric{
		counter("probes_sent_total", "Probes handed to the kernel.", func(s Stats) uint64 { return s.Sent }),
		counter("hits_total", "Validated, deduplicated hits.", func(s Stats) uint64 { return s.Hits }),
		counter("replies_received_total", "Echo Replies captured.", func(s Stats) uint64 { return s.Received }),
		counter("kernel_drops_total", "Packets the capture ring dropped.", func(s Stats) uint64 { return s.KernelDrops }),
		counter("beacons_received_total", "Inbound Echo Requests carrying a beacon card.", func(s Stats) uint64 { return s.Beacons }),
		counter("answers_sent_total", "Answers sent to new peers.", func(s Stats) uint64 { return s.Answers }),
		counter("answers_limited_total", "Answers withheld by the per-source rate limit.", func(s Stats) uint64 { return s.AnswersLimited }),
		{prometheus.NewDesc("widescan_peers_known", "Verified peers reported so far.", nil, nil), prometheus.GaugeValue,
			func(s Stats) uint64 { return s.Peers }},
	}
	cardsRejected = prometheus.NewDesc("widescan_cards_rejected_total", "Beacon cards rejected, by reason.", []string{"reason"}, nil)
	rejectReasons = []struct {
		reason string
		value  func(Stats) uint64
	}{
		{"malformed", func(s Stats) uint64 { return s.Malformed }},
		{"forged", func(s Stats) uint64 { return s.Forged }},
		{"expired", func(s Stats) uint64 { return s.Expired }},
		{"wrong_network", func(s Stats) uint64 { return s.WrongNetwork }},
		{"replayed", func(s Stats) uint64 { return s.Replayed }},
		{"self", func(s Stats) uint64 { return s.Self }},
		{"untrusted", func(s Stats) uint64 { return s.Untrusted }},
		{"verify_limited", func(s Stats) uint64 { return s.VerifyLimited }},
	}
)

func counter(name, help string, value func(Stats) uint64) statsMetric {
	return statsMetric{prometheus.NewDesc("widescan_"+name, help, nil, nil), prometheus.CounterValue, value}
}

// Describe implements prometheus.Collector.
func (c statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range statsMetrics {
		ch <- m.desc
	}
	ch <- cardsRejected
}

// Collect implements prometheus.Collector.
func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c()
	for _, m := range statsMetrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, float64(m.value(st)))
	}
	for _, r := range rejectReasons {
		ch <- prometheus.MustNewConstMetric(cardsRejected, prometheus.CounterValue, float64(r.value(st)), r.reason)
	}
}
