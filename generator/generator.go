package generator

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/cpuid/v2"
	"github.com/p2pnet/widescan/prefixes"
	"go4.org/netipx"
)

// DefaultBatchSize is the number of targets per batch when Config.BatchSize
// is 0.
const DefaultBatchSize = 1024

var (
	// ErrEmpty is returned by New when no target is left after the
	// blocklist is subtracted (or no window was given).
	ErrEmpty = errors.New("generator: no targets left after the blocklist")
	// ErrTooLarge is wrapped by New when the index space reaches 2^64
	// targets; the error names the window at which it overflows.
	ErrTooLarge = errors.New("index space of 2^64 targets or more")
	// ErrIIDFit is wrapped by New when the IID does not fit in a window's
	// host bits; the error names the window.
	ErrIIDFit = errors.New("IID does not fit in the host bits")
	// ErrGenerated is returned by a second call of Generate.
	ErrGenerated = errors.New("generator: Generate called twice")
)

// Shard selects one of Count disjoint parts of the sequence: shard Index of
// Count takes the sequence positions p with p ≡ Index (mod Count). Shards
// with the same PermSeed and windows are disjoint and together cover the
// whole space. The zero value is the whole space (Count 0 is taken as 1).
type Shard struct {
	Index, Count uint64
}

// Validate reports an error unless Index < Count (Count 0 counting as 1).
func (s Shard) Validate() error {
	if s.Index >= max(s.Count, 1) {
		return fmt.Errorf("shard %d of %d: index must be below the count", s.Index, s.Count)
	}
	return nil
}

// Config configures a Generator. The zero value of each field is its default;
// Windows must name at least one target.
type Config struct {
	// Windows are the target windows. Overlapping windows with the same End
	// are merged; blocked space is removed (see prefixes.Blocklist.Subtract).
	Windows []prefixes.Window
	// Blocklist is the space never generated. nil means
	// prefixes.NewBlocklist(nil, nil): the built-in list with nothing lifted.
	Blocklist *prefixes.Blocklist
	// IID fills the host bits after each window's End. The zero value is
	// low:1. Windows with End 128 are single addresses and take no IID.
	IID IID
	// PermSeed keys the permutation (and the random IID). Runs with the same
	// seed, windows and blocklist generate the same sequence.
	PermSeed uint64
	// Shard selects the part of the sequence this generator visits. The
	// zero value is the whole sequence.
	Shard Shard
	// Workers is the number of goroutines Generate runs. 0 means the number
	// of physical cores (cpuid), or runtime.NumCPU() when that is unknown.
	Workers int
	// BatchSize is the most targets per Batch. 0 means DefaultBatchSize.
	BatchSize int
	// MaxTargets caps the sequence positions this shard visits (blocked
	// candidates count): the shard's first MaxTargets positions. 0 means no
	// cap.
	MaxTargets uint64
}

// Validate checks the fields that need no blocklist: the IID mode, the
// shard, Workers and BatchSize >= 0 and each window.
func (c *Config) Validate() error {
	if err := c.IID.Validate(); err != nil {
		return err
	}
	if err := c.Shard.Validate(); err != nil {
		return err
	}
	if c.Workers < 0 {
		return fmt.Errorf("workers %d: must not be negative", c.Workers)
	}
	if c.BatchSize < 0 {
		return fmt.Errorf("batch size %d: must not be negative", c.BatchSize)
	}
	for _, w := range c.Windows {
		if err := w.Validate(); err != nil {
			return fmt.Errorf("window %s: %w", w, err)
		}
	}
	return nil
}

// Batch is a batch of targets, IPv6 addresses in network byte order. A batch
// received from Generate belongs to the receiver until it hands it back with
// Generator.Put.
type Batch struct {
	Targets [][16]byte
}

// span is one window of the index space in the form the hot path uses.
type span struct {
	start    uint64 // first index of the window
	hi, lo   uint64 // window prefix address
	hostBits uint   // 128 - End
	k        uint64 // IIDs per subnet
}

// ipRange is an inclusive range of blocked addresses as 128-bit integers.
type ipRange struct {
	fromHi, fromLo, toHi, toLo uint64
}

// Generator enumerates the targets of a scan in a keyed pseudo-random order.
// Its methods are safe for concurrent use, except that Generate may be called
// only once.
type Generator struct {
	windows              []prefixes.Window
	spans                []span
	starts               []uint64 // spans[i].start, for the binary search
	partial              []ipRange
	perm                 Perm
	n                    uint64 // index space size
	iid                  IID
	suffixHi             uint64
	suffixLo             uint64
	randKeyHi, randKeyLo uint64

	shardIndex, shardCount uint64
	count                  uint64 // positions this shard visits
	workers                int
	batchSize              int

	blocked atomic.Uint64
	started atomic.Bool

	mu   sync.Mutex
	free []*Batch
}

// New validates cfg, subtracts the blocklist from the windows and lays out
// the index space: the windows in the order Windows returns them, each
// contributing Subnets() × K indices (K = IID.Count for low:K, 1 for fixed
// and random, 1 for windows with End 128).
//
// It returns ErrEmpty when no target is left, an error wrapping ErrTooLarge
// and naming the window when the index space reaches 2^64, and an error
// wrapping ErrIIDFit and naming the window when the IID does not fit in a
// window's host bits (low:K needs K < 2^HostBits; a fixed suffix must have no
// bit set before the window's End).
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bl := cfg.Blocklist
	if bl == nil {
		var err error
		if bl, err = prefixes.NewBlocklist(nil, nil); err != nil {
			return nil, err
		}
	}
	kept, partial, err := bl.Subtract(cfg.Windows)
	if err != nil {
		return nil, err
	}
	if len(kept) == 0 {
		return nil, ErrEmpty
	}
	g := &Generator{
		windows:    kept,
		iid:        cfg.IID,
		shardIndex: cfg.Shard.Index,
		shardCount: max(cfg.Shard.Count, 1),
		batchSize:  cfg.BatchSize,
		workers:    cfg.Workers,
	}
	if g.batchSize == 0 {
		g.batchSize = DefaultBatchSize
	}
	if g.workers == 0 {
		g.workers = cpuid.CPU.PhysicalCores
		if g.workers <= 0 {
			g.workers = runtime.NumCPU()
		}
	}
	g.suffixHi = binary.BigEndian.Uint64(cfg.IID.Suffix[:8])
	g.suffixLo = binary.BigEndian.Uint64(cfg.IID.Suffix[8:])
	g.randKeyHi, g.randKeyLo = randKeys(cfg.PermSeed)

	var n uint64
	g.spans = make([]span, 0, len(kept))
	g.starts = make([]uint64, 0, len(kept))
	for _, w := range kept {
		subnets, ok := w.Subnets()
		if !ok {
			return nil, fmt.Errorf("window %s: 2^%d subnets: %w", w, w.SubnetBits(), ErrTooLarge)
		}
		k := uint64(1)
		if w.End < 128 {
			if !cfg.IID.fits(w.HostBits()) {
				return nil, fmt.Errorf("window %s: %s in %d host bits: %w", w, cfg.IID, w.HostBits(), ErrIIDFit)
			}
			k = cfg.IID.count()
		}
		hi, size := bits.Mul64(subnets, k)
		sum, carry := bits.Add64(n, size, 0)
		if hi != 0 || carry != 0 {
			return nil, fmt.Errorf("window %s: %w", w, ErrTooLarge)
		}
		a := w.Prefix.Addr().As16()
		g.spans = append(g.spans, span{
			start:    n,
			hi:       binary.BigEndian.Uint64(a[:8]),
			lo:       binary.BigEndian.Uint64(a[8:]),
			hostBits: uint(w.HostBits()),
			k:        k,
		})
		g.starts = append(g.starts, n)
		n = sum
	}
	g.n = n
	g.perm.init(n, cfg.PermSeed)
	if g.partial, err = blockedRanges(partial); err != nil {
		return nil, err
	}

	// Positions p < n with p ≡ index (mod count).
	if g.shardIndex < n {
		rest := n - g.shardIndex
		g.count = rest / g.shardCount
		if rest%g.shardCount != 0 {
			g.count++
		}
	}
	if cfg.MaxTargets > 0 {
		g.count = min(g.count, cfg.MaxTargets)
	}
	return g, nil
}

// randKeys derives the two keys of the random IID from the seed: outputs 5
// and 6 of splitmix64 seeded with seed (outputs 1 to 4 key the permutation).
func randKeys(seed uint64) (hi, lo uint64) {
	g := uint64(golden64)
	return mix64(seed + 5*g), mix64(seed + 6*g)
}

// blockedRanges merges the partly blocked prefixes into sorted, disjoint
// inclusive ranges.
func blockedRanges(partial []netip.Prefix) ([]ipRange, error) {
	if len(partial) == 0 {
		return nil, nil
	}
	var b netipx.IPSetBuilder
	for _, p := range partial {
		b.AddPrefix(p)
	}
	set, err := b.IPSet()
	if err != nil {
		return nil, fmt.Errorf("partly blocked subnets: %w", err)
	}
	var out []ipRange
	for _, r := range set.Ranges() {
		f, t := r.From().As16(), r.To().As16()
		out = append(out, ipRange{
			fromHi: binary.BigEndian.Uint64(f[:8]), fromLo: binary.BigEndian.Uint64(f[8:]),
			toHi: binary.BigEndian.Uint64(t[:8]), toLo: binary.BigEndian.Uint64(t[8:]),
		})
	}
	return out, nil
}

// Size returns N, the size of the whole index space (all shards), at most
// 2^64-1.
func (g *Generator) Size() uint64 { return g.n }

// Count returns the number of sequence positions this shard visits, after
// MaxTargets. Blocked candidates count: Generate sends Count() - Blocked()
// targets.
func (g *Generator) Count() uint64 { return g.count }

// Windows returns the windows after the blocklist was subtracted, in index
// space order. The slice is a copy.
func (g *Generator) Windows() []prefixes.Window {
	return append([]prefixes.Window(nil), g.windows...)
}

// Blocked returns the number of candidates Generate has dropped so far
// because they fell in the blocked part of a partly blocked subnet.
func (g *Generator) Blocked() uint64 { return g.blocked.Load() }

// Target returns the target at sequence position pos: the candidate at
// index Perm.At(pos). ok is false when that address is blocked or pos >= Size().
// Target is independent of the shard; it does not allocate.
func (g *Generator) Target(pos uint64) (a [16]byte, ok bool) {
	if pos >= g.n {
		return a, false
	}
	hi, lo := g.candidate(g.perm.At(pos))
	binary.BigEndian.PutUint64(a[:8], hi)
	binary.BigEndian.PutUint64(a[8:], lo)
	return a, !g.isBlocked(hi, lo)
}

// Candidate returns the address at index idx of the (unpermuted) index space,
// before the blocklist filter: the window holding idx (binary search over the
// prefix sums), subnet o / K and IID number o % K of it, o being idx's offset
// in the window. The host bits are filled with ::(o%K + 1) for low, the suffix
// for fixed, and for random with the low HostBits bits of the 128-bit value
// mix64(idx ^ kHi) << 64 | mix64(idx ^ kLo), kHi and kLo being outputs 5 and 6
// of splitmix64 seeded with PermSeed (for random idx is the global subnet
// number, as every subnet has one IID). It panics if idx >= Size().
func (g *Generator) Candidate(idx uint64) [16]byte {
	if idx >= g.n {
		panic("generator: Candidate index out of range")
	}
	var a [16]byte
	hi, lo := g.candidate(idx)
	binary.BigEndian.PutUint64(a[:8], hi)
	binary.BigEndian.PutUint64(a[8:], lo)
	return a
}

// Perm returns the permutation of the index space. It is safe for
// concurrent use.
func (g *Generator) Perm() *Perm { return &g.perm }

// candidate maps index idx < n to its address as a 128-bit integer.
func (g *Generator) candidate(idx uint64) (hi, lo uint64) {
	// The last span whose start <= idx (starts[0] == 0).
	i, j := 0, len(g.starts)
	for j-i > 1 {
		m := int(uint(i+j) >> 1)
		if g.starts[m] <= idx {
			i = m
		} else {
			j = m
		}
	}
	s := &g.spans[i]
	o := idx - s.start
	subnet, t := o, uint64(0)
	if s.k != 1 {
		subnet, t = o/s.k, o%s.k
	}
	hb := s.hostBits
	// (hi, lo) = prefix | subnet << hostBits; Go shifts of 64 or more give 0.
	hi, lo = s.hi, s.lo
	if hb >= 64 {
		hi |= subnet << (hb - 64)
	} else {
		lo |= subnet << hb
		hi |= subnet >> (64 - hb)
	}
	if hb == 0 {
		return hi, lo // a single address: no IID
	}
	switch g.iid.Mode {
	case IIDLow:
		lo |= t + 1
	case IIDFixed:
		hi |= g.suffixHi
		lo |= g.suffixLo
	case IIDRandom:
		mhi, mlo := hostMask(hb)
		hi |= mix64(idx^g.randKeyHi) & mhi
		lo |= mix64(idx^g.randKeyLo) & mlo
	}
	return hi, lo
}

// isBlocked reports whether (hi, lo) lies in a partly blocked subnet's
// blocked ranges.
func (g *Generator) isBlocked(hi, lo uint64) bool {
	r := g.partial
	if len(r) == 0 {
		return false
	}
	// Count the ranges that start at or before the address.
	i, j := 0, len(r)
	for i < j {
		m := int(uint(i+j) >> 1)
		if r[m].fromHi < hi || r[m].fromHi == hi && r[m].fromLo <= lo {
			i = m + 1
		} else {
			j = m
		}
	}
	if i == 0 {
		return false
	}
	x := &r[i-1]
	return hi < x.toHi || hi == x.toHi && lo <= x.toLo
}

// cursor is one worker's place in its part of the shard: the shard's j-th
// positions with j ≡ worker (mod workers).
type cursor struct {
	j, step uint64
	done    bool
}

// fill appends the targets of the next BatchSize positions of c to b and
// returns the number of candidates it dropped as blocked. It does not
// allocate when b has capacity for BatchSize targets.
func (g *Generator) fill(b *Batch, c *cursor) (blocked uint64) {
	t := b.Targets
	for range g.batchSize {
		if c.done {
			break
		}
		pos := g.shardIndex + g.shardCount*c.j
		hi, lo := g.candidate(g.perm.At(pos))
		if g.count-c.j <= c.step {
			c.done = true
		} else {
			c.j += c.step
		}
		if g.isBlocked(hi, lo) {
			blocked++
			continue
		}
		var a [16]byte
		binary.BigEndian.PutUint64(a[:8], hi)
		binary.BigEndian.PutUint64(a[8:], lo)
		t = append(t, a)
	}
	b.Targets = t
	return blocked
}

// Generate visits the Count() positions of this shard with Workers goroutines
// and sends the unblocked targets to out in batches of at most BatchSize
// (worker w of W takes the shard's j-th positions with j ≡ w (mod W); the
// order of batches between workers is not fixed). Candidates in a blocked
// range are dropped and counted in Blocked. A full out blocks the workers
// (back-pressure); the caller chooses its capacity.
//
// Generate closes out before it returns. It returns nil when every position
// was visited, ctx.Err() when ctx was done first, and ErrGenerated when called
// a second time.
func (g *Generator) Generate(ctx context.Context, out chan<- *Batch) error {
	defer close(out)
	if !g.started.CompareAndSwap(false, true) {
		return ErrGenerated
	}
	if g.count == 0 {
		return nil
	}
	w := uint64(g.workers)
	w = min(w, g.count)
	var wg sync.WaitGroup
	var stopped atomic.Bool
	for i := range w {
		wg.Go(func() {
			if g.work(ctx, out, &cursor{j: i, step: w}) != nil {
				stopped.Store(true)
			}
		})
	}
	wg.Wait()
	if stopped.Load() {
		return ctx.Err()
	}
	return nil
}

// work runs one worker until its positions are done or ctx is.
func (g *Generator) work(ctx context.Context, out chan<- *Batch, c *cursor) error {
	for !c.done {
		b := g.get()
		if n := g.fill(b, c); n > 0 {
			g.blocked.Add(n)
		}
		if len(b.Targets) == 0 {
			g.Put(b)
			if err := ctx.Err(); err != nil {
				return err
			}
			continue
		}
		select {
		case out <- b:
		case <-ctx.Done():
			g.Put(b)
			return ctx.Err()
		}
	}
	return nil
}

// get returns an empty batch from the free list, or a new one.
func (g *Generator) get() *Batch {
	g.mu.Lock()
	if n := len(g.free); n > 0 {
		b := g.free[n-1]
		g.free = g.free[:n-1]
		g.mu.Unlock()
		return b
	}
	g.mu.Unlock()
	return &Batch{Targets: make([][16]byte, 0, g.batchSize)}
}

// Put hands a batch received from Generate back for reuse, so that the steady
// state allocates nothing. The caller must not touch b afterwards. Put is
// safe for concurrent use; batches not made by this generator are ignored.
func (g *Generator) Put(b *Batch) {
	if b == nil || cap(b.Targets) < g.batchSize {
		return
	}
	b.Targets = b.Targets[:0]
	g.mu.Lock()
	g.free = append(g.free, b)
	g.mu.Unlock()
}
