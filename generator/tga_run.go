package generator

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"sync"
	"time"

	"go4.org/netipx"

	"github.com/p2pnet/widescan/prefixes"
)

// TGARunConfig configures TGA.NewRun. The zero value of each field but
// Budget is its default.
type TGARunConfig struct {
	// Budget is the number of candidates the run emits in all; it must be
	// positive.
	Budget int
	// Round is the number of candidates emitted between two re-rankings by
	// the hits fed back so far. 0 means max(Budget/64, 256).
	Round int
	// BatchSize is the number of targets per Batch from Generate. 0 means
	// an eighth of Round, between 32 and DefaultBatchSize: with a short
	// queue behind it the run is then well under a round ahead of the
	// probes, so each round is ranked with the hits of the rounds before.
	BatchSize int
	// Blocklist is space the run never emits, besides the TGA's own
	// (TGAConfig.Blocklist): a scan passes its blocklist here, so a TGA
	// built with another one still never probes blocked space. Candidates
	// in it are skipped without spending budget and counted in
	// TGARunStats.Blocked. nil means none.
	Blocklist *prefixes.Blocklist
	// Prior is the strength, in expected hits, of a region's prior when its
	// observed hits re-weight it (see TGARun). 0 means 10000: on the
	// offline protocol of "widescan tga eval" smaller priors lost recall at
	// small budgets (feedback then mostly breaks ties between groups of equal
	// rate in favour of regions that answer).
	Prior float64
	// Spawn turns on the expansion of hits into groups of their own (see
	// TGARun). Off by default: the TGA's own groups already walk each
	// seed's IID and subnet up to 256 away, and on the 6GAN eval spawning
	// gained nothing while its groups took budget from the feedback.
	Spawn bool
	// Lag is how long after its batch comes back through Put (the scan has
	// sent it) a candidate counts as answered or not. 0 means 1 s; a
	// negative Lag means only Settle settles candidates.
	Lag time.Duration
}

// TGARunStats are a TGARun's counters.
type TGARunStats struct {
	// Emitted is the number of candidates emitted so far.
	Emitted uint64
	// Hits is the number of emitted candidates fed back through Hit.
	Hits uint64
	// Rounds is the number of rankings done, the first (at NewRun) included.
	Rounds uint64
	// Spawned is the number of candidate groups spawned around hits.
	Spawned uint64
	// Excluded is the number of candidates skipped because they lie in a
	// prefix given to Exclude (an address two groups reach counts twice).
	Excluded uint64
	// Blocked is the number of candidates skipped because they lie in
	// TGARunConfig.Blocklist (likewise).
	Blocked uint64
}

// TGARun is one budgeted expansion of a TGA with live feedback, in the
// manner of 6Hit (Hou et al., "6Hit: A reinforcement learning-based
// approach to target generation for Internet-wide IPv6 scanning", INFOCOM
// 2021) and 6Scan (Hou et al., IEEE/ACM ToN 2023): a scan reports which
// candidates answered, and later candidates move toward the regions that
// answer.
//
// A region is a leaf of the TGA's tree. The run emits the TGA's candidate
// groups best first by rate × the region's multiplier, which starts at 1.
// Every candidate it emits is remembered with its region (4 bytes beside
// the dedup set, so a reply's target, authenticated by the probe MAC, finds
// its region without any per-probe state in the packet). Every Round
// candidates the run re-ranks: for each tree node, E is the sum of the
// rates of the candidates emitted in its subtree (the hits expected) and H
// the hits fed back; the multiplier is (H + Prior·m_parent) / (E + Prior),
// the root's parent multiplier being 1, so a region's own evidence
// outweighs its ancestors' as it grows. With Spawn a hit also becomes a
// seed: the run adds the hit's one-nybble neighbours (each nybble, by
// distance class, at the rate of a single-seed line of the hit's region)
// and its subnet and IID walks as new groups of that region (no hit is
// expanded once Budget groups have been spawned), so the run reaches hosts
// two or more nybbles away from any seed through the hosts it finds.
//
// Candidates in a prefix given to Exclude (an aliased prefix) are skipped,
// and a region whose whole common prefix lies in one gets no more budget.
//
// A TGARun is a Source: Generate sends its candidates in batches whose
// Pos and Next count candidates emitted (a run cannot be resumed). Hit,
// Exclude and Stats are safe for concurrent use with Generate.
type TGARun struct {
	t   *TGA
	cfg TGARunConfig

	mu       sync.Mutex
	seen     u128Set
	region   []int32   // per slot of seen: the emitting region; -1-region once hit
	block    []ipRange // TGARunConfig.Blocklist
	excluded netipx.IPSetBuilder
	exclude  []ipRange // excluded's ranges
	nodeE    []float64 // expected hits emitted per node (own subtree)
	nodeH    []float64 // hits per node
	mult     []float64 // per node
	subE     []float64 // rerank's scratch: nodeE and nodeH summed over subtrees
	subH     []float64
	cur      []int32   // per leaf: next of its TGA groups (index in t.byLeaf)
	curRate  []float32 // per leaf: that group's rate, -1 when none is left,
	curGi    []int32   // and its index in t.groups (both kept so a re-ranking reads no group)
	spawn    [][]liveGroup
	spawnCur []int32
	heap     leafHeap
	pending  []u128 // hits not yet expanded
	dead     []bool // per leaf: excluded
	st       TGARunStats
	sinceRR  int
	spawned  int
	log      []emitted // per candidate emitted, in order
	settled  int       // candidates of log counted in nodeE
	sent     []sentMark

	// the group being emitted: slots before gk are taken, their
	// addresses from gbuf[gi:] still to step through
	g     liveGroup
	gLeaf int32
	gk    int
	gbuf  []u128
	gi    int

	// Next's scratch
	open    openCache // of the TGA's blocklist
	openRun openCache // of block
	xs      []u128    // the addresses taken
	meta    []emitted // their regions and rates
	fps     []uint64  // their set fingerprints

	free []*Batch
}

// emitted is a candidate's region and rate, kept until it is settled.
type emitted struct {
	leaf int32
	rate float32
}

// sentMark records when the candidates before next came back through Put.
type sentMark struct {
	at   time.Time
	next uint64
}

// liveGroup is a candidate group of a run: a TGA group or a spawned one.
type liveGroup struct {
	base u128
	rate float32
	kind uint8
	pos  uint8    // line: the nybble; walk: the distance bucket; leaf: the part (leafCore, leafHull, leafOut)
	vals uint16   // line: the values; walk: the distance it stops at above (0: none, see walkEnds)
	d    int16    // low byte: v; walk: the distance it stops at below (0: none)
	wild uint32   // leaf: the wildcard nybbles, bit 31-p for nybble p
	seen leafVals // leaf: the values its seeds hold at its wildcards
	side uint8    // walk: walkBoth, walkUp or walkDown
}

// NewRun starts a budgeted run of t with feedback. Errors: a Budget that
// is not positive.
func (t *TGA) NewRun(cfg TGARunConfig) (*TGARun, error) {
	if cfg.Budget <= 0 {
		return nil, fmt.Errorf("generator: TGA run budget %d: must be positive", cfg.Budget)
	}
	if cfg.Round <= 0 {
		cfg.Round = max(cfg.Budget/64, 256)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = min(max(cfg.Round/8, 32), DefaultBatchSize)
	}
	if cfg.Prior <= 0 {
		cfg.Prior = 10000
	}
	if cfg.Lag == 0 {
		cfg.Lag = time.Second
	}
	nn := len(t.parent)
	r := &TGARun{
		t: t, cfg: cfg,
		seen:     newU128Set(cfg.Budget),
		nodeE:    make([]float64, nn),
		nodeH:    make([]float64, nn),
		mult:     make([]float64, nn),
		cur:      slices.Clone(t.leafGrp[:nn]),
		curRate:  make([]float32, nn),
		curGi:    make([]int32, nn),
		spawn:    make([][]liveGroup, nn),
		spawnCur: make([]int32, nn),
		dead:     make([]bool, nn),
		gLeaf:    -1,
		open:     newOpenCache(),
		openRun:  newOpenCache(),
	}
	r.region = make([]int32, len(r.seen.keys))
	if cfg.Blocklist != nil {
		r.block = blockRanges(cfg.Blocklist)
	}
	for i := range r.mult {
		r.mult[i] = 1
	}
	for l := range int32(nn) {
		r.setCurRate(l)
	}
	r.rerank()
	return r, nil
}

// Stats returns the run's counters. Safe for concurrent use.
func (r *TGARun) Stats() TGARunStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// Hit feeds back that target, a candidate of this run, answered. It
// returns false for an address the run did not emit and for a repeated
// hit. Safe for concurrent use.
func (r *TGARun) Hit(target [16]byte) bool {
	x := u128From(netip.AddrFrom16(target))
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.seen.find(x)
	if !ok || r.region[i] < 0 {
		return false
	}
	leaf := r.region[i]
	r.region[i] = -1 - leaf
	r.nodeH[leaf]++
	r.st.Hits++
	if r.cfg.Spawn {
		r.pending = append(r.pending, x)
	}
	return true
}

// Exclude stops the run from emitting any candidate in p (an aliased
// prefix): such candidates are skipped and counted in Stats.Excluded, and
// from the next re-ranking a leaf whose seeds' common prefix lies in p
// gets no more budget. Safe for concurrent use.
func (r *TGARun) Exclude(p netip.Prefix) {
	if !p.Addr().Is6() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.excluded.AddPrefix(p.Masked())
	set, _ := r.excluded.IPSet() // IPv6 prefixes only: no error
	r.exclude = r.exclude[:0]
	for _, x := range set.Ranges() {
		f, t := u128From(x.From()), u128From(x.To())
		r.exclude = append(r.exclude, ipRange{fromHi: f.hi, fromLo: f.lo, toHi: t.hi, toLo: t.lo})
	}
	for l := range r.t.leafGrp[:len(r.t.parent)] {
		pr := r.t.leafPfx[l] // the zero range for inner nodes: never a leaf in the heap
		if set.ContainsRange(netipx.IPRangeFrom(addrOf(u128{pr.fromHi, pr.fromLo}), addrOf(u128{pr.toHi, pr.toLo}))) {
			r.dead[l] = true
		}
	}
}

// addrOf returns x as a netip.Addr.
func addrOf(x u128) netip.Addr {
	var a [16]byte
	putU128(&a, x)
	return netip.AddrFrom16(a)
}

// First returns the first address of the best group that is not a seed
// (its first address when all are seeds), for a route lookup before
// Generate; it emits nothing, and Next may skip the address (a seed,
// blocked or excluded) and start with the one after. It returns false
// when the run has no group.
func (r *TGARun) First() (netip.Addr, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.heap.Len() == 0 {
		return netip.Addr{}, false
	}
	l := r.heap.items[0].leaf
	var g liveGroup
	if c := r.spawnCur[l]; int(c) < len(r.spawn[l]) {
		g = r.spawn[l][c]
	} else {
		r.t.loadGroup(&g, r.t.byLeaf[r.cur[l]])
	}
	var first netip.Addr
	for k := range g.slots() {
		if x, ok := g.at(k); ok {
			if !r.t.seedSet.has(x) {
				return addrOf(x), true
			}
			if !first.IsValid() {
				first = addrOf(x)
			}
		}
	}
	return first, first.IsValid()
}

// at returns the address in slot k of the group's emission order and
// whether the slot holds one. A line's slots are its values nearest the
// base's first, above before below (slot 2(d-1) is value +d, 2(d-1)+1 is
// -d; 30 slots); a walk's are its distances nearest first, above before
// below (slot 2k is lo+k above, 2k+1 lo+k below, for its bucket's lo),
// none at or past its ends nor on the side a one-sided walk leaves; a low
// byte has slot 0 only. A leaf part's slot k sets its w wildcard nybbles
// by the digits of k, the rightmost wildcard the least significant (see
// leafCore): in its core, digit q picks one of the values the seeds hold
// at wildcard q (ascending; as many slots as the core has addresses, the
// seeds among them); in its hull, digit q counts up from the least of
// them (as many slots as the hull has addresses; those in the core hold
// none); out of its hull, k is read base 16 (16^w slots; those in the
// hull hold none).
func (g *liveGroup) at(k int) (u128, bool) {
	var one [1]u128
	if k < 0 {
		return u128{}, false
	}
	if x, _ := g.slotRange(one[:0], k, k+1, 1); len(x) == 1 {
		return x[0], true
	}
	return u128{}, false
}

// appendSlots appends the addresses of slots k, k+1, … (see at) to dst, in
// order, until n or more are appended or the slots end, and returns dst
// and the next slot (slots() when they end). A line appends all its
// remaining slots at once (15 addresses at most). It gives what a loop
// over at gives, without at's per-slot dispatch: the emitters use it.
func (g *liveGroup) appendSlots(dst []u128, k, n int) ([]u128, int) {
	return g.slotRange(dst, k, g.slots(), n)
}

// slotRange is appendSlots over the slots before end only: it returns
// the next slot, or end (or past it) when it gets there.
func (g *liveGroup) slotRange(dst []u128, k, end, n int) ([]u128, int) {
	switch g.kind {
	case kindLine:
		b := nyb(g.base, int(g.pos))
		// Bit k of m: slot k holds a value; the slots k to end only.
		m := lineSlots(g.vals, b) >> min(k, 31) << min(k, 31)
		if end < 32 {
			m &= 1<<max(end, 0) - 1
		}
		// The nybble's half picked by a mask, not a branch (see nyb).
		sh, lo := nybShift(int(g.pos)), -uint64(g.pos>>4&1)
		hi, low := g.base.hi&^(0xf<<sh&^lo), g.base.lo&^(0xf<<sh&lo)
		for ; m != 0; m &= m - 1 {
			k := bits.TrailingZeros32(m)
			d := k>>1 + 1
			v := b + d
			if k&1 != 0 {
				v = b - d
			}
			nv := uint64(v) << sh
			dst = append(dst, u128{hi | nv&^lo, low | nv&lo})
		}
		return dst, end
	case kindWalk, kindIID:
		lo, width := walkSpan(int(g.pos))
		up, down := uint64(g.vals), uint64(uint16(g.d))
		y := g.base
		yf := &y.lo // the field walked: the IID, or the subnet
		if g.kind == kindWalk {
			yf = &y.hi
		}
		f := *yf
		end = min(end, int(2*width))
		for stop := len(dst) + n; k < end && len(dst) < stop; k++ {
			d := lo + uint64(k/2)
			if g.side == walkDown-uint8(k%2) {
				continue // the other side's slot
			}
			if k%2 == 0 {
				if up != 0 && d >= up || f+d < f {
					continue
				}
				*yf = f + d
			} else {
				if down != 0 && d >= down || f-d > f {
					continue
				}
				*yf = f - d
			}
			dst = append(dst, y)
		}
		return dst, k
	case kindLow:
		if k == 0 && end > 0 {
			dst = append(dst, u128{g.base.hi, uint64(g.d)})
		}
		return dst, end
	case kindLeaf:
		return g.leafRange(dst, k, end, n)
	}
	return dst, end
}

// leafRange is slotRange for a leaf part. It counts slots like an
// odometer: a digit per wildcard, the rightmost wildcard's turning
// fastest, each digit's value one of its wildcard's (see at), so there is
// no division per wildcard. The fastest digit's run of up to 16 slots is
// one loop over a mask of those that hold an address; only the digits
// past it turn one at a time. Over the leaf groups of a 1 M call on the
// 6GAN set that took 2.9 to 3.2 ms of CPU time, against 6.4 to 7.1 with
// every digit turned slot by slot (bench/RESULTS.md).
func (g *liveGroup) leafRange(dst []u128, k, end, n int) ([]u128, int) {
	var (
		ps    [leafW]int       // per digit: the nybble
		radix [leafW]int       // and how many values it takes
		val   [leafW][16]uint8 // the value of each digit
		in    [leafW]uint16    // bit i: digit value i is in (the core for a hull slot, the hull for an out one); a slot with every digit in is empty
	)
	nw := 0
	for w := g.wild; w != 0; w &= w - 1 {
		ps[nw] = 31 - bits.TrailingZeros32(w)
		m := g.seen.at(nw)
		lo, wd := g.seen.span(nw)
		switch g.pos {
		case leafCore:
			// Its values: those the seeds hold; a slot is never empty.
			for ; m != 0; m &= m - 1 {
				val[nw][radix[nw]] = uint8(bits.TrailingZeros16(m))
				radix[nw]++
			}
		case leafHull:
			// From its least value to its greatest; a slot is empty when
			// every digit holds a value of the seeds (it is in the core).
			for i := range wd {
				val[nw][i] = uint8(lo + i)
				in[nw] |= uint16(m>>(lo+i)&1) << i
			}
			radix[nw] = wd
		default:
			// All 16; a slot is empty when every digit lies in the hull.
			for i := range 16 {
				val[nw][i] = uint8(i)
			}
			in[nw] = uint16((1<<wd - 1) << lo)
			radix[nw] = 16
		}
		nw++
	}
	all := 1
	for q := range nw {
		all *= radix[q]
	}
	end = min(end, all)
	if k >= end || n <= 0 {
		return dst, k
	}
	if nw == 0 {
		return dst, end // one slot, every digit (none) in: empty
	}
	// The digits of slot k past the first, y set to them (its first
	// digit's nybble 0), and how many of them are in.
	var dg [leafW]int
	y, ins := setNyb(g.base, ps[0], 0), 0
	d0, r := k%radix[0], k/radix[0]
	for q := 1; q < nw; q++ {
		dg[q], r = r%radix[q], r/radix[q]
		y = setNyb(y, ps[q], int(val[q][dg[q]]))
		ins += int(in[q] >> dg[q] & 1)
	}
	// The first digit turns fastest: its values are set in a loop over
	// a mask of its slots that hold an address, as a line's are (see
	// slotRange); the odometer turns only for the digits past it.
	sh, lo := nybShift(ps[0]), -uint64(ps[0]>>4&1)
	var v0 [16]uint64
	for i := range radix[0] {
		v0[i] = uint64(val[0][i]) << sh
	}
	for stop := len(dst) + n; ; {
		// Slots k to k+lim-d0-1: the first digit from d0 to lim-1.
		lim := min(radix[0], d0+end-k)
		m := (uint32(1)<<lim - 1) &^ (1<<d0 - 1)
		if ins == nw-1 {
			m &^= uint32(in[0]) // every other digit is in: so must it not be
		}
		for ; m != 0; m &= m - 1 {
			i := bits.TrailingZeros32(m)
			dst = append(dst, u128{y.hi | v0[i]&^lo, y.lo | v0[i]&lo})
			if len(dst) == stop {
				return dst, k + i - d0 + 1
			}
		}
		if k += lim - d0; k >= end {
			return dst, k
		}
		d0 = 0
		for q := 1; q < nw; q++ {
			ins -= int(in[q] >> dg[q] & 1)
			if dg[q]++; dg[q] < radix[q] {
				y = setNyb(y, ps[q], int(val[q][dg[q]]))
				ins += int(in[q] >> dg[q] & 1)
				break
			}
			dg[q] = 0
			y = setNyb(y, ps[q], int(val[q][0]))
			ins += int(in[q] & 1)
		}
	}
}

// lineSlots returns, for a line through value b of values vals, bit k set
// for each slot k (see at) that holds a value: bit 2(d-1) for b+d, bit
// 2(d-1)+1 for b-d.
func lineSlots(vals uint16, b int) uint32 {
	up := uint32(vals >> uint(b+1))                    // bit d-1: b+d
	down := uint32(bits.Reverse16(vals) >> uint(16-b)) // bit d-1: b-d
	return spreadBits(up) | spreadBits(down)<<1
}

// spreadBits moves bit i of the low 16 bits of x to bit 2i.
func spreadBits(x uint32) uint32 {
	x = (x | x<<8) & 0x00ff00ff
	x = (x | x<<4) & 0x0f0f0f0f
	x = (x | x<<2) & 0x33333333
	return (x | x<<1) & 0x55555555
}

// sharedBits returns how many leading bits every address of the group
// has in common with its base (a lower bound).
func (g *liveGroup) sharedBits() int {
	switch g.kind {
	case kindLine:
		return 4 * int(g.pos)
	case kindLeaf:
		return 4 * bits.LeadingZeros32(g.wild)
	case kindIID, kindLow:
		return 64 // within the /64: an IID walk stops before it wraps
	case kindWalk:
		lo, width := walkSpan(int(g.pos))
		far, h := lo+width-1, g.base.hi
		if h < far || h+far < h {
			return 0
		}
		return bits.LeadingZeros64((h - far) ^ (h + far))
	}
	return 0
}

// slots is the number of emission slots of the group (see at).
func (g *liveGroup) slots() int {
	switch g.kind {
	case kindLine:
		return 30
	case kindWalk, kindIID:
		lo, width := walkSpan(int(g.pos))
		reach := walkReach(g.vals, uint16(g.d))
		return int(2 * min(width, reach-min(lo, reach)))
	case kindLeaf:
		w := bits.OnesCount32(g.wild)
		core, hull := g.seen.sizes(w)
		return [nLeafP]int{core, hull, 1 << (4 * w)}[min(g.pos, leafOut)]
	}
	return 1
}

// Next appends up to n more candidates to dst, best first by the feedback
// so far, and returns it; fewer than n (possibly none) when the budget is
// spent or every group is exhausted. Safe for concurrent use.
func (r *TGARun) Next(dst [][16]byte, n int) [][16]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := 0; k < n && int(r.st.Emitted) < r.cfg.Budget; {
		if r.sinceRR >= r.cfg.Round {
			r.rerank()
		}
		// Take a batch of addresses, no more than could all be emitted
		// before the round ends, so the run emits what it would one at
		// a time; its set slots are loaded together, so their cache
		// misses overlap.
		m := min(n-k, r.cfg.Budget-int(r.st.Emitted), r.cfg.Round-r.sinceRR, stepBatch)
		more := r.take(m)
		r.fps = r.seen.loadSlots(r.fps[:0], r.xs)
		for j, x := range r.xs {
			i, added := r.seen.insertFP(r.fps[j])
			if !added {
				continue
			}
			r.region[i] = r.meta[j].leaf
			r.log = append(r.log, r.meta[j])
			dst = appendU128(dst, x)
			r.st.Emitted++
			r.sinceRR++
			k++
		}
		if !more {
			if len(r.pending) == 0 {
				break
			}
			r.rerank() // hits waiting: their groups may be all that is left
		}
	}
	return dst
}

// take sets r.xs to up to m addresses from step, none a seed, blocked or
// excluded (those are skipped and counted), and r.meta to their regions
// and rates; it returns false when no group is left.
func (r *TGARun) take(m int) bool {
	r.xs, r.meta = r.xs[:0], r.meta[:0]
	for len(r.xs) < m {
		x, leaf, rate, ok := r.step()
		if !ok {
			return false
		}
		if r.t.seedSet.has(x) || !r.open.open(r.t.block, x) {
			continue
		}
		if len(r.block) > 0 && !r.openRun.open(r.block, x) {
			r.st.Blocked++
			continue
		}
		if len(r.exclude) > 0 && inRanges(r.exclude, x) {
			r.st.Excluded++
			continue
		}
		r.xs = append(r.xs, x)
		r.meta = append(r.meta, emitted{leaf, rate})
	}
	return true
}

// stepBatch is both how many slots of a group step expands at a time and
// the most candidates Next checks as one batch.
const stepBatch = 64

// step returns the next address of the current group, moving to the best
// group when it is spent; ok is false when no group is left.
func (r *TGARun) step() (x u128, leaf int32, rate float32, ok bool) {
	for {
		if r.gLeaf >= 0 && !r.dead[r.gLeaf] {
			if r.gi < len(r.gbuf) {
				r.gi++
				return r.gbuf[r.gi-1], r.gLeaf, r.g.rate, true
			}
			if n := r.g.slots(); r.gk < n {
				r.gbuf, r.gk = r.g.appendSlots(r.gbuf[:0], r.gk, stepBatch)
				r.gi = 0
				continue
			}
		}
		if !r.pop() {
			return u128{}, 0, 0, false
		}
	}
}

// pop makes the best remaining group current; false when none is left.
func (r *TGARun) pop() bool {
	for r.heap.Len() > 0 {
		l := r.heap.items[0].leaf
		if r.dead[l] {
			r.heap.pop()
			continue
		}
		sc, tc := r.spawnCur[l], r.cur[l]
		hasS, hasT := int(sc) < len(r.spawn[l]), tc < r.t.leafGrp[l+1]
		switch {
		case hasS && (!hasT || r.spawn[l][sc].rate >= groupRate(r.t.groups[r.t.byLeaf[tc]].key)):
			r.g = r.spawn[l][sc]
			r.spawnCur[l]++
		case hasT:
			r.t.loadGroup(&r.g, r.t.byLeaf[tc])
			r.cur[l]++
			r.setCurRate(l)
		default:
			r.heap.pop()
			continue
		}
		r.gLeaf, r.gk, r.gbuf, r.gi = l, 0, r.gbuf[:0], 0
		if p, gi, ok := r.head(l); ok {
			r.heap.fix0(p, gi)
		} else {
			r.heap.pop()
		}
		return true
	}
	r.gLeaf = -1
	return false
}

// setCurRate records the index and rate of leaf l's next TGA group
// (r.cur[l]).
func (r *TGARun) setCurRate(l int32) {
	r.curRate[l], r.curGi[l] = -1, -1
	if c := r.cur[l]; c < r.t.leafGrp[l+1] {
		r.curGi[l] = r.t.byLeaf[c]
		r.curRate[l] = groupRate(r.t.groups[r.curGi[l]].key)
	}
}

// head returns leaf l's best remaining group rate times its multiplier,
// and that group's index in t.groups (-1 for a spawned group).
func (r *TGARun) head(l int32) (float64, int32, bool) {
	best, gi := -1.0, int32(-1)
	if c := r.spawnCur[l]; int(c) < len(r.spawn[l]) {
		best = float64(r.spawn[l][c].rate)
	}
	if float64(r.curRate[l]) > best {
		best, gi = float64(r.curRate[l]), r.curGi[l]
	}
	if best < 0 {
		return 0, 0, false
	}
	return best * r.mult[l], gi, true
}

// loadGroup sets *lg to group gi, field by field: a liveGroup built on
// the stack and copied would be read back in 16-byte loads that span its
// narrower stores, which the CPU cannot forward (each waits for the
// stores to reach the cache); in Generate's loop that cost 31 to 44 ns
// a group, written in place 9 to 10 ns (bench/RESULTS.md).
func (t *TGA) loadGroup(lg *liveGroup, gi int32) {
	g := &t.groups[gi]
	lg.base = t.seeds[g.anchor]
	lg.rate = groupRate(g.key)
	lg.kind, lg.pos, lg.vals, lg.d = g.kind(), uint8(g.pos()), g.vals, int16(g.d())
	lg.side, lg.wild, lg.seen = 0, 0, 0
	switch lg.kind {
	case kindWalk, kindIID:
		lg.side = uint8(g.key)
	case kindLeaf:
		lg.wild = uint32(g.vals) | uint32(g.d()+1<<15)<<16
		lg.seen = t.wildVals[g.anchor]
	}
}

// groupRate returns the rate a group key holds.
func groupRate(key uint64) float32 { return math.Float32frombits(^uint32(key >> 32)) }

// Settle declares that the candidates emitted before position pos (the
// first pos of the run) have been probed long enough for their answers to
// be in: from the next re-ranking, those that were not fed back through
// Hit count against their regions. Until a candidate is settled only its
// hit counts, so what is still in flight is not taken for silence. A scan
// need not call it: Put settles a batch Lag after it. Safe for concurrent
// use.
func (r *TGARun) Settle(pos uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle(pos)
}

func (r *TGARun) settle(pos uint64) {
	for ; r.settled < len(r.log) && uint64(r.settled) < pos; r.settled++ {
		e := r.log[r.settled]
		r.nodeE[e.leaf] += float64(e.rate)
	}
}

// rerank expands the pending hits, recomputes every node's multiplier and
// rebuilds the heap of leaves.
func (r *TGARun) rerank() {
	r.sinceRR = 0
	r.st.Rounds++
	t := r.t
	nn := len(t.parent)
	if nn == 0 {
		return
	}
	if r.cfg.Lag > 0 {
		now := time.Now()
		k := 0
		for ; k < len(r.sent) && now.Sub(r.sent[k].at) >= r.cfg.Lag; k++ {
			r.settle(r.sent[k].next)
		}
		r.sent = r.sent[:copy(r.sent, r.sent[k:])]
	}
	touched := map[int32]bool{}
	for _, h := range r.pending {
		i, _ := r.seen.find(h)
		leaf := -1 - r.region[i]
		if r.spawned >= r.cfg.Budget || r.dead[leaf] {
			continue
		}
		r.spawnAround(h, leaf)
		touched[leaf] = true
	}
	r.pending = r.pending[:0]
	for l := range touched {
		s := r.spawn[l][r.spawnCur[l]:]
		slices.SortStableFunc(s, func(a, b liveGroup) int { return cmpRateDesc(a.rate, b.rate) })
	}
	// Subtree sums, children before parents (nodes are in preorder).
	r.subE, r.subH = append(r.subE[:0], r.nodeE...), append(r.subH[:0], r.nodeH...)
	e, h := r.subE, r.subH
	for k := nn - 1; k > 0; k-- {
		p := t.parent[k]
		e[p] += e[k]
		h[p] += h[k]
	}
	for k := range nn {
		pm := 1.0
		if p := t.parent[k]; p >= 0 {
			pm = r.mult[p]
		}
		r.mult[k] = (h[k] + r.cfg.Prior*pm) / (e[k] + r.cfg.Prior)
	}
	r.heap.items = r.heap.items[:0]
	for l := range int32(nn) {
		if r.dead[l] {
			continue
		}
		if p, gi, ok := r.head(l); ok {
			r.heap.items = append(r.heap.items, leafItem{p, gi, l})
		}
	}
	r.heap.init()
	// The group in progress finishes first; it was chosen by the old ranks.
}

// spawnAround adds hit h's one-nybble neighbours and walks as groups of
// leaf, rated as a line of one seed and a walk with one neighbour.
func (r *TGARun) spawnAround(h u128, leaf int32) {
	st := &r.t.stats[r.t.nodeStat[leaf]]
	cls := &r.t.leafCls[leaf]
	dm := nFamBase * uint16(r.t.densOf(h))
	for p := range maxNybbl {
		bk, nb := lineBuckets(1 << uint(nyb(h, p)))
		for b := range nBucket {
			if nb[b] == 0 {
				continue
			}
			r.spawn[leaf] = append(r.spawn[leaf], liveGroup{base: h, rate: odds(st.line[p][cls[p]][0][b] * 2 * r.t.mult[famLine(int(cls[p]), 0, b, 0)+dm]), kind: kindLine, pos: uint8(p), vals: bucketVals(&bk, b)})
			r.spawned++
		}
	}
	for f, kind := range [2]uint8{kindWalk, kindIID} {
		for b := range nWB {
			r.spawn[leaf] = append(r.spawn[leaf], liveGroup{base: h, rate: odds(st.walk[f][1][b] * r.t.mult[famWalk(f, 1, b, 0)+dm]), kind: kind, pos: uint8(b)})
			r.spawned++
		}
	}
	r.st.Spawned = uint64(r.spawned)
}

func cmpRateDesc(a, b float32) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// Generate sends the run's candidates in batches of BatchSize until the
// budget is spent or no group is left, then closes out. Pos and Next of a
// batch count candidates emitted before and after it. It returns nil when
// the run is done and ctx.Err() when ctx ended first. It must be called
// once.
func (r *TGARun) Generate(ctx context.Context, out chan<- *Batch) error {
	defer close(out)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := r.get()
		pos := r.Stats().Emitted
		b.Targets = r.Next(b.Targets[:0], r.cfg.BatchSize)
		if len(b.Targets) == 0 {
			r.Put(b)
			return nil
		}
		b.Pos, b.Next = pos, pos+uint64(len(b.Targets))
		select {
		case out <- b:
		case <-ctx.Done():
			r.Put(b)
			return ctx.Err()
		}
	}
}

// Put hands a batch received from Generate back for reuse. Safe for
// concurrent use.
func (r *TGARun) Put(b *Batch) {
	if b == nil || cap(b.Targets) < r.cfg.BatchSize {
		return
	}
	next := b.Next
	b.Targets, b.dropped = b.Targets[:0], b.dropped[:0]
	r.mu.Lock()
	if r.cfg.Lag > 0 && next > 0 {
		r.sent = append(r.sent, sentMark{time.Now(), next})
	}
	r.free = append(r.free, b)
	r.mu.Unlock()
}

func (r *TGARun) get() *Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.free); n > 0 {
		b := r.free[n-1]
		r.free = r.free[:n-1]
		return b
	}
	return &Batch{Targets: make([][16]byte, 0, r.cfg.BatchSize)}
}

// leafItem is a leaf in the run's heap, keyed by its head group's
// effective rate, then the group's index in TGA.groups: without feedback
// the run takes the groups in Generate's order.
type leafItem struct {
	p    float64
	gi   int32 // -1 for a spawned group
	leaf int32
}

// leafHeap is a max-heap of leaves (ties: lower head group index, then
// lower leaf first).
type leafHeap struct{ items []leafItem }

func (h *leafHeap) Len() int { return len(h.items) }

func (h *leafHeap) less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	return a.p > b.p || a.p == b.p && (a.gi < b.gi || a.gi == b.gi && a.leaf < b.leaf)
}

func (h *leafHeap) init() {
	for i := len(h.items)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *leafHeap) down(i int) {
	n := len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && h.less(r, l) {
			c = r
		}
		if !h.less(c, i) {
			return
		}
		h.items[i], h.items[c] = h.items[c], h.items[i]
		i = c
	}
}

// fix0 sets the top item's key to p, gi and restores the order.
func (h *leafHeap) fix0(p float64, gi int32) {
	h.items[0].p, h.items[0].gi = p, gi
	h.down(0)
}

func (h *leafHeap) pop() {
	n := len(h.items) - 1
	h.items[0] = h.items[n]
	h.items = h.items[:n]
	if n > 0 {
		h.down(0)
	}
}
