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
	// blocklist is subtracted (or no window, pattern or list was given).
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
// Windows, Patterns and List together must name at least one target.
type Config struct {
	// Windows are the target windows. Overlapping windows with the same End
	// are merged; blocked space is removed (see prefixes.Blocklist.Subtract).
	Windows []prefixes.Window
	// Patterns are nybble templates whose addresses are targets of their
	// own, next to the windows: each contributes its Count() addresses to
	// the index space, after the windows. The IID mode does not apply to
	// them (a pattern spells whole addresses). Identical patterns are
	// counted once, but addresses that two patterns, or a pattern and a
	// window, have in common are visited once per source. A pattern whose
	// range, from its first to its last address, lies wholly in blocked
	// space is dropped; the blocked addresses of any other pattern are
	// dropped as they come up and counted in Generator.Blocked.
	Patterns []Pattern
	// List holds exact target addresses (list mode), visited after the
	// windows and patterns in index order, each once. Blocked addresses
	// are removed by New and take no place in the index space. nil is no
	// list. Addresses a window or pattern also holds are visited again.
	List *TargetList
	// Blocklist is the space never generated. nil means
	// prefixes.NewBlocklist(nil, nil): the built-in list with nothing lifted.
	Blocklist *prefixes.Blocklist
	// IID fills the host bits after each window's End. The zero value is
	// low:1. Windows with End 128 are single addresses and take no IID;
	// patterns and the list take none either.
	IID IID
	// PermSeed keys the permutation (and the random IID). Runs with the same
	// seed, windows and blocklist generate the same sequence.
	PermSeed uint64
	// Shard selects the part of the sequence this generator visits. The
	// zero value is the whole sequence.
	Shard Shard
	// Workers is the number of goroutines Generate runs. 0 means
	// DefaultWorkers(): the number of physical cores (cpuid), or
	// runtime.NumCPU() when that is unknown.
	Workers int
	// BatchSize is the most targets per Batch. 0 means DefaultBatchSize.
	BatchSize int
	// MaxTargets caps the sequence positions this shard visits (blocked
	// candidates count): the shard's first MaxTargets positions. 0 means no
	// cap.
	MaxTargets uint64
	// Start is the first shard position to visit: the checkpoint of a
	// stopped scan (Batch.Next of the last batch it handled, or
	// Batch.Resume), so that a generator made with the same Config and this
	// Start visits exactly the positions the stopped one had not handed
	// over. It counts within MaxTargets. 0 means the beginning; a Start at
	// or past the end leaves nothing to generate.
	Start uint64
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

// Batch is a batch of targets, IPv6 addresses in network byte order, and
// the shard positions they came from. A batch received from Generate
// belongs to the receiver until it hands it back with Generator.Put.
type Batch struct {
	Targets [][16]byte
	// Pos is the shard position of the batch's first candidate and Next the
	// position after its last: the batch holds the targets of the shard
	// positions [Pos, Next), less those dropped as blocked. Generate sends
	// batches in position order, so Next of the last batch handled is the
	// checkpoint to resume from (Config.Start).
	Pos, Next uint64
	// dropped holds the offsets from Pos of the candidates dropped as
	// blocked, ascending.
	dropped []uint32
}

// Resume returns the shard position to resume from (Config.Start) once the
// first n targets of b have been handled: the position of target n, or Next
// when n >= len(Targets). It accounts for dropped candidates, so a scan
// stopped in the middle of a batch resumes with no target lost or repeated.
func (b *Batch) Resume(n int) uint64 {
	if n >= len(b.Targets) {
		return b.Next
	}
	p := b.Pos + uint64(max(n, 0))
	for _, d := range b.dropped {
		if b.Pos+uint64(d) > p {
			break
		}
		p++
	}
	return p
}

// segment is one pattern, or the list, of the index space: the indices
// [start, start + Count()) of a pattern, [start, start + len(list)) of the
// list.
type segment struct {
	start uint64
	pat   Pattern
	list  []u128 // nil for a pattern
}

// span is one window of the index space in the form the hot path uses.
// Offset o of the window is subnet o & subMask and IID number o >> subBits;
// the target is hi:lo | subnet << hostBits | IID.
type span struct {
	start    uint64 // first index of the window
	hi, lo   uint64 // window prefix address, with a fixed suffix filled in
	subMask  uint64 // 2^subBits - 1
	subBits  uint   // End - Len of the window
	hostBits uint   // 128 - End
	one      uint64 // 1 for low IIDs in a window with host bits, else 0
	mhi, mlo uint64 // host-bit mask for random IIDs, else 0
}

// ipRange is an inclusive range of blocked addresses as 128-bit integers.
type ipRange struct {
	fromHi, fromLo, toHi, toLo uint64
}

// Generator enumerates the targets of a scan in a keyed pseudo-random order.
// Its methods are safe for concurrent use, except that Generate may be called
// only once.
type Generator struct {
	windows []prefixes.Window
	spans   []span
	// segs are the patterns and the list, at the indices [segStart, n)
	// after the windows' [0, segStart).
	segs     []segment
	segStart uint64
	// eui maps the IID number of eui64 to its IID; nil for other modes.
	eui *euiTable
	// fast is set when place (the inline fast path) can fill: an IID mode
	// of low, fixed or random and no segments.
	fast bool
	// first[k] is the span holding index k << shift: the span of an index
	// idx lies in first[idx>>shift] … first[idx>>shift+1].
	first   []uint32
	shift   uint
	partial []ipRange
	perm    Perm
	n       uint64 // index space size
	iid     IID
	random  bool
	rndHi   uint64 // random IID keys
	rndLo   uint64

	shardIndex, shardCount uint64
	start, end             uint64 // shard positions [start, end) are visited
	workers                int
	batchSize              int

	blocked atomic.Uint64
	started atomic.Bool

	mu   sync.Mutex
	free []*Batch
}

// New validates cfg, subtracts the blocklist from the windows and lays out
// the index space: the windows in the order Windows returns them, each
// contributing Subnets() × K indices (K = IID.Count for low:K, the number of
// MAC addresses for eui64, 1 for fixed and random, 1 for windows with End
// 128), then the patterns in Config order (Count() indices each, identical
// and wholly blocked ones left out), then the unblocked addresses of the
// list in ascending order.
//
// It returns ErrEmpty when no target is left, an error wrapping ErrTooLarge
// and naming the window or pattern when the index space reaches 2^64, and
// an error wrapping ErrIIDFit and naming the window when the IID does not
// fit in a window's host bits (low:K needs K < 2^HostBits; a fixed suffix
// must have no bit set before the window's End; eui64 needs 64 host bits).
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
	g := &Generator{
		windows:    kept,
		iid:        cfg.IID,
		random:     cfg.IID.Mode == IIDRandom,
		fast:       cfg.IID.Mode != IIDEUI64,
		shardIndex: cfg.Shard.Index,
		shardCount: max(cfg.Shard.Count, 1),
		batchSize:  cfg.BatchSize,
		workers:    cfg.Workers,
	}
	if g.batchSize == 0 {
		g.batchSize = DefaultBatchSize
	}
	if g.workers == 0 {
		g.workers = DefaultWorkers()
	}
	g.rndHi, g.rndLo = randKeys(cfg.PermSeed)
	if cfg.IID.Mode == IIDEUI64 {
		g.eui = newEUITable(cfg.IID.MACRanges())
	}
	suffixHi := binary.BigEndian.Uint64(cfg.IID.Suffix[:8])
	suffixLo := binary.BigEndian.Uint64(cfg.IID.Suffix[8:])

	var n uint64
	g.spans = make([]span, 0, len(kept))
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
		s := span{
			start:    n,
			hi:       binary.BigEndian.Uint64(a[:8]),
			lo:       binary.BigEndian.Uint64(a[8:]),
			subBits:  uint(w.SubnetBits()),
			subMask:  subnets - 1,
			hostBits: uint(w.HostBits()),
		}
		if s.hostBits > 0 {
			switch cfg.IID.Mode {
			case IIDLow:
				s.one = 1
			case IIDFixed:
				s.hi |= suffixHi
				s.lo |= suffixLo
			case IIDRandom:
				s.mhi, s.mlo = hostMask(s.hostBits)
			}
		}
		g.spans = append(g.spans, s)
		n = sum
	}
	g.segStart = n
	cut, err := g.addSegments(cfg, bl, &n)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, ErrEmpty
	}
	g.fast = g.fast && len(g.segs) == 0
	g.n = n
	g.perm.init(n, cfg.PermSeed)
	g.buildTable()
	if g.partial, err = blockedRanges(partial, cut); err != nil {
		return nil, err
	}

	// Positions p < n with p ≡ index (mod count).
	if g.shardIndex < n {
		rest := n - g.shardIndex
		g.end = rest / g.shardCount
		if rest%g.shardCount != 0 {
			g.end++
		}
	}
	if cfg.MaxTargets > 0 {
		g.end = min(g.end, cfg.MaxTargets)
	}
	g.start = min(cfg.Start, g.end)
	return g, nil
}

// addSegments lays out the patterns, then the list, from index *n on, and
// advances *n past them. It returns the blocked parts of the patterns that
// are partly blocked.
func (g *Generator) addSegments(cfg Config, bl *prefixes.Blocklist, n *uint64) (*netipx.IPSet, error) {
	set := bl.IPSet()
	var cut netipx.IPSetBuilder
	seen := make(map[Pattern]bool, len(cfg.Patterns))
	for _, p := range cfg.Patterns {
		if seen[p] {
			continue
		}
		seen[p] = true
		r := netipx.IPRangeFrom(p.bounds())
		if set.ContainsRange(r) {
			continue
		}
		if set.OverlapsRange(r) {
			var b netipx.IPSetBuilder
			b.AddRange(r)
			b.Intersect(set)
			s, err := b.IPSet()
			if err != nil {
				return nil, fmt.Errorf("pattern %s: %w", p, err)
			}
			cut.AddSet(s)
		}
		sum, carry := bits.Add64(*n, p.Count(), 0)
		if carry != 0 {
			return nil, fmt.Errorf("pattern %s: %w", p, ErrTooLarge)
		}
		g.segs = append(g.segs, segment{start: *n, pat: p})
		*n = sum
	}
	if list := cfg.List.unblocked(bl); len(list) > 0 {
		sum, carry := bits.Add64(*n, uint64(len(list)), 0)
		if carry != 0 {
			return nil, fmt.Errorf("target list: %w", ErrTooLarge)
		}
		g.segs = append(g.segs, segment{start: *n, list: list})
		*n = sum
	}
	return cut.IPSet()
}

// DefaultWorkers returns the worker count Config.Workers 0 stands for: the
// number of physical cores (cpuid), or runtime.NumCPU() when that is unknown.
func DefaultWorkers() int {
	if n := cpuid.CPU.PhysicalCores; n > 0 {
		return n
	}
	return runtime.NumCPU()
}

// maxTableBits caps the window lookup table at 2^20 entries (4 MiB).
const maxTableBits = 20

// buildTable fills the window lookup table: 2^t buckets of equal width over
// the windows' indices [0, segStart), t = bits(len(spans)) + 2 (at most
// maxTableBits), so that most buckets hold one window start or none and the
// lookup of an index is one load; a bucket with several starts is binary
// searched.
func (g *Generator) buildTable() {
	if len(g.spans) == 0 {
		return
	}
	b := uint(bits.Len64(g.segStart - 1))
	t := min(uint(bits.Len(uint(len(g.spans))))+2, maxTableBits)
	if b > t {
		g.shift = b - t
	}
	buckets := (g.segStart-1)>>g.shift + 1
	g.first = make([]uint32, buckets+1)
	i := 0
	for k := range buckets {
		x := k << g.shift
		for i+1 < len(g.spans) && g.spans[i+1].start <= x {
			i++
		}
		g.first[k] = uint32(i)
	}
	g.first[buckets] = uint32(len(g.spans) - 1)
}

// randKeys derives the two keys of the random IID from the seed: outputs 5
// and 6 of splitmix64 seeded with seed (outputs 1 to 4 key the permutation).
func randKeys(seed uint64) (hi, lo uint64) {
	g := uint64(golden64)
	return mix64(seed + 5*g), mix64(seed + 6*g)
}

// blockedRanges merges the blocked prefixes of partly blocked subnets and
// the blocked parts of patterns into sorted, disjoint inclusive ranges.
func blockedRanges(partial []netip.Prefix, cut *netipx.IPSet) ([]ipRange, error) {
	if len(partial) == 0 && len(cut.Ranges()) == 0 {
		return nil, nil
	}
	var b netipx.IPSetBuilder
	for _, p := range partial {
		b.AddPrefix(p)
	}
	b.AddSet(cut)
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

// Count returns the number of shard positions this generator visits: from
// Config.Start to the end of the shard or MaxTargets. Blocked candidates
// count: Generate sends Count() - Blocked() targets.
func (g *Generator) Count() uint64 { return g.end - g.start }

// End returns the shard position after the last one this generator visits:
// the shard's size, or MaxTargets when that is smaller. A scan is complete
// when its checkpoint (Batch.Next) reaches End.
func (g *Generator) End() uint64 { return g.end }

// Windows returns the windows after the blocklist was subtracted, in index
// space order. The slice is a copy.
//
// The indices of the windows come first; Patterns and ListLen give the
// rest of the index space.
func (g *Generator) Windows() []prefixes.Window {
	return append([]prefixes.Window(nil), g.windows...)
}

// Patterns returns the patterns in index space order, after the windows:
// those of Config.Patterns left after identical and wholly blocked ones
// were dropped. The slice is a copy.
func (g *Generator) Patterns() []Pattern {
	var ps []Pattern
	for _, s := range g.segs {
		if s.list == nil {
			ps = append(ps, s.pat)
		}
	}
	return ps
}

// ListLen returns the number of addresses of Config.List left after the
// blocked ones were removed: the last ListLen() indices of the index space.
func (g *Generator) ListLen() uint64 {
	if k := len(g.segs); k > 0 && g.segs[k-1].list != nil {
		return uint64(len(g.segs[k-1].list))
	}
	return 0
}

// Blocked returns the number of candidates Generate has dropped so far
// because they fell in the blocked part of a partly blocked subnet.
func (g *Generator) Blocked() uint64 { return g.blocked.Load() }

// Target returns the target at sequence position pos (of the whole space,
// not of the shard: shard position j is sequence position
// Shard.Index + Shard.Count·j): the candidate at index Perm.At(pos). ok is
// false when that address is blocked or pos >= Size(). Target is independent
// of the shard; it does not allocate.
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
// before the blocklist filter: the window holding idx, subnet o mod 2^S and
// IID number o >> S of it, o being idx's offset in the window and S the
// window's SubnetBits (so the first 2^S indices of a window are the ::1 of
// each subnet, the next 2^S the ::2, …). The host bits are filled with
// ::(o>>S + 1) for low, the suffix for fixed, for eui64 with the modified
// EUI-64 of MAC number o>>S of IID.MACRanges (counted in ascending order),
// and for random with the low HostBits bits of the 128-bit value
// mix64(idx ^ kHi) << 64 | mix64(idx ^ kLo), kHi and kLo being outputs 5 and
// 6 of splitmix64 seeded with PermSeed (for random idx is the global subnet
// number, as every subnet has one IID). Past the windows, an index at
// offset o of a pattern is Pattern.Addr(o), and one at offset o of the list
// its o-th address in ascending order. It panics if idx >= Size().
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

// spanOf returns the span holding index idx < n.
func (g *Generator) spanOf(idx uint64) *span {
	k := idx >> g.shift
	i, e := g.first[k], g.first[k+1]
	for i < e {
		m := (i + e + 1) >> 1
		if g.spans[m].start <= idx {
			i = m
		} else {
			e = m - 1
		}
	}
	return &g.spans[i]
}

// candidate maps index idx < n to its address as a 128-bit integer. The hot
// loop of fill repeats this code inline.
func (g *Generator) candidate(idx uint64) (hi, lo uint64) {
	if idx >= g.segStart {
		return g.segmentAt(idx)
	}
	s := g.spanOf(idx)
	o := idx - s.start
	sub, t := o&s.subMask, o>>s.subBits
	hb := s.hostBits
	// sub << hb as 128 bits; Go shifts of 64 or more (uint counts that
	// wrapped below zero included) give 0.
	hi = s.hi | sub<<(hb-64) | sub>>(64-hb)
	lo = s.lo | sub<<hb | (t + s.one)
	if g.random {
		hi |= mix64(idx^g.rndHi) & s.mhi
		lo |= mix64(idx^g.rndLo) & s.mlo
	}
	if g.eui != nil && hb != 0 {
		lo = s.lo | g.eui.at(t) // hb >= 64: the subnet bits are all in hi
	}
	return hi, lo
}

// segmentAt maps an index in [segStart, n) to its pattern or list address.
func (g *Generator) segmentAt(idx uint64) (hi, lo uint64) {
	i, j := 0, len(g.segs)
	for j-i > 1 {
		m := int(uint(i+j) >> 1)
		if g.segs[m].start <= idx {
			i = m
		} else {
			j = m
		}
	}
	s := &g.segs[i]
	o := idx - s.start
	if s.list != nil {
		x := s.list[o]
		return x.hi, x.lo
	}
	return s.pat.at(o)
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

// lane is the number of indices fill permutes before it maps them: a block
// of independent permutations the CPU overlaps.
const lane = 128

// fill sets b to the targets of shard positions [j, end), end - j <= the
// batch capacity. It does not allocate once b's dropped list has grown.
func (g *Generator) fill(b *Batch, j, end uint64) {
	b.Pos, b.Next = j, end
	b.dropped = b.dropped[:0]
	t := b.Targets[:cap(b.Targets)]
	w := 0
	var idx [lane]uint64
	for j < end {
		c := int(min(end-j, lane))
		g.perm.block(idx[:c], g.shardIndex+g.shardCount*j, g.shardCount)
		if g.fast && len(g.partial) == 0 {
			w += g.place(t[w:w+c], idx[:c])
		} else {
			w += g.placeBlocked(t[w:w+c], idx[:c], b, j)
		}
		j += uint64(c)
	}
	b.Targets = t[:w]
}

// block sets idx[i] to At(pos + step·i) for every i < len(idx) <= lane. It
// applies the network to every position, then again to those still >= n
// (cycle walking), collecting their slots without a branch, so that the
// data-dependent walk costs no mispredictions and the CPU overlaps the
// independent permutations.
func (p *Perm) block(idx []uint64, pos, step uint64) {
	k0, k1, k2, k3 := p.key[0], p.key[1], p.key[2], p.key[3]
	lm, rm := p.lmask, p.rmask
	rb := p.rb & 63
	x := pos
	for i := range idx {
		l, r := x>>rb, x&rm
		l ^= round(r, k0, lm)
		r ^= round(l, k1, rm)
		l ^= round(r, k2, lm)
		r ^= round(l, k3, rm)
		idx[i] = l<<rb | r
		x += step
	}
	n := p.n
	if n-1 == lm<<rb|rm {
		return // n is the whole domain: no walk
	}
	var walk, next [lane]uint8
	m := 0
	for i, x := range idx {
		walk[m&(lane-1)] = uint8(i)
		_, below := bits.Sub64(x, n, 0)
		m += int(1 - below)
	}
	for m > 0 {
		m0 := m
		m = 0
		walk, next = next, walk
		for _, i := range next[:m0] {
			x := idx[i]
			l, r := x>>rb, x&rm
			l ^= round(r, k0, lm)
			r ^= round(l, k1, rm)
			l ^= round(r, k2, lm)
			r ^= round(l, k3, rm)
			x = l<<rb | r
			idx[i] = x
			walk[m&(lane-1)] = i
			_, below := bits.Sub64(x, n, 0)
			m += int(1 - below)
		}
	}
}

// place writes the targets of indices idx to t (len(t) >= len(idx)) and
// returns their number: candidate, written out inline, with no blocklist.
func (g *Generator) place(t [][16]byte, idx []uint64) int {
	t = t[:len(idx)]
	one := len(g.spans) == 1
	s := &g.spans[0]
	for i, x := range idx {
		if !one {
			s = g.spanOf(x)
		}
		o := x - s.start
		sub, ti := o&s.subMask, o>>(s.subBits&63)
		hi, lo := s.hi, s.lo|(ti+s.one)
		// sub << hostBits as 128 bits.
		if hb := s.hostBits; hb >= 64 {
			hi |= sub << (hb & 63)
		} else {
			lo |= sub << hb
			hi |= sub >> 1 >> (63 - hb)
		}
		if g.random {
			hi |= mix64(x^g.rndHi) & s.mhi
			lo |= mix64(x^g.rndLo) & s.mlo
		}
		a := &t[i]
		binary.BigEndian.PutUint64(a[:8], hi)
		binary.BigEndian.PutUint64(a[8:], lo)
	}
	return len(idx)
}

// placeBlocked is place with the blocklist and every strategy (through
// candidate): it drops the blocked candidates, recording their offsets from
// b.Pos (idx[0] being at shard position j) in b.dropped.
func (g *Generator) placeBlocked(t [][16]byte, idx []uint64, b *Batch, j uint64) int {
	w := 0
	for i, x := range idx {
		hi, lo := g.candidate(x)
		if g.isBlocked(hi, lo) {
			b.dropped = append(b.dropped, uint32(j-b.Pos)+uint32(i))
			continue
		}
		a := &t[w]
		binary.BigEndian.PutUint64(a[:8], hi)
		binary.BigEndian.PutUint64(a[8:], lo)
		w++
	}
	return w
}

// Generate visits the Count() shard positions from Config.Start with Workers
// goroutines and sends the unblocked targets to out in batches of at most
// BatchSize, in position order: the shard's positions are cut into chunks
// of BatchSize, worker w of W fills the chunks c ≡ w (mod W), and the
// workers hand over in turn, so the batches arrive in the same order for
// any worker count and Batch.Next of the last batch handled is an exact
// checkpoint. Candidates in a blocked range are dropped and counted in
// Blocked; a batch left empty is not sent. A full out blocks the workers
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
	if g.start >= g.end {
		return nil
	}
	size := uint64(g.batchSize)
	chunks := (g.end-g.start-1)/size + 1
	w := min(uint64(g.workers), chunks)
	// turns[i] holds the token while worker i may send; one token exists.
	turns := make([]chan struct{}, w)
	for i := range turns {
		turns[i] = make(chan struct{}, 1)
	}
	turns[0] <- struct{}{}
	var wg sync.WaitGroup
	var stopped atomic.Bool
	for i := range w {
		wg.Go(func() {
			if g.work(ctx, out, i, w, chunks, turns) != nil {
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

// work runs worker i of w: it fills chunks i, i+w, … below chunks and sends
// each when it holds the token, then passes the token on.
func (g *Generator) work(ctx context.Context, out chan<- *Batch, i, w, chunks uint64, turns []chan struct{}) error {
	size := uint64(g.batchSize)
	mine, next := turns[i], turns[(i+1)%w]
	for c := i; c < chunks; c += w {
		j := g.start + c*size
		end := g.end
		if end-j > size {
			end = j + size
		}
		b := g.get()
		g.fill(b, j, end)
		if d := len(b.dropped); d > 0 {
			g.blocked.Add(uint64(d))
		}
		select {
		case <-mine:
		case <-ctx.Done():
			g.Put(b)
			return ctx.Err()
		}
		if len(b.Targets) == 0 {
			g.Put(b)
		} else {
			select {
			case out <- b:
			case <-ctx.Done():
				g.Put(b)
				return ctx.Err()
			}
		}
		next <- struct{}{}
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
	b.dropped = b.dropped[:0]
	g.mu.Lock()
	g.free = append(g.free, b)
	g.mu.Unlock()
}
