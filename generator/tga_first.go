package generator

import (
	"math/bits"
	"slices"
)

// firstSeen tells, for a stream of addresses that comes in batches, which
// are the first occurrence of their address in the stream and not in a
// set given up front (the seeds). Addresses are told apart by their
// fingerprint (see u128Set).
//
// It is a partitioned hash set. A fingerprint's high bits pick one of
// 2^lg buckets; a batch is first sorted into the buckets (a counting sort,
// which keeps the stream order within a bucket), then checked one bucket
// at a time against a table built afresh from that bucket's fingerprints
// so far. A table holds up to about firstBucket fingerprints (128 KiB)
// and stays in the L2 cache while it is used. One hash set of the whole
// stream (16 MiB at a 1 M budget) is probed at random instead, and on the
// machine of bench/RESULTS.md a lookup in it took 80 to 93 ns, its slot
// loaded ahead or not (the loads alone 55 ns), most of it waiting for
// memory. The price is that each batch rebuilds the tables
// from all it holds, so batches should be few and large (Generate needs
// two).
type firstSeen struct {
	lg    uint     // log2 of the bucket count
	seen  []uint64 // every fingerprint so far, in bucket order
	end   []int    // per bucket: the end of its part of seen
	next  []uint64 // scratch: seen after the batch
	count []int    // scratch: per bucket, the batch's fingerprints
	sFP   []uint64 // scratch: the batch's fingerprints in bucket order
	sAt   []int32  // scratch: and their index in the batch
	tab   []uint64 // scratch: a bucket's table; 0 is empty
}

// firstBucket is about the most fingerprints a bucket of a firstSeen is
// meant to hold, so that its table (2 to 4 times as many 8-byte slots)
// fits the L2 cache.
const firstBucket = 8192

// newFirstSeen returns a firstSeen for about n fingerprints in all, that
// holds pre (sorted ascending, distinct) from the start.
func newFirstSeen(pre []uint64, n int) *firstSeen {
	lg := uint(0)
	for lg < 20 && n>>lg > firstBucket {
		lg++
	}
	d := &firstSeen{lg: lg, seen: slices.Clone(pre), end: make([]int, 1<<lg), count: make([]int, 1<<lg)}
	// pre is sorted, so its buckets (its high bits) come in order.
	i := 0
	for b := range d.end {
		for i < len(pre) && d.bucket(pre[i]) == b {
			i++
		}
		d.end[b] = i
	}
	return d
}

// bucket returns the bucket of fingerprint f: bits 62 down of f (bit 63
// is always set), so that ascending fingerprints are in bucket order.
func (d *firstSeen) bucket(f uint64) int {
	if d.lg == 0 {
		return 0
	}
	return int(f << 1 >> (64 - d.lg))
}

// mark sets fresh[i] (fresh is resized to len(fps)) to whether fps[i] is
// neither held nor in fps[:i], and then holds them all.
func (d *firstSeen) mark(fps []uint64, fresh []bool) []bool {
	fresh = growHuge(fresh[:0], len(fps))[:len(fps)]
	// Counting sort of the batch into the buckets.
	clear(d.count)
	for _, f := range fps {
		d.count[d.bucket(f)]++
	}
	at := 0
	for b, c := range d.count {
		d.count[b] = at
		at += c
	}
	d.sFP = growHuge(d.sFP[:0], len(fps))[:len(fps)]
	d.sAt = growHuge(d.sAt[:0], len(fps))[:len(fps)]
	for i, f := range fps {
		b := d.bucket(f)
		d.sFP[d.count[b]], d.sAt[d.count[b]] = f, int32(i)
		d.count[b]++
	}
	// Bucket by bucket: a table of what it held, then the batch's part in
	// stream order; what is new joins it.
	d.next = growHuge(d.next[:0], len(d.seen)+len(fps))
	from, sFrom := 0, 0
	for b, sEnd := range d.count {
		old, batch := d.seen[from:d.end[b]], d.sFP[sFrom:sEnd]
		at := d.sAt[sFrom:sEnd]
		from, sFrom = d.end[b], sEnd
		d.next = append(d.next, old...)
		if len(batch) == 0 {
			d.end[b] = len(d.next)
			continue
		}
		c := 16 << max(bits.Len(uint(2*(len(old)+len(batch))))-4, 0)
		if cap(d.tab) < c {
			d.tab = make([]uint64, c)
		}
		tab, mask := d.tab[:c], uint64(c-1)
		clear(tab)
		for _, f := range old {
			i := f & mask
			for tab[i] != 0 {
				i = (i + 1) & mask
			}
			tab[i] = f
		}
		for j, f := range batch {
			i := f & mask
			for tab[i] != 0 && tab[i] != f {
				i = (i + 1) & mask
			}
			isNew := tab[i] == 0
			fresh[at[j]] = isNew
			if isNew {
				tab[i] = f
				d.next = append(d.next, f)
			}
		}
		d.end[b] = len(d.next)
	}
	d.seen, d.next = d.next, d.seen
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
