package generator

import (
	"math"
	"math/bits"
)

// firstSeen tells, for a stream of addresses that comes in batches, which
// are the first occurrence of their address in the stream and not in a
// set given up front (the seeds). Addresses are told apart by their
// fingerprint (see u128Set).
//
// It is a partitioned hash set. A fingerprint's high bits pick one of
// 2^lg buckets; as a batch comes in, each fingerprint is appended to its
// bucket's part of the batch with its index in the batch (a radix
// partition, which keeps the stream order within a bucket). The batch is
// then checked one bucket at a time against a table built afresh from
// that bucket's fingerprints so far, and the answers are bits of one
// bitset (a bit per address: 200 KB for 1.6 M, which stays in the L2
// cache while it is written at random). A table holds up to about
// firstBucket fingerprints, at a load of 1/8 to 1/4 (256 to 512 KiB),
// and stays in the L2 cache while it is used. One hash set of the whole
// stream (16 MiB at a 1 M budget) is probed at random instead, and on
// the machine of bench/RESULTS.md a lookup in it took 80 to 93 ns, its
// slot loaded ahead or not (the loads alone 55 ns), most of it waiting
// for memory. The price is that each batch rebuilds the tables from all
// they hold, so batches should be few and large.
//
// How many of a batch's addresses are new is estimated before the batch
// is checked: the fingerprints of a sample of the buckets (1 in 32:
// fingerprints are uniform, so it is a uniform sample of the addresses)
// are checked as they come in, against one hash set of all the sample
// has held (see enough). A caller can then draw a batch until it holds
// about as many new addresses as it needs. On the evaluation's splits
// and three others (bench/RESULTS.md) the estimate was within −2.66 %
// and +2.71 % of the count at budgets of 150 K to 2 M, and a 1 M call of
// Generate on the 6GAN split needs one batch.
type firstSeen struct {
	lg   uint       // log2 of the bucket count
	seen [][]uint64 // per bucket: every fingerprint so far
	// The batch: bucket b's fingerprints, in stream order, are
	// bFP[b*room:end[b]], and their indices in the batch bAt[b*room:end[b]].
	bFP  []uint64
	bAt  []int32
	end  []int
	room int
	n    int      // the batch's size so far
	fps  []uint64 // scratch: the fingerprints of the addresses added
	tab  []uint64 // scratch: a bucket's table; a slot of another bucket (or 0) is empty
	// The sample: buckets below ns.
	ns       int
	samp     u128Set // every fingerprint the sample buckets have held, and those of the batch so far
	sampN    int     // how many samp holds
	sampDone []int   // per sample bucket: how many of its batch part samp has taken
	sampNew  int     // how many of those were new to it
}

// sampleShare is the share of the buckets in a firstSeen's sample: 1 in
// 2^sampleShare.
const sampleShare = 5

// firstBucket is about the most fingerprints a bucket of a firstSeen is
// meant to hold, so that its table (4 to 8 times as many 8-byte slots)
// fits the L2 cache.
const firstBucket = 8192

// newFirstSeen returns a firstSeen for about n fingerprints in all, that
// holds pre (sorted ascending, distinct) from the start.
func newFirstSeen(pre []uint64, n int) *firstSeen {
	lg := uint(0)
	for lg < 20 && n>>lg > firstBucket {
		lg++
	}
	nb := 1 << lg
	d := &firstSeen{lg: lg, seen: make([][]uint64, nb), end: make([]int, nb)}
	d.ns = max(nb>>sampleShare, 1)
	d.sampDone = make([]int, d.ns)
	// Room for the sample's share of the seeds and of about 3/2 n
	// fingerprints; sampleAdd grows it past that.
	d.samp = newU128Set((len(pre)+3*n/2)*d.ns/nb + 64)
	// pre is sorted, so its buckets (its high bits) come in order. Each
	// bucket's part is carved from one array, with room for its share of
	// n and some; a bucket that outgrows it moves out.
	room := bucketRoom((n-len(pre))*9/8, nb) // a last batch may overshoot
	all := growHuge([]uint64(nil), len(pre)+nb*room)
	i := 0
	for b := range d.seen {
		j := i
		for j < len(pre) && d.bucket(pre[j]) == b {
			j++
		}
		at := len(all)
		all = append(all, pre[i:j]...)
		all = all[:len(all)+room]
		d.seen[b] = all[at : at+j-i : len(all)]
		if b < d.ns {
			for _, f := range pre[i:j] {
				d.sampleAdd(f)
			}
		}
		i = j
	}
	return d
}

// sampleAdd adds f to the sample's set, which it grows as needed, and
// reports whether f was new to it.
func (d *firstSeen) sampleAdd(f uint64) bool {
	if 3*(d.sampN+1) > 2*len(d.samp.keys) {
		old := d.samp.keys
		d.samp = newU128Set(2 * d.sampN)
		for _, g := range old {
			if g != 0 {
				d.samp.insertFP(g)
			}
		}
	}
	_, added := d.samp.insertFP(f)
	if added {
		d.sampN++
	}
	return added
}

// bucketRoom is the room to leave each of nb buckets for n fingerprints
// spread over them at random: their mean and 8 standard deviations more.
func bucketRoom(n, nb int) int {
	m := max(n, 0) / nb
	return m + 8*int(sqrtInt(m)) + 64
}

// sqrtInt returns the integer square root of n ≥ 0, rounded down.
func sqrtInt(n int) int {
	r := 1 << ((bits.Len(uint(n)) + 1) / 2)
	for r*r > n {
		r = (r + n/r) / 2
	}
	return r
}

// bucket returns the bucket of fingerprint f (see bucketOf).
func (d *firstSeen) bucket(f uint64) int { return bucketOf(f, d.lg) }

// bucketOf returns the bucket of fingerprint f among 2^lg: bits 62 down
// of f (bit 63 is always set), so that ascending fingerprints are in
// bucket order. At lg 0 the shift is by 64, which gives 0 in Go.
func bucketOf(f uint64, lg uint) int { return int(f << 1 >> (64 - lg)) }

// begin starts a batch of about n addresses (a guess: more may be
// added).
func (d *firstSeen) begin(n int) {
	d.n = 0
	d.layout(bucketRoom(n, len(d.end)))
	clear(d.sampDone)
	d.sampNew = 0
}

// layout gives each bucket room for room fingerprints of the batch,
// keeping those it has.
func (d *firstSeen) layout(room int) {
	fps, ats := d.bFP, d.bAt
	if n := len(d.end) * room; cap(fps) < n || d.n > 0 {
		fps, ats = growHuge([]uint64(nil), n), growHuge([]int32(nil), n)
	}
	fps, ats = fps[:cap(fps)], ats[:cap(ats)]
	for b, e := range d.end {
		at := b * d.room
		if d.n == 0 {
			e = at
		}
		copy(fps[b*room:], d.bFP[at:e])
		copy(ats[b*room:], d.bAt[at:e])
		d.end[b] = b*room + e - at
	}
	d.bFP, d.bAt, d.room = fps, ats, room
}

// add appends xs to the batch.
func (d *firstSeen) add(xs []u128) {
	d.fps = appendFingerprints(d.fps[:0], xs)
	d.addFPs(d.fps)
}

// sample takes the sample buckets' fingerprints added since it last ran
// (see enough).
func (d *firstSeen) sample() {
	for b, done := range d.sampDone {
		part := d.bFP[b*d.room : d.end[b]]
		for _, f := range part[done:] {
			if d.sampleAdd(f) {
				d.sampNew++
			}
		}
		d.sampDone[b] = len(part)
	}
}

// enough reports, from the sample (see sample), whether the batch so
// far holds need addresses that are new (not held, and each counted
// once), but for a chance of about 1 in 700: the sample's count u of
// them, less 3 standard deviations (√u: each new address is in the
// sample with a small probability, ns/nb), is at least its share of
// need. A wrong answer costs time, not candidates: the batch is checked
// exactly, and what it lacks is drawn in another.
func (d *firstSeen) enough(need int) bool {
	d.sample()
	u := float64(d.sampNew)
	return u-3*math.Sqrt(u) >= float64(need)*float64(d.ns)/float64(len(d.end))
}

// addFPs appends addresses with the fingerprints fps to the batch.
func (d *firstSeen) addFPs(fps []uint64) {
	// Fields in locals: the compiler reloads fields after each store.
	bFP, bAt, end, room, n, lg := d.bFP, d.bAt, d.end, d.room, d.n, d.lg
	for _, f := range fps {
		b := bucketOf(f, lg)
		e := end[b]
		if e == (b+1)*room {
			d.n = n
			d.layout(2 * room)
			bFP, bAt, room = d.bFP, d.bAt, d.room
			e = end[b]
		}
		bFP[e], bAt[e] = f, int32(n)
		end[b] = e + 1
		n++
	}
	d.n = n
}

// mark sets bit i of fresh (resized to hold the batch: bit i%64 of word
// i/64) to whether address i of the batch is neither held nor earlier in
// the batch, and then holds them all.
func (d *firstSeen) mark(fresh []uint64) []uint64 {
	fresh = growHuge(fresh[:0], (d.n+63)/64)[:(d.n+63)/64]
	clear(fresh)
	clear(d.tab)
	// Bucket by bucket: a table of what it held, then the batch's part in
	// stream order; what is new joins it.
	for b, e := range d.end {
		batch, at := d.bFP[b*d.room:e], d.bAt[b*d.room:e]
		if len(batch) == 0 {
			continue
		}
		old := d.seen[b]
		// A load of 1/8 to 1/4: at 1/4 to 1/2 a lookup more often
		// probes a second slot, and the check took 3.5 to 4 ms more
		// of a 1 M call on the 6GAN set (bench/RESULTS.md).
		c := 1 << max(bits.Len(uint(4*(len(old)+len(batch)))), 5)
		if cap(d.tab) < c {
			d.tab = make([]uint64, c)
		}
		// The table is cleared once a batch, not once a bucket: a slot
		// holds a fingerprint of this bucket (bit 63 and the bucket bits
		// equal tag) or is empty.
		tab, mask, sh := d.tab[:c], uint64(c-1), 63-d.lg
		tag := batch[0] >> sh
		for _, f := range old {
			i := f & mask
			for t := tab[i]; t != f && t>>sh == tag; t = tab[i] {
				i = (i + 1) & mask
			}
			tab[i] = f
		}
		for j, f := range batch {
			i := f & mask
			t := tab[i]
			for t != f && t>>sh == tag {
				i = (i + 1) & mask
				t = tab[i]
			}
			if t != f {
				tab[i] = f
				old = append(old, f)
				fresh[at[j]>>6] |= 1 << (at[j] & 63)
			}
		}
		d.seen[b] = old
	}
	return fresh
}

// growHuge is slices.Grow for the large buffers of a TGA's generation: a
// buffer it has to allocate is given adviseHuge before it is first
// touched, so it takes a page fault per 2 MiB, not per 4 KiB.
func growHuge[E any](s []E, n int) []E {
	if cap(s)-len(s) >= n {
		return s
	}
	t := make([]E, len(s), len(s)+n)
	adviseHuge(t[:cap(t)])
	copy(t, s)
	return t
}
