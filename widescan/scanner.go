package widescan

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/icmp"
	"github.com/p2pnet/widescan/prefixes"
	"github.com/p2pnet/widescan/sniffer"
)

// Scanner runs one scan. Create it with New; Run may be called once. Stats and
// Targets are safe to call from any goroutine while Run runs.
type Scanner struct {
	cfg      Config
	gen      *generator.Generator // nil for a TGA scan
	tga      *generator.TGARun    // Config.TGA's run; nil otherwise
	key      icmp.Key
	scanID   uint64
	permSeed uint64

	runOnce atomic.Bool

	mu       sync.Mutex // guards the stage pointers below, for Stats
	sender   icmp.ProbeWriter
	sniffer  *sniffer.Sniffer
	peers    *peerEngine
	pacer    *icmp.Pacer
	setRate  *float64 // the last SetRate, for a Run not started yet
	stop     context.CancelCauseFunc
	path     SendPath
	pathNote string
	start    time.Time
	end      time.Time
	last     time.Time // when the last probe went out

	backend     string // "cpu" or "gpu", once Run opened the source
	backendNote string

	generated  atomic.Uint64
	checkpoint atomic.Uint64
	hits       atomic.Uint64
	icmpErrors atomic.Uint64

	alias       *aliasState
	aliasedHits atomic.Uint64
	aliasTested atomic.Uint64
	aliasFound  atomic.Uint64
	aliasSent   atomic.Uint64
}

// New validates cfg, fills its defaults and prepares the target generator
// (blocklist applied, index space sized), or with Config.TGA the run of
// Config.Budget candidates (Config.Aliased excluded from it). It opens no
// socket. Errors: ErrNoTargets (wrapped) when no target is left after the
// blocklist, a *prefixes.Window error for a malformed window, the
// generator's errors for an IID that does not fit or a space of 2^64
// targets or more, and those of generator.TGA.NewRun.
func New(cfg Config) (*Scanner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Scanner{cfg: cfg, key: cfg.Key, scanID: cfg.ScanID, permSeed: cfg.PermSeed}
	if s.key == (icmp.Key{}) {
		k, err := icmp.NewKey()
		if err != nil {
			return nil, fmt.Errorf("widescan: MAC key: %w", err)
		}
		s.key = k
	}
	for _, p := range []*uint64{&s.scanID, &s.permSeed} {
		for *p == 0 {
			var b [8]byte
			if _, err := rand.Read(b[:]); err != nil {
				return nil, fmt.Errorf("widescan: random seed: %w", err)
			}
			*p = binary.BigEndian.Uint64(b[:])
		}
	}
	bl, err := prefixes.NewBlocklist(cfg.Blocklist, cfg.Unblock)
	if err != nil {
		return nil, fmt.Errorf("widescan: %w", err)
	}
	if s.alias, err = newAliasState(&cfg); err != nil {
		return nil, err
	}
	if cfg.TGA != nil {
		if err := s.newTGARun(bl); err != nil {
			return nil, err
		}
		return s, nil
	}
	gen, err := generator.New(generator.Config{
		Windows:    cfg.Targets,
		Patterns:   cfg.Patterns,
		List:       cfg.List,
		Start:      cfg.Start,
		Blocklist:  bl,
		IID:        cfg.IID,
		PermSeed:   s.permSeed,
		Shard:      cfg.Shard,
		Workers:    cfg.Workers,
		BatchSize:  cfg.BatchSize,
		MaxTargets: cfg.MaxTargets,
	})
	if errors.Is(err, generator.ErrEmpty) {
		return nil, fmt.Errorf("%w: every target is blocked (%v)", ErrNoTargets, err)
	}
	if err != nil {
		return nil, fmt.Errorf("widescan: %w", err)
	}
	s.gen = gen
	s.checkpoint.Store(min(cfg.Start, gen.End()))
	return s, nil
}

// newTGARun prepares the run of a TGA scan: Config.Budget candidates, none
// blocked by bl or inside Config.Aliased, in the run's default batches
// (small, so that the feedback reaches the candidates not generated yet).
func (s *Scanner) newTGARun(bl *prefixes.Blocklist) error {
	run, err := s.cfg.TGA.NewRun(generator.TGARunConfig{Budget: int(s.cfg.Budget), BatchSize: s.cfg.BatchSize, Blocklist: bl, Spawn: s.cfg.TGASpawn})
	if err != nil {
		return fmt.Errorf("widescan: %w", err)
	}
	for _, p := range s.cfg.Aliased {
		run.Exclude(p)
	}
	if _, ok := run.First(); !ok {
		return fmt.Errorf("%w: the TGA has no candidate outside the blocklist (%d seeds)", ErrNoTargets, s.cfg.TGA.Seeds())
	}
	s.tga = run
	return nil
}

// tgaQueueDepth is the default queue depth of a TGA scan (Config.QueueDepth
// 0): one batch waits between the run and the sender, so the run is at most
// a few of its small batches ahead of the probes.
const tgaQueueDepth = 1

// Targets is the number of targets the run will probe (its shard's sequence
// positions from Config.Start, after MaxTargets; a few may still be dropped
// by partly blocked subnets and counted in Stats.Blocked). For a TGA scan it
// is Config.Budget, an upper bound: the run ends sooner when the TGA runs
// out of candidates.
func (s *Scanner) Targets() uint64 {
	if s.gen == nil {
		return s.cfg.Budget
	}
	return s.gen.Count()
}

// Windows returns the target windows after the blocklist was subtracted;
// nil for a TGA scan.
func (s *Scanner) Windows() []prefixes.Window {
	if s.gen == nil {
		return nil
	}
	return s.gen.Windows()
}

// Key returns the MAC key of the run (the configured one, or the random one
// drawn by New).
func (s *Scanner) Key() icmp.Key { return s.key }

// Stats returns a snapshot of the counters. It is safe for concurrent use.
func (s *Scanner) Stats() Stats {
	st := Stats{
		PermSeed:   s.permSeed,
		ScanID:     s.scanID,
		Targets:    s.Targets(),
		Hits:       s.hits.Load(),
		Generated:  s.generated.Load(),
		Checkpoint: s.checkpoint.Load(),

		AliasedHits: s.aliasedHits.Load(),
		AliasTested: s.aliasTested.Load(),
		AliasFound:  s.aliasFound.Load(),
		AliasSent:   s.aliasSent.Load(),
	}
	if s.gen != nil {
		st.Blocked = s.gen.Blocked()
	}
	if s.tga != nil {
		ts := s.tga.Stats()
		st.Blocked = ts.Blocked
		st.TGAHits, st.TGARounds, st.TGASpawned, st.TGAExcluded = ts.Hits, ts.Rounds, ts.Spawned, ts.Excluded
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Start, st.End, st.LastProbe = s.start, s.end, s.last
	st.SendPath, st.SendPathNote = s.path, s.pathNote
	st.Backend, st.BackendNote = s.backend, s.backendNote
	st.ICMPErrors = s.icmpErrors.Load()
	if s.sender != nil {
		ss := s.sender.Stats()
		st.Sent, st.SendErrors = ss.Sent, ss.Errors
	}
	if s.sniffer != nil {
		st.addSniffer(s.sniffer.Stats())
	}
	st.addAnswers(s.peers)
	return st
}

// Run probes every target at Config.Rate probes/s and reports hits to
// Config.OnHit until the targets are exhausted and Config.Cooldown has
// passed, or ctx is done. It returns the final Stats, and ctx's error when
// the scan was stopped early (every hit captured by then has been reported).
// Errors: ErrPermission (wrapped) without root or CAP_NET_RAW, an error
// naming the interface when it does not exist, generator.ErrNoGPU (wrapped)
// when Config.Backend is generator.BackendGPU and the GPU worker cannot
// start, generator.ErrGPUWorker (wrapped) when it fails later, and any
// stage's failure. Stats.Checkpoint says where to resume a stopped run.
// With Config.AliasCheck, Run also runs the alias test after the cooldown
// and reports the held hits last; a failed test is an error wrapped with
// "alias check". Run may be called once.
func (s *Scanner) Run(ctx context.Context) (Stats, error) {
	if !s.runOnce.CompareAndSwap(false, true) {
		return s.Stats(), errors.New("widescan: Run called twice")
	}
	s.mu.Lock()
	s.start = time.Now()
	s.mu.Unlock()
	err := s.run(ctx)
	if s.cfg.AliasCheck > 0 {
		if aerr := s.finishAliasCheck(ctx, err); err == nil {
			err = aerr
		}
	}
	s.mu.Lock()
	s.end = time.Now()
	s.mu.Unlock()
	return s.Stats(), err
}

// errMaxResults is the cause with which Run stops at Config.MaxResults.
var errMaxResults = errors.New("widescan: maximum results reached")

func (s *Scanner) run(parent context.Context) error {
	ctx, stop := context.WithCancelCause(parent)
	defer stop(nil)
	s.mu.Lock()
	s.stop = stop
	s.mu.Unlock()
	// Namespace-dependent work (route, neighbour and interface lookups,
	// sockets) runs here, on the caller's goroutine, before any stage
	// starts.
	ifname, src, err := s.route()
	if err != nil {
		return err
	}
	scfg := icmp.SenderConfig{Interface: ifname, Source: src, HopLimit: s.cfg.HopLimit, Key: s.key, ScanID: s.scanID}
	scf := sniffer.Config{Interface: ifname, Key: s.key, ScanID: s.scanID, RingBytes: s.cfg.RingBytes}
	var pe *peerEngine
	if s.cfg.Beacon != nil {
		if pe, err = newPeerEngine(s.cfg.Beacon, src, time.Now()); err != nil {
			return err
		}
		pe.onPeer = s.cfg.OnPeer
		pe.sniffConfig(&scf)
		scfg.Card = pe.card
	}
	var w icmp.ProbeWriter
	var sn *sniffer.Sniffer
	path := SendPathRaw
	if s.cfg.DryRun != nil {
		pw, err := icmp.NewPcapWriter(s.cfg.DryRun, scfg)
		if err != nil {
			return fmt.Errorf("widescan: dry run: %w", err)
		}
		w = pw
	} else {
		var gw net.HardwareAddr
		var note string
		path, gw, note, err = s.choosePath(ctx, ifname, s.firstTarget())
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.path, s.pathNote = path, note
		s.mu.Unlock()
		sn, err = sniffer.Open(scf)
		if err != nil {
			return fmt.Errorf("widescan: %w", err)
		}
		defer sn.Close()
		if pe != nil {
			if err := pe.openAnswers(ifname, s.cfg.HopLimit, s.key, s.scanID); err != nil {
				return err
			}
			defer pe.close()
		}
		if path == SendPathPacket {
			ps, err := icmp.NewPacketSender(icmp.PacketConfig{SenderConfig: scfg, GatewayMAC: gw})
			if err != nil {
				return fmt.Errorf("widescan: %w", err)
			}
			w = ps
		} else {
			snd, err := icmp.NewSender(scfg)
			if err != nil {
				return fmt.Errorf("widescan: %w", err)
			}
			w = snd
		}
	}
	defer w.Close()
	pacer := icmp.NewPacer(s.cfg.rateFor(scfg.WireBits()))
	s.mu.Lock()
	s.sender, s.sniffer, s.peers, s.pacer = w, sn, pe, pacer
	if s.setRate != nil && s.cfg.DryRun == nil {
		pacer.SetRate(*s.setRate)
	}
	s.mu.Unlock()

	// The source opens last, after the namespace-bound work: the GPU
	// worker is a child process that needs none of it.
	source, fallback, err := s.openSource(ctx)
	if err != nil {
		return err
	}
	gpu, _ := source.(*generator.GPU)
	generating := false
	defer func() {
		if gpu != nil && !generating {
			gpu.Close() // Generate, had it run, would have reaped the worker
		}
	}()
	s.mu.Lock()
	s.backend = "cpu"
	if gpu != nil {
		s.backend = "gpu"
	}
	if fallback != "" {
		s.backendNote = fallback
	}
	s.mu.Unlock()

	g, gctx := errgroup.WithContext(ctx)
	// sendCtx ends the send phase: at Config.MaxRuntime, or with the run.
	sendCtx, stopSend := context.WithCancel(gctx)
	defer stopSend()
	if s.cfg.MaxRuntime > 0 {
		sendCtx, stopSend = context.WithDeadline(gctx, s.Stats().Start.Add(s.cfg.MaxRuntime))
		defer stopSend()
	}
	depth := s.cfg.QueueDepth
	switch {
	case depth != 0:
	case s.tga != nil:
		depth = tgaQueueDepth
	default:
		depth = DefaultQueueDepth
	}
	batches := make(chan *generator.Batch, depth) // a full queue is back-pressure
	sentAll := make(chan struct{})                // closed once the last probe is out

	exhausted := make(chan bool, 1) // whether the source sent every target
	generating = true
	g.Go(func() error {
		err := source.Generate(sendCtx, batches)
		exhausted <- err == nil
		if err != nil && gctx.Err() == nil && sendCtx.Err() != nil {
			return nil // stopped at MaxRuntime
		}
		return err
	})
	g.Go(func() error {
		err := s.send(sendCtx, pacer, w, source, batches)
		// send returns nil only once the queue is closed: Generate has
		// returned.
		if err == nil && <-exhausted && s.gen != nil {
			// Every batch is sent; the positions after the last one, if
			// any, were all blocked.
			s.checkpoint.Store(s.gen.End())
		}
		if err != nil && gctx.Err() == nil && sendCtx.Err() != nil {
			err = nil // stopped at MaxRuntime
		}
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.last = time.Now()
		s.mu.Unlock()
		close(sentAll)
		return nil
	})
	if sn != nil {
		g.Go(func() error {
			// The sniffer stops after the cooldown that follows the last
			// probe, or as soon as the scan is stopped.
			sctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				select {
				case <-sentAll:
					t := time.NewTimer(s.cfg.cooldown())
					defer t.Stop()
					select {
					case <-t.C:
					case <-gctx.Done():
					}
				case <-gctx.Done():
				}
				cancel()
			}()
			return sn.RunEvents(sctx, func(ev sniffer.Event) {
				switch ev.Kind {
				case sniffer.EventReply:
					s.emit(ev.Reply)
				case sniffer.EventPeer:
					pe.handle(ev.Peer, time.Now())
				}
			})
		})
	}
	err = g.Wait()
	if parent.Err() != nil {
		return parent.Err() // stopped: the stages' own errors only echo it
	}
	if errors.Is(context.Cause(ctx), errMaxResults) {
		return nil
	}
	return err
}

// TGABackendNote is Stats.BackendNote of a TGA scan with
// generator.BackendAuto: why it generates on the CPU.
const TGABackendNote = "TGA expansion runs on the CPU"

// openSource returns the run's target source: the TGA run, or the
// generator's backend (see generator.OpenBackend), with the reason for a
// fallback to the CPU ("" when there was none).
func (s *Scanner) openSource(ctx context.Context) (generator.Source, string, error) {
	if s.tga != nil {
		if s.cfg.Backend == generator.BackendAuto {
			return s.tga, TGABackendNote, nil
		}
		return s.tga, "", nil
	}
	source, fallback, err := generator.OpenBackend(ctx, s.gen, s.cfg.Backend, s.cfg.GPU)
	if err != nil {
		return nil, "", fmt.Errorf("widescan: %w", err)
	}
	if fallback != nil {
		return source, fallback.Error(), nil
	}
	return source, "", nil
}

// send paces and sends every batch Config.Probes times, in chunks of at
// most the pacer's burst, so that a batch never leaves as one burst larger
// than configured, and advances the checkpoint as batches go out. It
// returns ctx's error when stopped.
func (s *Scanner) send(ctx context.Context, pacer *icmp.Pacer, w icmp.ProbeWriter, src generator.Source, batches <-chan *generator.Batch) error {
	copies := s.cfg.probes()
	for b := range batches {
		s.generated.Add(uint64(len(b.Targets)))
		for i := range copies {
			for t := b.Targets; len(t) > 0; {
				c := min(len(t), pacer.Burst())
				err := pacer.Wait(ctx, c)
				n := 0
				if err == nil {
					n, err = w.Send(ctx, t[:c])
				}
				if err != nil {
					if i == 0 {
						// Resume with the first target of the first
						// copy that did not go out.
						s.checkpoint.Store(b.Resume(len(b.Targets) - len(t) + n))
					} else {
						s.checkpoint.Store(b.Next)
					}
					src.Put(b)
					drain(batches)
					if ctx.Err() != nil {
						return ctx.Err()
					}
					return fmt.Errorf("send: %w", err)
				}
				t = t[c:]
			}
		}
		s.checkpoint.Store(b.Next)
		src.Put(b)
	}
	return ctx.Err()
}

// SetRate changes the probe rate to r probes/s while the scan runs (r <= 0:
// unlimited), or sets the rate a later Run starts with; it overrides
// Config.Rate and Config.Bandwidth. The change applies from the next chunk
// of at most the pacer's burst (see icmp.Pacer.SetRate). It has no effect
// on a dry run. Safe for concurrent use.
func (s *Scanner) SetRate(r float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setRate = &r
	if s.pacer != nil && s.cfg.DryRun == nil {
		s.pacer.SetRate(r)
	}
}

// Rate returns the current probe rate in probes/s (+Inf: unlimited; 0
// before Run starts pacing). Safe for concurrent use.
func (s *Scanner) Rate() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pacer == nil {
		return 0
	}
	return s.pacer.Rate()
}

// firstTarget returns a target for the route lookup: the first unblocked
// one of the sequence among its first few, else the first window's prefix,
// pattern address or list address; for a TGA scan the run's first
// candidate.
func (s *Scanner) firstTarget() netip.Addr {
	if s.tga != nil {
		if a, ok := s.tga.First(); ok {
			return a
		}
		return netip.IPv6Unspecified()
	}
	for pos := range uint64(16) {
		if t, ok := s.gen.Target(pos); ok {
			return netip.AddrFrom16(t)
		}
	}
	if ws := s.gen.Windows(); len(ws) > 0 {
		return ws[0].Prefix.Addr()
	}
	if ps := s.gen.Patterns(); len(ps) > 0 {
		return ps[0].Addr(0)
	}
	if s.cfg.List.Len() > 0 {
		return s.cfg.List.Addr(0)
	}
	return netip.IPv6Unspecified()
}

// drain empties the queue so that the generator, blocked on a send, sees its
// context end; the generator closes the channel.
func drain(ch <-chan *generator.Batch) {
	go func() {
		for range ch {
		}
	}()
}

func (s *Scanner) emit(r sniffer.Reply) {
	if m := s.cfg.MaxResults; m > 0 {
		n := s.hits.Load()
		if n >= m {
			return // over the cap: the run is stopping
		}
		if n+1 == m {
			defer s.stopRun()
		}
	}
	s.hits.Add(1)
	if r.Type != icmp.TypeEchoReply {
		s.icmpErrors.Add(1)
	}
	h := hitOf(r)
	a := s.alias
	known := a.knownAliased(h.Target)
	if s.tga != nil && !known && h.Success() && h.Responder == h.Target {
		// Feedback first: the run's next candidates should not wait for
		// the alias test after the send phase.
		s.tga.Hit(h.Target.As16())
	}
	switch {
	case known:
		h.Aliased = true
	case a.per64 != nil:
		// Held until the alias test after the send phase.
		if h.Success() {
			a.per64[upper64(h.Target)]++
		}
		a.held = append(a.held, h)
		return
	}
	s.deliver(h)
}

// deliver counts an aliased hit and hands h to Config.OnHit.
func (s *Scanner) deliver(h Hit) {
	if h.Aliased {
		s.aliasedHits.Add(1)
	}
	if s.cfg.OnHit != nil {
		s.cfg.OnHit(h)
	}
}

// stopRun ends the run at Config.MaxResults.
func (s *Scanner) stopRun() {
	s.mu.Lock()
	stop := s.stop
	s.mu.Unlock()
	if stop != nil {
		stop(errMaxResults)
	}
}

// route picks the interface and the source address: the configured ones, or
// those the kernel's routing table gives for the first target. Connecting a
// UDP socket sends nothing; it only asks the kernel for the route.
func (s *Scanner) route() (ifname string, src netip.Addr, err error) {
	ifname, src = s.cfg.Interface, s.cfg.SourceIP
	if !src.IsValid() {
		dst := s.firstTarget()
		c, err := net.DialUDP("udp6", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 33434)))
		if err != nil {
			return "", netip.Addr{}, fmt.Errorf("widescan: no route to %s to pick a source address (set a source IP): %w", dst, err)
		}
		src = c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
		c.Close()
	}
	if ifname != "" || s.cfg.DryRun != nil {
		return ifname, src, nil
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("widescan: list interfaces: %w", err)
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == src {
					return ifc.Name, src, nil
				}
			}
		}
	}
	return "", netip.Addr{}, fmt.Errorf("widescan: no interface holds source address %s (set an interface)", src)
}
