package generator

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/p2pnet/widescan/prefixes"
)

// ErrExhausted is wrapped by TGA.Generate and the baselines when they run
// out of candidates before the budget: the returned slice holds every
// candidate they have, and the error says how many.
var ErrExhausted = errors.New("candidates exhausted before the budget")

// TGAConfig configures NewTGA. The zero value of each field is its default.
type TGAConfig struct {
	// Blocklist is the space never generated. nil means
	// prefixes.NewBlocklist(nil, nil): the built-in list, nothing lifted.
	Blocklist *prefixes.Blocklist
	// LeafSize is the most seeds a leaf region of the tree holds. 0 means 16.
	LeafSize int
	// StatSeeds is the fewest seeds a tree node needs to keep yield
	// statistics of its own (smaller nodes use their parent's). 0 means 16.
	StatSeeds int
	// Progress, when not nil, is called as each step of NewTGA's build
	// starts, with its index (from 0), the number of steps and what it
	// does, and once more when the build is done, with step == steps and
	// what "". The build has 5 steps (4 of calibration, then the TGA of
	// all the seeds), or 1 under 100 seeds, which are not calibrated; a
	// calibration that ends early skips to the last step. It is called on
	// the goroutine that called NewTGA, which it holds up while it runs.
	Progress func(step, steps int, what string)
}

// Region is a leaf of the TGA's space-partition tree: the nybbles its seeds
// share are fixed, the others are wildcards.
type Region struct {
	// Pattern holds the fixed nybbles and the wildcards.
	Pattern Pattern
	// Seeds is the number of seeds in the region.
	Seeds int
	// Density is log16 of Seeds / Pattern.Count(): the seeds per address,
	// as a nybble exponent (0 is a region made only of seeds).
	Density float64
}

// TGA is a seed-driven target generation algorithm: it learns where live
// hosts cluster from known-active addresses (seeds) and ranks candidate
// addresses by their expected yield. It is immutable once built and safe
// for concurrent use.
//
// # Algorithm
//
// The tree follows 6Tree (Liu et al., "6Tree: Efficient dynamic discovery
// of active addresses in the IPv6 address space", Computer Networks 2019)
// and DET (Song et al., "DET: Enabling Efficient Probing of IPv6 Active
// Addresses", IEEE/ACM ToN 2022): a node splits its seeds into up to 16
// children by the value of one nybble, the position with the lowest
// Shannon entropy above zero (DET's choice; Entropy/IP, Foremski et al.
// IMC 2016, introduced per-nybble entropy), until a node holds at most
// LeafSize seeds or its seeds agree on every nybble. Leaves are regions
// (fixed and wildcard nybbles, as 6Gen's clusters, Murdock et al. IMC 2017).
//
// Both published algorithms spend nearly all their hits on one step: each
// seed expanded along one free nybble of its leaf. They emit it unranked.
// TGA ranks it and mixes in numeric walks, low bytes and whole leaves, as
// five kinds of candidate group:
//
//   - line (p, v, j, b, in): the addresses that agree with a seed on
//     every nybble but nybble p (every p, so the one-free-nybble step is
//     complete: each seed along each nybble its leaf varies in, and along
//     the fixed ones too) and whose value there lies at distance class b
//     (1, 2, 3-4, 5-8, 9-15) from the nearest of the line's j seeds (j in
//     classes 1, 2, 3, 4-7, 8-15), inside (between the least and the
//     greatest of the seeds' values) or not; v is the class of p in the
//     seed's leaf: fixed, or the leaf's varying nybbles ranked by entropy,
//     highest first (1st, 2nd, 3rd, 4th or later), the free nybble 6Tree
//     and DET expand ranking first;
//   - subnet walk (b): the seed's IID in the /64s d subnets away, for |d|
//     in distance bucket b (1, 2, 3-4, 5-8, ..., 129-256), nearest first;
//   - IID walk (b): the IIDs d away from the seed's in its /64, |d| in
//     bucket b (sequential host numbering);
//   - low byte (v): ::v in a /64 that holds seeds, 1 <= v <= 64;
//   - leaf (w, s, part): every address of the pattern of a leaf of s >= 2
//     seeds with w <= 4 wildcard nybbles (6Tree's and DET's region
//     expansion, here for the small leaves only): the combinations of
//     two or more nybbles that no line reaches. A leaf has up to three
//     groups, its parts: its core (every wildcard nybble holds a value
//     some of its seeds hold there), the rest of its hull (every one lies
//     between the least and the greatest of those values) and the rest of
//     its pattern (see leafCore).
//
// A walk owns only the addresses nearer its seed than the seed's nearest
// neighbours in the field (the midpoint goes to the lower seed): the
// walks of one field partition the space around the seeds, so no
// address is walked twice, and each is walked from its nearest seed. A
// walk that stops on one side only (a neighbour within 512 that way, none
// the other) is two groups: towards the neighbour and away from all.
//
// The expected yield of each group is estimated from the seeds themselves
// by leave-one-out (Good–Turing style): hiding each seed of a line of m >= 2
// seeds in turn leaves a line of m-1 seeds with one hidden hit, in the
// distance class of the hidden seed, among the line's other non-seed
// values, which are counted as trials in their own distance classes; a
// whole line of m seeds adds its non-seed values as trials of class m
// (weighted 1/m per seed, so each line counts once). The rate of a line
// class is hits / trials. Likewise each of a seed's c walk neighbours
// (the seeds within 256 of it in the walk's field) is hidden in turn,
// leaving c-1 and one hit in the hidden seed's bucket; walk rates are per
// bucket and class of the neighbour count (0, 1, 2, 3-4, 5-8, 9-16, 17+).
// A leaf part's rate is the leaf's seeds over the addresses of its core,
// of its hull, or out of its hull. The rate of
// low byte v is the fraction of /64s with another seed where
// ::v is one. The counts are kept
// per tree node of at least StatSeeds seeds and shrunk towards the
// parent's rates (a prior worth 64 candidates), so a dense region speaks
// for itself and a sparse one borrows from its ancestors; the root shrinks
// each line class towards its nybble's pooled rate at that distance, that
// towards the nybble's pooled rate and that towards all lines' rate (walk
// and low byte towards their means), so a class never seen still ranks by
// its coarser classes.
//
// Leave-one-out sees one hidden seed where in truth many hosts are unseen,
// more where more are seen, and its bias differs between the kinds of
// group. So a line's rate is scaled by its seeds plus one (the expected
// unseen hosts grow with the seen), and every group's rate is then
// multiplied by its family's calibration factor (families: a line's
// nybble class, seed count class, distance bucket and whether inside its
// seeds' values; a walk's field,
// neighbour class, bucket and whether towards a neighbour; a low byte's
// bucket; a leaf's wildcards,
// seed count class (2, 3-4, 5-8, 9+) and part; each of them split
// by the density class of the seeds in the anchor's /64, and that by the
// spread of the anchor's /48: how many of its /64s hold seeds, 1-7,
// 8-63, 64-511 or 512+). The factors
// come from cross-validation: the TGA is built on 4/5 of the seeds (a
// fixed hash of each address picks), every group's candidates are
// checked against the other fifth, and a family's factor is its hits
// over its summed rates, shrunk towards the factor of its family over
// all /48 spreads, that towards the factor over all densities, which is
// shrunk towards the factor of all families.
// A leaf is checked only on its addresses off every seed's line, the
// part lines do not emit first. Two marginal rounds follow: the 4/5 TGA
// is re-ranked with the factors so far and emits its candidates in order,
// deduplicated (150 a seed, 2 M at most), and each family's factor is
// re-learnt from the hits and rates of only the candidates it emitted,
// so the addresses a better group emits first no longer count for it
// (see calibrate). A scaled
// rate r is read as odds, r/(1+r), so it stays a probability. Groups are
// emitted in descending rate, each line's values nearest the seed first.
// This is the feedback-free form of 6Hit's and 6Scan's reward per region (Hou et al. INFOCOM 2021; Hou et al. ToN
// 2023), with the reward estimated offline.
type TGA struct {
	seeds   []u128 // sorted
	seedSet u128Set
	seedFPs []uint64 // the seeds' fingerprints, ascending
	block   []ipRange
	openLen []uint8    // per seed: its openPrefix
	groups  []tgaGroup // by descending rate
	base    []float32  // per group: its rate before its family's factor, for recalibrate (calibrate's TGA only)
	regions []Region

	// The tree, kept for TGARun's feedback: nodes in preorder.
	parent   []int32           // per node; -1 for the root
	leafOf   []int32           // per seed: its leaf node
	nodeStat []int32           // per node: index in stats of the rates serving it
	leafCls  [][maxNybbl]uint8 // per node (leaves only): class (nVar) of each nybble
	leafPfx  []ipRange         // per node (leaves only): the range of the seeds' common prefix
	stats    []tgaStats        // rates per stat node
	byLeaf   []int32           // group indices grouped by their anchor's leaf, each leaf's by rate
	mult     *[nFam]float32    // calibration factor per group family
	dens     []uint8           // per seed: densClass of its /64
	wildVals []leafVals        // per seed that anchors a leaf's groups: their values (nil without leaf groups)
	leafGrp  []int32           // per node: start of its groups in byLeaf (len(parent)+1 entries)
}

// group kinds, in tie-break order.
const (
	kindLine uint8 = iota
	kindWalk       // the seed's IID in /64s a bucket of distances away
	kindLow
	kindIID  // IIDs a bucket of distances from the seed's, in its /64
	kindLeaf // every address of a leaf's pattern
)

const (
	walkW    = 256 // the widest walk distance, subnet or IID
	nWB      = 9   // walk distance buckets: 1, 2, 3-4, 5-8, ..., 129-256
	nWC      = 7   // classes of a seed's walk neighbours within walkW: 0, 1, 2, 3-4, 5-8, 9-16, 17+
	lowMax   = 64  // low byte v
	priorWt  = 64  // shrinkage prior, in candidates
	maxNybbl = 32
	nBucket  = 5 // distance buckets of a line value from the line's seeds
	nVar     = 5 // classes of a nybble in a leaf: fixed, entropy rank 1, 2, 3, 4+
	nJ       = 5 // classes of the number of seeds on a line
)

// jClass maps the number of seeds on a line (1..15) to a class: 1, 2, 3,
// 4-7, 8-15.
func jClass(j int) int { return [16]int{0, 0, 1, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4}[j] }

// distBucket maps the distance (1..15) of a value from the nearest seed
// value on its line to a bucket: 1, 2, 3-4, 5-8, 9-15.
var distBucket = [16]uint8{0, 0, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4}

// walkBucket maps a walk distance (1..walkW) to its bucket: 1, 2, 3-4,
// 5-8, ..., 129-256.
func walkBucket(d uint64) int {
	if d <= 1 {
		return 0
	}
	return bits.Len64(d - 1)
}

// walkSpan returns the nearest distance of walk bucket b and the number of
// distances in it.
func walkSpan(b int) (lo, width uint64) {
	if b == 0 {
		return 1, 1
	}
	return 1<<uint(b-1) + 1, 1 << uint(b-1)
}

// walkClass maps the number of a seed's walk neighbours within walkW to a
// class: 0, 1, 2, 3-4, 5-8, 9-16, 17+.
func walkClass(c int) int {
	if c == 0 {
		return 0
	}
	return min(bits.Len(uint(c-1))+1, nWC-1)
}

// lineBuckets returns, for a line whose seed values are the bits of mask,
// the bucket of each value not in mask (0xff for those in it) and the
// number of values in each bucket.
func lineBuckets(mask uint16) (b [16]uint8, n [nBucket]uint8) {
	for u := range 16 {
		b[u] = 0xff
		if mask>>uint(u)&1 != 0 || mask == 0 {
			continue
		}
		for d := 1; ; d++ {
			if u+d < 16 && mask>>uint(u+d)&1 != 0 || u-d >= 0 && mask>>uint(u-d)&1 != 0 {
				b[u] = distBucket[d]
				n[b[u]]++
				break
			}
		}
	}
	return
}

// insideVals returns the values strictly between the least and the
// greatest of mask's values (the seed values of a line), one bit each.
func insideVals(mask uint16) uint16 {
	lo, hi := bits.TrailingZeros16(mask), 15-bits.LeadingZeros16(mask)
	if mask == 0 || hi <= lo+1 {
		return 0
	}
	return uint16(1)<<hi - uint16(1)<<(lo+1) // bits lo+1 to hi-1
}

// bucketVals returns the values of a line whose bucket (lineBuckets) is b,
// one bit each.
func bucketVals(bk *[16]uint8, b int) uint16 {
	var vals uint16
	for u, x := range bk {
		if int(x) == b {
			vals |= 1 << uint(u)
		}
	}
	return vals
}

// The parts of a leaf: a leaf group is one of them. For each wildcard
// nybble the leaf's seeds hold some of the 16 values (leafVals), and
// their least to their greatest is its hull. An address of the leaf is in
// its core when every wildcard holds a value some seed holds there, in
// its hull (and not its core) when every wildcard lies in the hull, and
// out of it otherwise. Entropy/IP (Foremski et al. IMC 2016) and 6Gen
// (Murdock et al. IMC 2017) generate from the values seen in seeds; here
// the three parts are ranked apart. On the 6GAN split of bench/RESULTS.md,
// when a leaf was one group, its candidates ranked between the first and
// the second million hit at 6.6e-4 in the core, 3.3e-4 in the rest of
// the hull and 1.8e-4 out of it.
const (
	leafCore = iota
	leafHull
	leafOut
)

// leafVals holds, for the q-th wildcard nybble of a leaf from the right,
// the values its seeds hold there, one bit each, at bits 16q to 16q+15:
// so it serves leaves of at most leafW (4) wildcards, the ones expanded.
type leafVals uint64

// newLeafVals returns the leafVals of the seeds at indices idx of seeds,
// whose wildcard nybbles are the bits of wild (bit 31-p for nybble p).
func newLeafVals(seeds []u128, idx []int32, wild uint32) leafVals {
	var v leafVals
	q := 0
	for w := wild; w != 0; w &= w - 1 {
		p := 31 - bits.TrailingZeros32(w)
		for _, i := range idx {
			v |= 1 << (16*q + nyb(seeds[i], p))
		}
		q++
	}
	return v
}

// at returns the values of the q-th wildcard, one bit each.
func (v leafVals) at(q int) uint16 { return uint16(v >> (16 * q)) }

// span returns the least value of the q-th wildcard and the width of its
// hull.
func (v leafVals) span(q int) (lo, n int) {
	m := v.at(q)
	lo = bits.TrailingZeros16(m)
	return lo, 16 - bits.LeadingZeros16(m) - lo
}

// sizes returns the addresses of the core and of the hull (the core
// among them) of a leaf of w wildcards.
func (v leafVals) sizes(w int) (core, hull int) {
	core, hull = 1, 1
	for q := range w {
		_, n := v.span(q)
		core *= bits.OnesCount16(v.at(q))
		hull *= n
	}
	return core, hull
}

// tgaGroup is a group of candidates with one expected rate. Groups sort
// by key, then anchor.
type tgaGroup struct {
	// key is, from the top bit: the rate's float32 bits complemented (so
	// the highest rate sorts first; 32 bits), the kind (3), the line
	// position, walk bucket or leaf part (5), walk d, low-byte v, the
	// leaf's wildcards' high half or 1 for a line's values inside its
	// seeds', plus 1<<15 (16), and the line's distance bucket or the
	// walk's side (8).
	key    uint64
	anchor int32  // index in TGA.seeds
	vals   uint16 // line: the values emitted, one bit each; walk: its end above; leaf: the wildcards' low half
	fam    uint16 // family (famLine, famWalk, famLow, famLeaf)
}

func groupKey(rate float32, kind uint8, pos, d, bucket int) uint64 {
	return withRate(uint64(kind)<<29|uint64(pos)<<24|uint64(uint16(d+1<<15))<<8|uint64(bucket), rate)
}

// withRate returns key with its rate (its top 32 bits, see tgaGroup.key)
// set to rate; groupRate reads it back.
func withRate(key uint64, rate float32) uint64 {
	return uint64(^math.Float32bits(rate))<<32 | key&(1<<32-1)
}

func (g *tgaGroup) kind() uint8 { return uint8(g.key >> 29 & 7) }
func (g *tgaGroup) pos() int    { return int(g.key >> 24 & 31) }
func (g *tgaGroup) d() int      { return int(g.key>>8&0xffff) - 1<<15 }

// tgaNode is a node of the tree: seeds order[lo:hi].
type tgaNode struct{ lo, hi, parent int32 }

// tgaStats are a node's leave-one-out rates.
type tgaStats struct {
	line [maxNybbl][nVar][nJ][nBucket]float32 // [p][class of p in the seed's leaf][jClass][distance bucket]
	walk [2][nWC][nWB]float32                 // [subnet 0, IID 1][walkClass of the anchor][walkBucket]
	low  [lowMax + 1]float32
}

func nyb(x u128, p int) int {
	// Branch-free: whether p is in the high half is no better than a
	// coin toss in Generate's stream.
	lo := -uint64(p >> 4 & 1) // all ones for p ≥ 16
	return int((x.hi&^lo|x.lo&lo)>>nybShift(p)) & 0xf
}

func setNyb(x u128, p, v int) u128 {
	s := nybShift(p)
	if p < 16 {
		x.hi = x.hi&^(0xf<<s) | uint64(v)<<s
	} else {
		x.lo = x.lo&^(0xf<<s) | uint64(v)<<s
	}
	return x
}

// nybShift returns the shift of nybble p (0 to 31) within its half of an
// address (hi for p < 16, lo after).
func nybShift(p int) uint { return 60 - 4*uint(p&15) }

// NewTGA builds the tree and the ranked candidate groups from seeds (any
// order, duplicates allowed; zones dropped). It returns an error for a seed
// that is not IPv6 and for a bad blocklist; no seeds is not an error (the
// TGA then generates nothing).
func NewTGA(seeds []netip.Addr, cfg TGAConfig) (*TGA, error) {
	bl := cfg.Blocklist
	if bl == nil {
		var err error
		if bl, err = prefixes.NewBlocklist(nil, nil); err != nil {
			return nil, err
		}
	}
	leaf := cmp.Or(cfg.LeafSize, 16)
	statMin := cmp.Or(cfg.StatSeeds, 16)
	ss := make([]u128, 0, len(seeds))
	for _, a := range seeds {
		if !a.Is6() || a.Is4In6() {
			return nil, fmt.Errorf("seed %s: %w", a, ErrSeed)
		}
		ss = append(ss, u128From(a))
	}
	slices.SortFunc(ss, cmpU128)
	ss = slices.Compact(ss)
	block := blockRanges(bl)
	steps := 1
	if len(ss) >= calibMin {
		steps += calibSteps
	}
	progress := func(step int, what string) {
		if cfg.Progress != nil {
			cfg.Progress(step, steps, what)
		}
	}
	mult := calibrate(ss, block, leaf, statMin, progress)
	progress(steps-1, fmt.Sprintf("the tree and the groups of all %d seeds", len(ss)))
	t := buildTGA(ss, block, leaf, statMin, mult, 1, false)
	progress(steps, "")
	return t, nil
}

// unitFactors returns calibration factors of 1 for every family.
func unitFactors() *[nFam]float32 {
	var mult [nFam]float32
	for f := range mult {
		mult[f] = 1
	}
	return &mult
}

// buildTGA builds the TGA of seeds (sorted, distinct), each group's rate
// multiplied by its family's calibration factor in mult. With keepBase it
// keeps each group's rate before the factor, so that recalibrate can
// re-rank it.
func buildTGA(seeds []u128, block []ipRange, leaf, statMin int, mult *[nFam]float32, densScale float64, keepBase bool) *TGA {
	t := &TGA{block: block, seeds: seeds, mult: mult, dens: densClasses(seeds, densScale)}
	n := len(t.seeds)
	t.seedSet = newU128Set(n)
	for _, s := range t.seeds {
		t.seedSet.add(s)
	}
	t.seedFPs = appendFingerprints(make([]uint64, 0, n), t.seeds)
	slices.Sort(t.seedFPs)
	t.openLen = make([]uint8, n)
	for i, s := range t.seeds {
		t.openLen[i] = openPrefix(t.block, s)
	}
	if n == 0 {
		return t
	}

	// Per-seed counts: the seeds on its line along p, its walk neighbours,
	// and its low-byte evidence.
	lineJ := make([][maxNybbl]uint8, n)
	// Per seed and position: the distance bucket of the seed from the other
	// seeds of its line (0xff when alone), the line's values per bucket
	// with the seed hidden, and with it shown.
	type lineInfo struct {
		hit       uint8
		hid, full [nBucket]uint8
	}
	lineOf := make([][maxNybbl]lineInfo, n)
	type ks struct {
		k u128
		i int32
	}
	keys := make([]ks, n)
	var lineAnchors [maxNybbl][]int32 // first seed of each line
	var lineSize [maxNybbl][]uint8
	var lineMask [maxNybbl][]uint16
	for p := range maxNybbl {
		for i, s := range t.seeds {
			keys[i] = ks{setNyb(s, p, 0), int32(i)}
		}
		slices.SortFunc(keys, func(a, b ks) int {
			return cmp.Or(cmpU128(a.k, b.k), cmp.Compare(a.i, b.i))
		})
		for i := 0; i < n; {
			j := i + 1
			for j < n && keys[j].k == keys[i].k {
				j++
			}
			var mask uint16
			for k := i; k < j; k++ {
				lineJ[keys[k].i][p] = uint8(j - i)
				mask |= 1 << uint(nyb(t.seeds[keys[k].i], p))
			}
			_, full := lineBuckets(mask)
			for k := i; k < j; k++ {
				li := &lineOf[keys[k].i][p]
				li.full = full
				li.hit = 0xff
				if j-i >= 2 {
					b, hid := lineBuckets(mask &^ (1 << uint(nyb(t.seeds[keys[k].i], p))))
					li.hid = hid
					li.hit = b[nyb(t.seeds[keys[k].i], p)]
				}
			}
			lineAnchors[p] = append(lineAnchors[p], keys[i].i)
			lineSize[p] = append(lineSize[p], uint8(j-i))
			lineMask[p] = append(lineMask[p], mask)
			i = j
		}
	}
	walkOf := seedWalks(t.seeds)
	lowHit := make([]int16, n) // v when the seed is ::v and its /64 has another seed, else 0
	first64 := make([]bool, n) // first seed of its /64
	for i, s := range t.seeds {
		first64[i] = i == 0 || t.seeds[i-1].hi != s.hi
		many := !first64[i] || i+1 < n && t.seeds[i+1].hi == s.hi
		if many && s.lo >= 1 && s.lo <= lowMax {
			lowHit[i] = int16(s.lo)
		}
	}

	// The tree, over a permutation of seed indices; node stats bottom-up.
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	statOf := make([]int32, n)            // stat node of each seed
	leafVar := make([][maxNybbl]uint8, n) // class of each nybble in each seed's leaf (nVar)
	var stats []tgaStats
	var nodes []tgaNode
	type counts struct {
		hit   [maxNybbl][nVar][nJ][nBucket]float64
		trial [maxNybbl][nVar][nJ][nBucket]float64
		walkH [2][nWC][nWB]float64
		walkT [2][nWC][nWB]float64
		low   [lowMax + 1]float64
		seeds float64
		s64   float64
	}
	leafOf := make([]int32, n)
	// Leaves to expand: 2 or more seeds, 1 to leafW wildcard nybbles.
	type leafGroup struct {
		anchor int32 // the leaf's seed of lowest index in t.seeds
		wild   uint32
		seeds  int
		vals   leafVals
	}
	var leafGroups []leafGroup
	var build func(lo, hi int, parent int32, fixed uint32)
	build = func(lo, hi int, parent int32, fixed uint32) {
		me := int32(len(nodes))
		nodes = append(nodes, tgaNode{lo: int32(lo), hi: int32(hi), parent: parent})
		t.leafCls = append(t.leafCls, [maxNybbl]uint8{})
		t.leafPfx = append(t.leafPfx, ipRange{})
		// Split on the variable nybble of lowest entropy.
		best, bestH := -1, math.Inf(1)
		if hi-lo > leaf {
			for p := range maxNybbl {
				if fixed>>uint(31-p)&1 != 0 {
					continue
				}
				var cnt [16]int
				for _, i := range order[lo:hi] {
					cnt[nyb(t.seeds[i], p)]++
				}
				h := 0.0
				for _, c := range cnt {
					if c > 0 {
						f := float64(c) / float64(hi-lo)
						h -= f * math.Log2(f)
					}
				}
				if h > 0 && h < bestH {
					best, bestH = p, h
				}
			}
		}
		if best < 0 {
			r := t.region(order[lo:hi])
			// Rank the leaf's varying nybbles by entropy, highest first
			// (ties: leftmost first); class 0 is a fixed nybble.
			var ent [maxNybbl]float64
			var vary []int
			for p := range maxNybbl {
				var cnt [16]int
				for _, i := range order[lo:hi] {
					cnt[nyb(t.seeds[i], p)]++
				}
				for _, c := range cnt {
					if c > 0 {
						f := float64(c) / float64(hi-lo)
						ent[p] -= f * math.Log2(f)
					}
				}
				if ent[p] > 0 {
					vary = append(vary, p)
				}
			}
			slices.SortStableFunc(vary, func(a, b int) int { return cmp.Compare(ent[b], ent[a]) })
			var cls [maxNybbl]uint8
			for r, p := range vary {
				cls[p] = uint8(min(r+1, nVar-1))
			}
			x, y := t.seeds[order[lo]], t.seeds[order[lo]]
			for _, i := range order[lo:hi] {
				leafVar[i] = cls
				leafOf[i] = me
				x, y = minU128(x, t.seeds[i]), maxU128(y, t.seeds[i])
			}
			t.leafCls[me] = cls
			t.leafPfx[me] = commonRange(x, y)
			t.regions = append(t.regions, r)
			if w := r.Pattern.Wildcards(); hi-lo >= 2 && w <= leafW {
				leafGroups = append(leafGroups, leafGroup{slices.Min(order[lo:hi]), r.Pattern.wild, hi - lo, newLeafVals(t.seeds, order[lo:hi], r.Pattern.wild)})
			}
			return
		}
		slices.SortStableFunc(order[lo:hi], func(a, b int32) int {
			return cmp.Compare(nyb(t.seeds[a], best), nyb(t.seeds[b], best))
		})
		f := fixed | 1<<uint(31-best)
		for i := lo; i < hi; {
			j := i + 1
			v := nyb(t.seeds[order[i]], best)
			for j < hi && nyb(t.seeds[order[j]], best) == v {
				j++
			}
			// stats may move when appended to: pass a copy of my.
			build(i, j, me, f)
			i = j
		}
	}
	build(0, n, -1, 0)

	// Stats, parents first (nodes are in preorder): a node of at least
	// statMin seeds, and the root, keep their own, shrunk towards the
	// nearest ancestor's.
	statAt := make([]int32, len(nodes)) // stat node serving each node
	for k, nd := range nodes {
		lo, hi := int(nd.lo), int(nd.hi)
		var parent *tgaStats
		if nd.parent >= 0 {
			statAt[k] = statAt[nd.parent]
			parent = &stats[statAt[k]]
		}
		if hi-lo < statMin && parent != nil {
			continue
		}
		var c counts
		for _, i := range order[lo:hi] {
			// Seed i hidden from its line of m seeds: a hit among the
			// m-1 others' candidates; its line shown: 1/m of the trials
			// of a line of m.
			for p := range maxNybbl {
				w, m, li := leafVar[i][p], int(lineJ[i][p]), &lineOf[i][p]
				if m < 16 {
					for b := range nBucket {
						c.trial[p][w][jClass(m)][b] += float64(li.full[b]) / float64(m)
					}
				}
				if m >= 2 {
					c.hit[p][w][jClass(m-1)][li.hit]++
					for b := range nBucket {
						c.trial[p][w][jClass(m-1)][b] += float64(li.hid[b])
					}
				}
			}
			// Each of the seed's c walk neighbours hidden in turn: the
			// seed sees c-1 and one hit among its candidates.
			for f := range 2 {
				w := &walkOf[i][f]
				if w.c == 0 {
					continue
				}
				j := walkClass(int(w.c) - 1)
				for b := range nWB {
					_, width := walkSpan(b)
					nb := float64(w.n[b])
					c.walkH[f][j][b] += nb
					c.walkT[f][j][b] += float64(w.c)*(float64(2*width)-nb) + nb
				}
			}
			c.low[lowHit[i]]++
			c.seeds++
			if first64[i] {
				c.s64++
			}
		}
		var st tgaStats
		shrink := func(h, tr float64, prior float32) float32 {
			return float32((h + priorWt*float64(prior)) / (tr + priorWt))
		}
		pr := parent
		if pr == nil {
			pr = rootPrior(&c.hit, &c.trial, &c.walkH, &c.walkT, c.low[:], c.s64)
		}
		for p := range maxNybbl {
			for w := range nVar {
				for j := range nJ {
					for b := range nBucket {
						st.line[p][w][j][b] = shrink(c.hit[p][w][j][b], c.trial[p][w][j][b], pr.line[p][w][j][b])
					}
				}
			}
		}
		for f := range 2 {
			for j := range nWC {
				for b := range nWB {
					st.walk[f][j][b] = shrink(c.walkH[f][j][b], c.walkT[f][j][b], pr.walk[f][j][b])
				}
			}
		}
		for v := 1; v <= lowMax; v++ {
			st.low[v] = shrink(c.low[v], c.s64, pr.low[v])
		}
		stats = append(stats, st)
		statAt[k] = int32(len(stats) - 1)
		for _, i := range order[lo:hi] {
			statOf[i] = statAt[k]
		}
	}
	slices.SortStableFunc(t.regions, func(a, b Region) int { return cmp.Compare(b.Density, a.Density) })

	// The groups.
	for p := range maxNybbl {
		for k, a := range lineAnchors[p] {
			j := lineSize[p][k]
			if j >= 16 {
				continue
			}
			bk, nb := lineBuckets(lineMask[p][k])
			for b := range nBucket {
				if nb[b] == 0 {
					continue
				}
				// A bucket's values between the line's least and greatest
				// seed values (inside) and the others are two groups.
				vals, inside := bucketVals(&bk, b), insideVals(lineMask[p][k])
				for in, vs := range [2]uint16{vals &^ inside, vals & inside} {
					if vs == 0 {
						continue
					}
					f := famLine(int(leafVar[a][p]), jClass(int(j)), b, in) + nFamBase*uint16(t.dens[a])
					r := stats[statOf[a]].line[p][leafVar[a][p]][jClass(int(j))][b] * float32(j+1)
					t.groups = append(t.groups, tgaGroup{key: groupKey(odds(r*mult[f]), kindLine, p, in, b), anchor: a, vals: vs, fam: f})
					if keepBase {
						t.base = append(t.base, r)
					}
				}
			}
		}
	}
	for i := range t.seeds {
		st := &stats[statOf[i]]
		for f, kind := range [2]uint8{kindWalk, kindIID} {
			w := &walkOf[i][f]
			up, down := walkEnds(w)
			for b := range nWB {
				lo, width := walkSpan(b)
				if uint64(w.n[b]) >= 2*width {
					continue // nothing left to emit: all seeds
				}
				// A walk towards a neighbour (one that stops) and one away
				// from every neighbour are two groups.
				sides, ns := [2]int{walkBoth}, 1
				if (up == 0) != (down == 0) {
					sides, ns = [2]int{walkUp, walkDown}, 2
				}
				for _, side := range sides[:ns] {
					end := [3]uint16{max(up, down), up, down}[side] // 0 when open
					if end != 0 && lo >= uint64(end) {
						continue // the side (both: the farther) stops before the bucket
					}
					fm := famWalk(f, walkClass(int(w.c)), b, b2i(end != 0)) + nFamBase*uint16(t.dens[i])
					r := st.walk[f][walkClass(int(w.c))][b]
					t.groups = append(t.groups, tgaGroup{key: groupKey(odds(r*mult[fm]), kind, b, int(down), side), anchor: int32(i), vals: up, fam: fm})
					if keepBase {
						t.base = append(t.base, r)
					}
				}
			}
		}
		if first64[i] {
			for v := 1; v <= lowMax; v++ {
				f := famLow(v) + nFamBase*uint16(t.dens[i])
				t.groups = append(t.groups, tgaGroup{key: groupKey(odds(st.low[v]*mult[f]), kindLow, 0, v, 0), anchor: int32(i), fam: f})
				if keepBase {
					t.base = append(t.base, st.low[v])
				}
			}
		}
	}
	if len(leafGroups) > 0 {
		t.wildVals = make([]leafVals, n)
	}
	for _, lg := range leafGroups {
		w := bits.OnesCount32(lg.wild)
		t.wildVals[lg.anchor] = lg.vals
		// A part's rate: the leaf's seeds over the addresses of its core,
		// of its hull, or out of its hull. A part with no address that is
		// not a seed has no group.
		core, hull := lg.vals.sizes(w)
		all := 1 << (4 * w)
		for part, size := range [3]int{core, hull, all - hull} {
			if fresh := [3]int{core - lg.seeds, hull - core, all - hull}[part]; fresh == 0 {
				continue
			}
			f := famLeaf(w, lg.seeds, part) + nFamBase*uint16(t.dens[lg.anchor])
			r := float32(lg.seeds) / float32(size)
			// The wildcard mask: its high half in the key's d, its low
			// half in vals; the part in pos.
			t.groups = append(t.groups, tgaGroup{key: groupKey(odds(r*mult[f]), kindLeaf, part, int(lg.wild>>16)-1<<15, 0), anchor: lg.anchor, vals: uint16(lg.wild), fam: f})
			if keepBase {
				t.base = append(t.base, r)
			}
		}
	}
	// Keep the tree for TGARun.
	t.leafOf, t.nodeStat, t.stats = leafOf, statAt, stats
	t.parent = make([]int32, len(nodes))
	for k, nd := range nodes {
		t.parent[k] = nd.parent
	}
	t.rank()
	return t
}

// rank sorts t's groups (and their base rates) by cmpGroup and groups
// them by their anchor's leaf (a stable counting sort, so each leaf's
// stay by rate). No two groups have the same key and anchor, so the
// order does not depend on the order they were in.
func (t *TGA) rank() {
	sortGroups(t.groups, t.base)
	t.leafGrp = make([]int32, len(t.parent)+1)
	for _, g := range t.groups {
		t.leafGrp[t.leafOf[g.anchor]+1]++
	}
	for k := range t.parent {
		t.leafGrp[k+1] += t.leafGrp[k]
	}
	t.byLeaf = make([]int32, len(t.groups))
	next := slices.Clone(t.leafGrp[:len(t.parent)])
	for gi, g := range t.groups {
		l := t.leafOf[g.anchor]
		t.byLeaf[next[l]] = int32(gi)
		next[l]++
	}
}

// recalibrate re-ranks t, built with other calibration factors, as if it
// had been built with mult: each group's rate is its base rate times its
// family's factor in mult, read as odds (bit for bit what buildTGA
// computes), and the groups are ranked again. The tree, the statistics
// and the groups' addresses do not depend on the factors, so calibrate's
// marginal rounds re-rank their TGA rather than build it again. t must
// have been built with keepBase.
func (t *TGA) recalibrate(mult *[nFam]float32) {
	t.mult = mult
	for i := range t.groups {
		g := &t.groups[i]
		g.key = withRate(g.key, odds(t.base[i]*mult[g.fam]))
	}
	t.rank()
}

// cmpGroup orders groups by key, then anchor.
func cmpGroup(a, b tgaGroup) int {
	return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.anchor, b.anchor))
}

// sortGroups sorts gs by cmpGroup, and base (one entry a group, or nil)
// with it: an LSD radix sort, 16 bits a pass (anchor, then key; a pass
// whose digit is the same for all is skipped), for the millions of
// groups of a large seed set; a comparison sort below radixMin groups.
func sortGroups(gs []tgaGroup, base []float32) {
	const radixMin = 1 << 14
	if len(gs) < radixMin && base == nil {
		slices.SortFunc(gs, cmpGroup)
		return
	}
	if len(gs) < radixMin {
		type gb struct {
			g tgaGroup
			b float32
		}
		s := make([]gb, len(gs))
		for i, g := range gs {
			s[i] = gb{g, base[i]}
		}
		slices.SortFunc(s, func(a, b gb) int { return cmpGroup(a.g, b.g) })
		for i := range s {
			gs[i], base[i] = s[i].g, s[i].b
		}
		return
	}
	digit := func(g *tgaGroup, pass int) int {
		if pass < 2 {
			return int(uint32(g.anchor) >> (16 * pass) & 0xffff)
		}
		return int(g.key >> (16 * (pass - 2)) & 0xffff)
	}
	src, dst := gs, make([]tgaGroup, len(gs))
	var bsrc, bdst []float32
	if base != nil {
		bsrc, bdst = base, make([]float32, len(base))
	}
	cnt := make([]int, 1<<16)
	for pass := range 6 {
		clear(cnt)
		for i := range src {
			cnt[digit(&src[i], pass)]++
		}
		if cnt[digit(&src[0], pass)] == len(src) {
			continue
		}
		sum := 0
		for d, c := range cnt {
			cnt[d] = sum
			sum += c
		}
		if base == nil {
			for i := range src {
				d := digit(&src[i], pass)
				dst[cnt[d]] = src[i]
				cnt[d]++
			}
		} else {
			for i := range src {
				d := digit(&src[i], pass)
				dst[cnt[d]], bdst[cnt[d]] = src[i], bsrc[i]
				cnt[d]++
			}
			bsrc, bdst = bdst, bsrc
		}
		src, dst = dst, src
	}
	if &src[0] != &gs[0] {
		copy(gs, src)
		if base != nil {
			copy(base, bsrc)
		}
	}
}

// odds reads a scaled rate r as odds and returns the probability, so a
// rate scaled past 1 by the neighbour counts stays below 1 and ranks alike.
func odds(r float32) float32 { return r / (1 + r) }

// Group families, the unit of calibration: a line's nybble class (nVar),
// jClass, distance bucket and whether inside its seeds' values (famLine);
// a walk's field, walkClass, bucket and whether its side stops at a
// neighbour (famWalk); a low byte's walkBucket (famLow); a leaf's
// wildcards, seed class and part (famLeaf) (these nFamBase base families), each split by the anchor's densClass and d48Class:
// family f + nFamBase·(densClass + nDens·d48Class).
const (
	nFamLine = nVar * nJ * nBucket * 2 // the last factor: outside or inside the line's seed values
	nFamWalk = 2 * nWC * nWB * 2       // the last factor: away from or towards a neighbour
	nFamLow  = 7                       // walkBucket of v, 1 <= v <= lowMax
	nFamBase = nFamLine + nFamWalk + nFamLow + nFamLeaf
	nFamLeaf = leafW * nLeafS * nLeafP
	leafW    = 4 // the most wildcard nybbles of an expanded leaf
	nLeafS   = 4 // classes of an expanded leaf's seeds: 2, 3-4, 5-8, 9+
	nLeafP   = 3 // the parts of a leaf: leafCore, leafHull, leafOut
	nDens    = 8 // classes of the seeds in a group anchor's /64: 1, 2-3, 4-7, ..., 128+
	nD48     = 4 // classes of the /64s with seeds in the anchor's /48: 1-7, 8-63, 64-511, 512+
	nFam     = nFamBase * nDens * nD48
)

// densClass maps the number of seeds in a /64 (scaled) to its class.
func densClass(n float64) int { return min(max(int(math.Log2(max(n, 1))), 0), nDens-1) }

// densClasses returns the density class of each seed (sorted): of its
// /64's seed count times scale, plus nDens times the d48Class of the
// number of its /48's /64s with seeds, times scale. calibrate's TGA,
// built on 4/5 of the seeds, scales by 5/4 so its classes match the full
// TGA's.
func densClasses(seeds []u128, scale float64) []uint8 {
	d := make([]uint8, len(seeds))
	for i := 0; i < len(seeds); {
		j := i
		for j < len(seeds) && seeds[j].hi == seeds[i].hi {
			j++
		}
		c := uint8(densClass(float64(j-i) * scale))
		for k := i; k < j; k++ {
			d[k] = c
		}
		i = j
	}
	for i := 0; i < len(seeds); {
		j, n64 := i, 0
		for j < len(seeds) && seeds[j].hi>>16 == seeds[i].hi>>16 {
			if j == i || seeds[j].hi != seeds[j-1].hi {
				n64++
			}
			j++
		}
		c := uint8(d48Class(float64(n64) * scale))
		for k := i; k < j; k++ {
			d[k] += nDens * c
		}
		i = j
	}
	return d
}

// d48Class maps the number of a /48's /64s that hold seeds (scaled) to
// its class: 1-7, 8-63, 64-511, 512+ (the spread of the /48, where densClass is
// the density of one /64).
func d48Class(n float64) int { return min(max(int(math.Log2(max(n, 1)))/3, 0), nD48-1) }

func famLine(v, j, b, in int) uint16 { return uint16(((v*nJ+j)*nBucket+b)*2 + in) }
func famWalk(f, c, b, to int) uint16 { return uint16(nFamLine + ((f*nWC+c)*nWB+b)*2 + to) }
func famLow(v int) uint16            { return uint16(nFamLine + nFamWalk + walkBucket(uint64(v))) }

// famLeaf returns the family of part (leafCore, leafHull, leafOut) of a
// leaf of s >= 2 seeds and w wildcards.
func famLeaf(w, s, part int) uint16 {
	return uint16(nFamLine + nFamWalk + nFamLow + ((w-1)*nLeafS+min(bits.Len(uint(s-1))-1, nLeafS-1))*nLeafP + part)
}

const (
	calibMin   = 100 // the fewest seeds calibrate runs on
	calibPrior = 4   // hits: the weight of the global factor in each family's
	calibSlots = 64  // the most slots of a group calibrate checks
	// calibrate's marginal rounds: how many, and the candidates each
	// emits, per seed it is built on and in all (the cap bounds the
	// round's hash set to 32 MiB).
	calibRounds = 2
	calibSteps  = 2 + calibRounds // calibrate's steps (see TGAConfig.Progress)
	calibBudget = 150
	calibMax    = 2000000
)

// calibrate returns each group family's calibration factor, learnt by
// cross-validation: the TGA is built on the seeds a fixed hash puts in
// 4 of 5 parts, every candidate of every group is checked against the
// fifth part, and a family's factor is its hits over its rates' sum,
// shrunk towards its factor over all /48 classes, that towards its base
// family's factor (over all density classes), which is shrunk towards
// the factor of all families (each a prior of calibPrior hits).
// So the leave-one-out rates of the different kinds of group, whose
// biases differ, are put on one scale: the yield on seeds the TGA did
// not see. Then calibRounds marginal rounds re-rank the 4/5 TGA with the
// factors so far (recalibrate: the same TGA as one built with them),
// emit its first calibBudget candidates a seed (calibMax at most) as
// Generate does, and re-learn each family's factor from the candidates
// it emitted alone (marginalYield), shrunk towards its last factor times
// the change in the yield of all families. A family whose addresses
// better groups emit first is so rated by what it adds. The build costs
// one TGA build on 4/5 of the seeds, the check of its groups against the
// fifth and two re-rankings more than one build on all of them. Under
// calibMin seeds every factor is 1.
//
// progress, when not nil, is called as each of its calibSteps steps
// starts, with its index and what it does.
func calibrate(seeds []u128, block []ipRange, leaf, statMin int, progress func(step int, what string)) *[nFam]float32 {
	if progress == nil {
		progress = func(int, string) {}
	}
	mult := unitFactors()
	if len(seeds) < calibMin {
		return mult
	}
	train, held := calibSplit(seeds)
	progress(0, fmt.Sprintf("calibration: the tree and the groups of %d seeds", len(train)))
	sub := buildTGA(train, block, leaf, statMin, mult, float64(len(seeds))/float64(len(train)), true)
	progress(1, fmt.Sprintf("calibration: their groups checked against %d held-out seeds", len(held)))
	hit, pred := familyYield(sub, held)
	var th, tp float64
	for f := range nFam {
		th += hit[f]
		tp += pred[f]
	}
	if th == 0 || tp == 0 {
		return mult
	}
	all := th / tp
	for f := range nFamBase {
		var bh, bp float64
		for d := range nDens * nD48 {
			bh += hit[f+nFamBase*d]
			bp += pred[f+nFamBase*d]
		}
		base := (bh + calibPrior) / (bp + calibPrior/all)
		for d := range nDens {
			var mh, mp float64
			for e := range nD48 {
				mh += hit[f+nFamBase*(d+nDens*e)]
				mp += pred[f+nFamBase*(d+nDens*e)]
			}
			mid := (mh + calibPrior) / (mp + calibPrior/base)
			for e := range nD48 {
				k := f + nFamBase*(d+nDens*e)
				mult[k] = float32((hit[k] + calibPrior) / (pred[k] + calibPrior/mid))
			}
		}
	}
	// Marginal rounds: each group family's factor is re-learnt from
	// the candidates the calibrated sub-TGA actually emits, in order and
	// deduplicated, so a family is charged only for what no better group
	// emitted first (its overlap with them is no longer counted twice).
	budget := min(calibBudget*len(train), calibMax)
	for r := range calibRounds {
		progress(2+r, fmt.Sprintf("calibration: marginal round %d of %d", r+1, calibRounds))
		sub.recalibrate(mult)
		hit, pred := marginalYield(sub, held, budget)
		var th, tp float64
		for f := range nFam {
			th += hit[f]
			tp += pred[f]
		}
		if th == 0 || tp == 0 {
			break
		}
		// A family with few marginal hits keeps its factor, rescaled by
		// how the marginal yield of all families compares with the last.
		ratio := th / tp / all
		all = th / tp
		for k := range nFam {
			mult[k] = float32((hit[k] + calibPrior) / (pred[k] + calibPrior/(float64(mult[k])*ratio)))
		}
	}
	return mult
}

// marginalYield emits t's first budget candidates, as Generate does, and
// returns per group family the candidates in held and the sum of their
// groups' rates before calibration (t.mult undone).
func marginalYield(t *TGA, held []u128, budget int) (hit, pred [nFam]float64) {
	hs := newU128Set(len(held))
	for _, s := range held {
		hs.add(s)
	}
	e := newEmitter(t.seeds, t.block, budget)
	for gi := 0; gi < len(t.groups) && !e.full(); gi++ {
		var g liveGroup
		t.loadGroup(&g, int32(gi))
		f := t.groups[gi].fam
		r := min(float64(g.rate), 1-1e-7)       // a rate rounded up to 1 stays finite as odds
		raw := r / (1 - r) / float64(t.mult[f]) // odds undone, then the factor
		for k, n := 0, g.slots(); k < n && !e.full(); {
			e.buf, k = g.appendSlots(e.buf, k, emitBatch)
			from := len(e.out)
			e.flush()
			for _, a := range e.out[from:] {
				pred[f] += raw
				if hs.has(u128FromBytes(a)) {
					hit[f]++
				}
			}
		}
	}
	return hit, pred
}

// calibSplit splits sorted seeds into the 4/5 calibrate builds on and the
// fifth it checks against, by a fixed hash of each address.
func calibSplit(seeds []u128) (train, held []u128) {
	for _, s := range seeds {
		if mix64(s.hi^mix64(s.lo))%5 == 0 {
			held = append(held, s)
		} else {
			train = append(train, s)
		}
	}
	return train, held
}

// familyYield returns, per group family of t, the candidates in held and
// the sum of their groups' rates (the hits t expects), over at most
// calibSlots evenly spaced slots of each group.
func familyYield(t *TGA, held []u128) (hit, pred [nFam]float64) {
	hs := newU128Set(len(held))
	for _, s := range held {
		hs.add(s)
	}
	var xs []u128
	for gi := range t.groups {
		var g liveGroup
		t.loadGroup(&g, int32(gi))
		f := t.groups[gi].fam
		n := g.slots()
		step := max(1, n/calibSlots)
		xs = xs[:0]
		if step == 1 {
			// Every slot: one call appends their addresses in order, as
			// a loop over at does, without at's work per slot.
			xs, _ = g.slotRange(xs, 0, n, n)
		} else {
			for k := 0; k < n; k += step {
				if x, ok := g.at(k); ok {
					xs = append(xs, x)
				}
			}
		}
		for _, x := range xs {
			fp := fingerprint(x) // both sets' (see u128Set)
			if _, seed := t.seedSet.findFP(fp); seed || g.kind == kindLeaf && t.onLine(x, g.wild) {
				continue
			}
			pred[f] += float64(g.rate)
			if _, in := hs.findFP(fp); in {
				hit[f]++
			}
		}
	}
	return hit, pred
}

// walkInfo is a seed's walk neighbours in one field: the seeds that share
// its IID (subnet walk) or its /64 (IID walk) within walkW of it.
type walkInfo struct {
	c        uint16      // how many
	n        [nWB]uint16 // how many in each walk bucket
	up, down uint16      // distance to the nearest above and below, within 2·walkW (0: none)
}

// The sides of a walk group: both directions, or the one above or below.
// On the eval's 6GAN split of bench/RESULTS.md, before walks were split
// by side, the walk candidates ranked between the first and the second
// million hit at 8.2e-4 (subnet) and 9.3e-4 (IID) on a side that stops
// at a neighbour and at 2.4e-4 and 1.5e-4 on an open one.
const (
	walkBoth = iota
	walkUp
	walkDown
)

// b2i returns 1 for true, 0 for false.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// walkEnds returns the distances at or past which a walk from the seed
// of w stops above and below (0: it does not stop before walkW): past
// the midpoint to its nearest neighbour, whose walk owns the rest (a
// tie goes to the lower seed). So the walks of one field never overlap.
func walkEnds(w *walkInfo) (up, down uint16) {
	if w.up != 0 && w.up/2+1 <= walkW {
		up = w.up/2 + 1
	}
	if w.down != 0 && (w.down+1)/2 <= walkW {
		down = (w.down + 1) / 2
	}
	return up, down
}

// walkReach returns the furthest distance a walk with ends up and down
// (see walkEnds) can emit, plus one: walkW+1 when either end is open.
func walkReach(up, down uint16) uint64 {
	if up == 0 || down == 0 {
		return walkW + 1
	}
	return uint64(max(up, down))
}

// seedWalks returns each seed's walk neighbours: [0] in the subnet field,
// [1] in the IID field. seeds is sorted.
func seedWalks(seeds []u128) [][2]walkInfo {
	w := make([][2]walkInfo, len(seeds))
	count := func(f int, idx []int32, field func(u128) uint64, same func(a, b u128) bool) {
		for x, i := range idx {
			for _, j := range idx[x+1:] {
				a, b := seeds[i], seeds[j]
				d := field(b) - field(a)
				if !same(a, b) || d > 2*walkW {
					break
				}
				if w[i][f].up == 0 {
					w[i][f].up = uint16(d)
				}
				w[j][f].down = uint16(d) // the last i is the nearest
				if d > walkW {
					continue
				}
				k := walkBucket(d)
				for _, s := range [2]int32{i, j} {
					w[s][f].c = min(w[s][f].c+1, 1<<16-1)
					w[s][f].n[k] = min(w[s][f].n[k]+1, 1<<16-1)
				}
			}
		}
	}
	idx := make([]int32, len(seeds))
	for i := range idx {
		idx[i] = int32(i)
	}
	count(1, idx, func(a u128) uint64 { return a.lo }, func(a, b u128) bool { return a.hi == b.hi })
	slices.SortFunc(idx, func(a, b int32) int {
		return cmp.Or(cmp.Compare(seeds[a].lo, seeds[b].lo), cmp.Compare(seeds[a].hi, seeds[b].hi))
	})
	count(0, idx, func(a u128) uint64 { return a.hi }, func(a, b u128) bool { return a.lo == b.lo })
	return w
}

// commonRange returns the range of the longest prefix that x <= y share.
func commonRange(x, y u128) ipRange {
	var bitsShared int
	if d := x.hi ^ y.hi; d != 0 {
		bitsShared = bits.LeadingZeros64(d)
	} else {
		bitsShared = 64 + bits.LeadingZeros64(x.lo^y.lo)
	}
	mh, ml := ^uint64(0), ^uint64(0) // host-bit masks
	if bitsShared < 64 {
		mh = ^uint64(0) >> uint(bitsShared)
	} else {
		mh = 0
		if bitsShared < 128 {
			ml = ^uint64(0) >> uint(bitsShared-64)
		} else {
			ml = 0
		}
	}
	return ipRange{fromHi: x.hi &^ mh, fromLo: x.lo &^ ml, toHi: x.hi | mh, toLo: x.lo | ml}
}

// addU128 and subU128 return a+d and a-d, modulo 2^128.
func addU128(a u128, d uint64) u128 {
	lo, c := bits.Add64(a.lo, d, 0)
	return u128{a.hi + c, lo}
}

func subU128(a u128, d uint64) u128 {
	lo, b := bits.Sub64(a.lo, d, 0)
	return u128{a.hi - b, lo}
}

func minU128(a, b u128) u128 {
	if cmpU128(a, b) <= 0 {
		return a
	}
	return b
}

func maxU128(a, b u128) u128 {
	if cmpU128(a, b) >= 0 {
		return a
	}
	return b
}

// rootPrior returns the prior of the root's rates: each line class
// (p, v, j, b) is shrunk towards the pooled rate of (p, b), that towards
// the pooled rate of p, and that towards the rate of all lines; every walk
// step towards the mean walk rate, every low byte towards the mean low-byte
// rate. So a class no seed has tried still ranks by what its coarser
// classes did.
func rootPrior(hit, trial *[maxNybbl][nVar][nJ][nBucket]float64, walkH, walkT *[2][nWC][nWB]float64, low []float64, s64 float64) *tgaStats {
	var pr tgaStats
	sh := func(h, tr, prior float64) float64 { return (h + priorWt*prior) / (tr + priorWt) }
	var ph, pt [maxNybbl][nBucket]float64
	var gh, gt float64
	for p := range maxNybbl {
		for v := range nVar {
			for j := range nJ {
				for b := range nBucket {
					ph[p][b] += hit[p][v][j][b]
					pt[p][b] += trial[p][v][j][b]
				}
			}
		}
		for b := range nBucket {
			gh += ph[p][b]
			gt += pt[p][b]
		}
	}
	g := gh / max(gt, 1)
	for p := range maxNybbl {
		var h, tr float64
		for b := range nBucket {
			h += ph[p][b]
			tr += pt[p][b]
		}
		rp := sh(h, tr, g)
		for b := range nBucket {
			rb := float32(sh(ph[p][b], pt[p][b], rp))
			for v := range nVar {
				for j := range nJ {
					pr.line[p][v][j][b] = rb
				}
			}
		}
	}
	for f := range 2 {
		var fh, ft float64
		var bh, bt [nWB]float64
		for j := range nWC {
			for b := range nWB {
				bh[b] += walkH[f][j][b]
				bt[b] += walkT[f][j][b]
			}
		}
		for b := range nWB {
			fh += bh[b]
			ft += bt[b]
		}
		rf := fh / max(ft, 1)
		for b := range nWB {
			rb := float32(sh(bh[b], bt[b], rf))
			for j := range nWC {
				pr.walk[f][j][b] = rb
			}
		}
	}
	var lh float64
	for _, x := range low[1:] {
		lh += x
	}
	for v := range pr.low {
		pr.low[v] = float32(lh / max(s64*float64(len(low)-1), 1))
	}
	return &pr
}

// region returns the leaf region of the seeds idx.
func (t *TGA) region(idx []int32) Region {
	s0 := t.seeds[idx[0]]
	var diff u128
	for _, i := range idx[1:] {
		diff.hi |= t.seeds[i].hi ^ s0.hi
		diff.lo |= t.seeds[i].lo ^ s0.lo
	}
	var p Pattern
	a := s0
	for q := range maxNybbl {
		if nyb(diff, q) != 0 {
			p.wild |= 1 << uint(31-q)
			a = setNyb(a, q, 0)
		}
	}
	p.addr = a.addr().As16()
	w := p.Wildcards()
	return Region{Pattern: p, Seeds: len(idx), Density: math.Log(float64(len(idx)))/math.Log(16) - float64(w)}
}

// Seeds returns the number of distinct seeds the TGA was built from.
func (t *TGA) Seeds() int { return len(t.seeds) }

// Regions returns the leaf regions of the tree, densest first. The slice is
// a copy.
func (t *TGA) Regions() []Region { return slices.Clone(t.regions) }

// Generate returns up to budget distinct candidates, best first: none is a
// seed or blocked. With fewer than budget candidates to give it returns
// them all and an error wrapping ErrExhausted. The result is the same for
// the same seeds, configuration and budget (and a longer budget extends a
// shorter one). Candidates are told apart by a 63-bit fingerprint (see
// u128Set): a candidate whose fingerprint an earlier one or a seed has
// is skipped, which happens with probability below 2e-7 in a 1 M budget,
// and never yields a duplicate.
//
// When the budget and the seeds come to at most oneSetMax and the seeds
// to at most oneSetSeeds, the groups' addresses are checked one by one
// against one hash set (of 1 MiB at most), which holds the seeds as well
// unless they are more than twice the budget: then the TGA's own seed set
// is probed too, which costs less than loading them (measured in
// bench/RESULTS.md). Otherwise they are drawn in batches,
// each checked as a whole for repeats (see firstSeen). A batch ends when
// a sample of its addresses says it holds what is left of the budget in
// new ones, or when its buffers are full: they hold 3/2 addresses a
// candidate left at first (at a 1 M budget the evaluation's splits drew
// 1.46 a candidate on 6GAN and 1.06 on 6Graph), and after that 11/10 of
// as many as drawn a candidate so far. On the 6GAN split one batch is
// enough at a 1 M budget and two at 100 K and 300 K; on 6Graph one at
// 100 K to 1 M. A group whose addresses all lie in a prefix free of
// blocked addresses (see openPrefix) is not checked address by address.
// Besides the result (16 bytes a candidate) Generate then allocates
// about 29 bytes an address of its largest batch's buffers and 10 bytes
// a seed or candidate: 72 MB at a 1 M budget on the 6GAN split. It is
// safe for concurrent use.
func (t *TGA) Generate(budget int) ([][16]byte, error) {
	budget = max(budget, 0)
	gs := groupStream{t: t, gap: newOpenCache()}
	if oneSet(budget, len(t.seeds)) {
		// Loading many seeds into the set costs more than probing the
		// TGA's own seed set for each address drawn. The stream drops
		// blocked addresses itself, so the emitter has no ranges to check.
		e := newEmitter(t.seeds, nil, budget)
		if len(t.seeds) > 2*budget {
			e = newHeldEmitter(&t.seedSet, nil, budget)
		}
		for !e.full() {
			n := len(e.buf)
			if e.buf = gs.fill(e.buf, emitBatch-n); len(e.buf) == n {
				break
			}
			e.flush()
		}
		return e.result()
	}
	out, _ := t.generateBatched(&gs, budget, firstDraws)
	return out, exhausted(len(out), budget)
}

// firstDraws is how many addresses Generate's first batch has room for,
// per candidate of the budget (see Generate).
const firstDraws = 1.5

// generateBatched is Generate past oneSetMax, from gs as newly made: its
// first batch has buffers for perCand addresses a candidate of the
// budget (drawRun at least), each further one for 11/10 of as many as
// drawn a candidate so far. It returns the candidates and how many
// batches it took.
func (t *TGA) generateBatched(gs *groupStream, budget int, perCand float64) ([][16]byte, int) {
	out := make([][16]byte, 0, budget)
	fs := newFirstSeen(t.seedFPs, budget+len(t.seeds))
	var (
		raw   []u128
		fresh []uint64
		drawn int
	)
	batches := 0
	for ; len(out) < budget; batches++ {
		// A batch is drawn, a run at a time, each run's fingerprints
		// taken while it is in the cache, until the sample says it
		// holds what is left of the budget in new addresses (see
		// firstSeen.enough), or until it fills its buffers. A full
		// batch is checked, and the rest drawn in another, not copied
		// to larger buffers.
		need := budget - len(out)
		guess := max(int(float64(need)*perCand), drawRun)
		if len(out) > 0 {
			guess = int(float64(need)*float64(drawn)/float64(len(out))*1.1) + drawRun
		}
		raw = growHuge(raw[:0], guess+drawRun+lineMax)
		fs.begin(guess + drawRun)
		for len(raw) < guess {
			n := len(raw)
			if raw = gs.fill(raw, drawRun); len(raw) == n {
				break
			}
			fs.add(raw[n:])
			if fs.enough(need) {
				break
			}
		}
		if len(raw) == 0 {
			break
		}
		drawn += len(raw)
		fresh = fs.mark(fresh)
	keep:
		for w, bs := range fresh {
			for ; bs != 0; bs &= bs - 1 {
				if out = appendU128(out, raw[w<<6|bits.TrailingZeros64(bs)]); len(out) == budget {
					break keep
				}
			}
		}
	}
	return out, batches
}

// drawRun is how many addresses Generate draws before it takes their
// fingerprints: 64 KiB of them.
const drawRun = 4096

// openPrefix returns the shortest length L for which x's /L holds no
// address of the ranges r (sorted, disjoint), or 129 when x is in one.
func openPrefix(r []ipRange, x u128) uint8 {
	lo, hi, ok := openGap(r, x)
	if !ok {
		return 129
	}
	for l := range 128 {
		mh, ml := hostMask(uint(128 - l))
		if cmpU128(u128{x.hi &^ mh, x.lo &^ ml}, lo) >= 0 && cmpU128(u128{x.hi | mh, x.lo | ml}, hi) <= 0 {
			return uint8(l)
		}
	}
	return 128
}

// exhausted returns nil when got reaches budget, else an error wrapping
// ErrExhausted that says how many candidates there were.
func exhausted(got, budget int) error {
	if got < budget {
		return fmt.Errorf("%d of %d candidates: %w", got, budget, ErrExhausted)
	}
	return nil
}

// groupStream draws the unblocked addresses of a TGA's groups in their
// order, each group's slots in order (see liveGroup.appendSlots). Its gap
// must start as newOpenCache.
type groupStream struct {
	t     *TGA
	lgs   [groupBatch]liveGroup // the groups loaded
	ns    [groupBatch]int       // and their slots
	open  [groupBatch]bool      // and whether none of their addresses is blocked
	nl, j int                   // how many are loaded; the one drawn from
	k     int                   // its next slot
	gi    int                   // the next group to load
	gap   openCache             // of the TGA's blocked ranges
}

// fill appends the next n addresses to dst (a line may append up to
// lineMax-1 more, its whole remainder), or fewer when the groups end. It
// drops blocked addresses, checked one by one only in the groups that
// reach out of their anchor's open prefix (see openPrefix).
func (s *groupStream) fill(dst []u128, n int) []u128 {
	for stop := len(dst) + n; len(dst) < stop; {
		if s.j == s.nl {
			if s.gi == len(s.t.groups) {
				break
			}
			// Groups are loaded groupBatch at a time, so the cache
			// misses on their anchors, scattered over the seeds,
			// overlap. Each is sized in the loop that loads it: a
			// second loop to size them took 1 to 5 ms more CPU time in
			// a 1 M call on the 6GAN set (bench/RESULTS.md).
			s.nl, s.j, s.k = min(groupBatch, len(s.t.groups)-s.gi), 0, 0
			for j := range s.nl {
				gi, g := s.gi+j, &s.lgs[j]
				s.t.loadGroup(g, int32(gi))
				s.ns[j] = g.slots()
				s.open[j] = g.sharedBits() >= int(s.t.openLen[s.t.groups[gi].anchor])
			}
			s.gi += s.nl
		}
		n := len(dst)
		if dst, s.k = s.lgs[s.j].slotRange(dst, s.k, s.ns[s.j], stop-len(dst)); !s.open[s.j] {
			// Some of its addresses may be blocked: drop those.
			kept := dst[:n]
			for _, x := range dst[n:] {
				if s.gap.open(s.t.block, x) {
					kept = append(kept, x)
				}
			}
			dst = kept
		}
		if s.k >= s.ns[s.j] {
			s.j, s.k = s.j+1, 0
		}
	}
	return dst
}

// appendFingerprints appends the fingerprint of each of xs to dst.
func appendFingerprints(dst []uint64, xs []u128) []uint64 {
	for _, x := range xs {
		dst = append(dst, fingerprint(x))
	}
	return dst
}

// LowByteCandidates is the low-byte baseline: ::1 in every /64 that holds a
// seed, then ::2 in every one, and so on (/64s in ascending order), up to
// budget distinct candidates, none a seed or blocked (bl nil is the
// built-in list). It wraps ErrExhausted when ::ffff is passed first.
func LowByteCandidates(seeds []netip.Addr, budget int, bl *prefixes.Blocklist) ([][16]byte, error) {
	ss, block, err := baselineInput(seeds, bl)
	if err != nil {
		return nil, err
	}
	var nets []uint64
	for _, s := range ss {
		if len(nets) == 0 || nets[len(nets)-1] != s.hi {
			nets = append(nets, s.hi)
		}
	}
	e := newEmitter(ss, block, budget)
	for v := uint64(1); v <= 0xffff && !e.full() && len(nets) > 0; v++ {
		for _, h := range nets {
			if e.full() {
				break
			}
			e.add(u128{h, v})
		}
	}
	return e.result()
}

// SubnetWalkCandidates is the subnet-walk baseline: each seed's IID in the
// /64 one subnet above, then one below, then two above, … (seeds in
// ascending order at each step), up to budget distinct candidates, none a
// seed or blocked (bl nil is the built-in list). It wraps ErrExhausted after
// 2^16 steps each way.
func SubnetWalkCandidates(seeds []netip.Addr, budget int, bl *prefixes.Blocklist) ([][16]byte, error) {
	ss, block, err := baselineInput(seeds, bl)
	if err != nil {
		return nil, err
	}
	e := newEmitter(ss, block, budget)
	for d := uint64(1); d <= 1<<16 && !e.full() && len(ss) > 0; d++ {
		for _, s := range ss {
			if e.full() {
				break
			}
			e.add(u128{s.hi + d, s.lo})
			if !e.full() {
				e.add(u128{s.hi - d, s.lo})
			}
		}
	}
	return e.result()
}

func baselineInput(seeds []netip.Addr, bl *prefixes.Blocklist) ([]u128, []ipRange, error) {
	if bl == nil {
		var err error
		if bl, err = prefixes.NewBlocklist(nil, nil); err != nil {
			return nil, nil, err
		}
	}
	ss := make([]u128, 0, len(seeds))
	for _, a := range seeds {
		if !a.Is6() || a.Is4In6() {
			return nil, nil, fmt.Errorf("seed %s: %w", a, ErrSeed)
		}
		ss = append(ss, u128From(a))
	}
	slices.SortFunc(ss, cmpU128)
	ss = slices.Compact(ss)
	return ss, blockRanges(bl), nil
}

// blockRanges returns bl's blocked space as sorted inclusive ranges.
func blockRanges(bl *prefixes.Blocklist) []ipRange {
	var out []ipRange
	for _, r := range bl.IPSet().Ranges() {
		f, t := u128From(r.From()), u128From(r.To())
		out = append(out, ipRange{fromHi: f.hi, fromLo: f.lo, toHi: t.hi, toLo: t.lo})
	}
	return out
}

// openGap returns the unblocked stretch [lo, hi] of sorted ranges r that
// holds x, or ok false when x lies in one of the ranges.
func openGap(r []ipRange, x u128) (lo, hi u128, ok bool) {
	i, _ := slices.BinarySearchFunc(r, x, func(y ipRange, x u128) int {
		return cmpU128(u128{y.fromHi, y.fromLo}, x)
	})
	// r[:i] start before x; r[i] (if any) starts at or after it.
	if i < len(r) && r[i].fromHi == x.hi && r[i].fromLo == x.lo {
		return lo, hi, false
	}
	hi = u128{^uint64(0), ^uint64(0)}
	if i > 0 {
		y := u128{r[i-1].toHi, r[i-1].toLo}
		if cmpU128(x, y) <= 0 {
			return lo, hi, false
		}
		lo = addU128(y, 1)
	}
	if i < len(r) {
		hi = subU128(u128{r[i].fromHi, r[i].fromLo}, 1)
	}
	return lo, hi, true
}

// openCache answers inRanges's question through the last open stretch
// openGap returned, which a run of nearby addresses shares: one compare
// each instead of a binary search.
type openCache struct{ lo, hi u128 }

// newOpenCache returns an openCache whose stretch is empty.
func newOpenCache() openCache { return openCache{lo: u128{0, 1}} }

// open reports whether x lies outside the ranges r, which must be the
// same for every call.
func (c *openCache) open(r []ipRange, x u128) bool {
	if cmpU128(x, c.lo) >= 0 && cmpU128(x, c.hi) <= 0 {
		return true
	}
	lo, hi, ok := openGap(r, x)
	if ok {
		c.lo, c.hi = lo, hi
	}
	return ok
}

// inRanges reports whether x lies in one of the sorted ranges r.
func inRanges(r []ipRange, x u128) bool {
	_, _, open := openGap(r, x)
	return !open
}

// emitter collects distinct, unblocked non-seed candidates up to a budget.
// It takes them in batches of emitBatch: the set slots of a whole batch
// are loaded first, so their cache misses overlap, and then the batch is
// checked in order. full turns true only after a batch is checked, so a
// caller may add up to a batch more than the budget needs; they are
// dropped.
type emitter struct {
	seen   u128Set  // the seeds (unless held has them) and every address taken
	held   *u128Set // nil, or addresses never to take, probed and never changed
	block  []ipRange
	out    [][16]byte
	budget int
	buf    []u128
	fps    []uint64  // the set fingerprint of each address in buf
	gap    openCache // of block
}

const (
	emitBatch  = 256 // addresses an emitter checks at a time
	groupBatch = 32  // groups Generate loads at a time
	lineMax    = 15  // the most addresses a line holds: its nybble's other values
	// oneSetMax is the most seeds and budget together that Generate
	// checks in one hash set (see Generate): the most whose set is 1 MiB
	// (see newU128Set). oneSetSeeds is the most seeds. Past either the
	// batched path was faster (bench/RESULTS.md): by 10 to 14 % on the
	// 6Graph set at 90 K to 100 K, where the set would be 2 MiB, and by
	// 6 to 25 % at every budget from 1 K on the 6GAN split (37 K seeds),
	// 2× on the full 6GAN set (90 K seeds). With 4 to 5 K seeds the one
	// set was as fast or faster below that.
	oneSetMax   = (1<<17 - 2) * 2 / 3
	oneSetSeeds = 1 << 14
)

// oneSet reports whether Generate checks a budget with seeds seeds in one
// hash set.
func oneSet(budget, seeds int) bool {
	return budget+seeds <= oneSetMax && seeds <= oneSetSeeds
}

// newEmitter returns an emitter that never takes an address in seeds or
// in block. Its set holds the seeds and the budget, at load 1/2.
func newEmitter(seeds []u128, block []ipRange, budget int) *emitter {
	budget = max(budget, 0)
	e := &emitter{seen: newU128Set(budget + len(seeds)), block: block, out: make([][16]byte, 0, budget), budget: budget,
		buf: make([]u128, 0, emitBatch), gap: newOpenCache()}
	for len(seeds) > 0 {
		n := min(len(seeds), emitBatch)
		e.fps = e.seen.loadSlots(e.fps[:0], seeds[:n])
		for _, f := range e.fps {
			e.seen.insertFP(f)
		}
		seeds = seeds[n:]
	}
	return e
}

// newHeldEmitter returns an emitter that never takes an address in held
// (which it probes, and never changes) or in block. Its own set holds the
// budget only, at load 1/2.
func newHeldEmitter(held *u128Set, block []ipRange, budget int) *emitter {
	e := newEmitter(nil, block, budget)
	e.held = held
	return e
}

func (e *emitter) full() bool { return len(e.out) >= e.budget }

func (e *emitter) add(x u128) {
	e.buf = append(e.buf, x)
	if len(e.buf) >= emitBatch {
		e.flush()
	}
}

// flush checks the batch in order.
func (e *emitter) flush() {
	e.fps = e.seen.loadSlots(e.fps[:0], e.buf)
	for j, x := range e.buf {
		if e.full() {
			break
		}
		if !e.gap.open(e.block, x) {
			continue
		}
		if e.held != nil {
			if _, in := e.held.findFP(e.fps[j]); in {
				continue
			}
		}
		if _, added := e.seen.insertFP(e.fps[j]); !added {
			continue
		}
		e.out = appendU128(e.out, x)
	}
	e.buf = e.buf[:0]
}

func (e *emitter) result() ([][16]byte, error) {
	e.flush()
	return e.out, exhausted(len(e.out), e.budget)
}

func putU128(a *[16]byte, x u128) {
	binary.BigEndian.PutUint64(a[:8], x.hi)
	binary.BigEndian.PutUint64(a[8:], x.lo)
}

// appendU128 appends x to dst, in network byte order. It writes into the
// new element in place: a [16]byte built on the stack and then appended
// is stored 8 bytes at a time and loaded 16 at once, which the CPU cannot
// forward from its store buffer (measured: 11 ns a candidate against 3.5
// on the machine of bench/RESULTS.md).
func appendU128(dst [][16]byte, x u128) [][16]byte {
	dst = append(dst, [16]byte{})
	putU128(&dst[len(dst)-1], x)
	return dst
}

// u128Set is an open-addressing hash set of addresses (linear probing,
// load at most 2/3) that keeps a 63-bit fingerprint of each address, not
// the address: 8 bytes a slot, half of what the address takes, so more
// of the set stays in cache. Two addresses with one fingerprint are taken
// for one: a lookup of an address not in the set answers yes with
// probability at most n/2^63 for n addresses in it (1.1e-13 at 1 M).
type u128Set struct {
	keys []uint64 // fingerprints; 0 is an empty slot
	mask uint64
	sink uint64 // loadSlots's loads go here, so they stay
}

// newU128Set returns an empty set for up to n addresses.
func newU128Set(n int) u128Set {
	c := uint64(16)
	for c < 3*uint64(n)/2+2 {
		c <<= 1
	}
	s := u128Set{keys: make([]uint64, c), mask: c - 1}
	adviseHuge(s.keys)
	return s
}

// fingerprint returns x's fingerprint: never 0, its low bits its slot.
// It mixes the /64 before the IID goes in, so two addresses collide only
// by chance (2^-63 a pair), not by a pattern of their bits.
func fingerprint(x u128) uint64 {
	return mix64(mix64(x.hi)^x.lo) | 1<<63
}

// loadSlots appends the fingerprint of each of xs to dst, and loads their
// slots before any is looked up, so their cache misses overlap (dst then
// serves findFP and insertFP).
func (s *u128Set) loadSlots(dst []uint64, xs []u128) []uint64 {
	var acc uint64
	for _, x := range xs {
		f := fingerprint(x)
		dst = append(dst, f)
		acc += s.keys[f&s.mask] // the load is the point
	}
	s.sink += acc
	return dst
}

func (s *u128Set) has(x u128) bool {
	_, ok := s.find(x)
	return ok
}

// find returns the slot of x and whether x is in the set.
func (s *u128Set) find(x u128) (uint64, bool) { return s.findFP(fingerprint(x)) }

// findFP returns the slot of fingerprint f and whether it is in the set.
func (s *u128Set) findFP(f uint64) (uint64, bool) {
	for i := f & s.mask; ; i = (i + 1) & s.mask {
		switch s.keys[i] {
		case 0:
			return i, false
		case f:
			return i, true
		}
	}
}

// add inserts x and reports whether it was new. The set must not be
// given more than the n it was made for.
func (s *u128Set) add(x u128) bool {
	_, added := s.insertFP(fingerprint(x))
	return added
}

// insertFP adds fingerprint f (see loadSlots) and returns its slot and
// whether it was new. A slot stays f's for the set's life (the set never
// grows), so callers may keep data per slot.
func (s *u128Set) insertFP(f uint64) (uint64, bool) {
	i, ok := s.findFP(f)
	if !ok {
		s.keys[i] = f
	}
	return i, !ok
}

// densOf returns the density class of x among the seeds, as densClasses
// gives it to a seed: of x's /64 plus nDens times that of its /48.
func (t *TGA) densOf(x u128) int {
	lo, _ := slices.BinarySearchFunc(t.seeds, x.hi, func(s u128, h uint64) int { return cmp.Compare(s.hi, h) })
	hi := lo
	for hi < len(t.seeds) && t.seeds[hi].hi == x.hi {
		hi++
	}
	lo48, _ := slices.BinarySearchFunc(t.seeds, x.hi&^0xffff, func(s u128, h uint64) int { return cmp.Compare(s.hi, h) })
	n64 := 0
	for k := lo48; k < len(t.seeds) && t.seeds[k].hi>>16 == x.hi>>16; k++ {
		if k == lo48 || t.seeds[k].hi != t.seeds[k-1].hi {
			n64++
		}
	}
	return densClass(float64(hi-lo)) + nDens*d48Class(float64(n64))
}

// onLine reports whether x differs from a seed in exactly one of the
// nybbles of wild (bit 31-p for nybble p): whether a line group holds it.
func (t *TGA) onLine(x u128, wild uint32) bool {
	for w := wild; w != 0; w &= w - 1 {
		p := 31 - bits.TrailingZeros32(w)
		for v := range 16 {
			if v != nyb(x, p) && t.seedSet.has(setNyb(x, p, v)) {
				return true
			}
		}
	}
	return false
}
