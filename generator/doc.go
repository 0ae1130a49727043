// Package generator turns target windows into the stream of candidate IPv6
// addresses a scan probes, in a keyed pseudo-random order.
//
// # Index space
//
// The windows left after the blocklist is subtracted (see
// prefixes.Blocklist.Subtract) are laid end to end into one index space
// [0, N): window w contributes Subnets() × K indices, K being the IIDs per
// subnet (K for low:K, 1 for fixed and random, 1 for a window with End 128).
// N = Σ Subnets() × K must be below 2^64. Index idx maps to its window by a
// binary search over the prefix sums, then to subnet o / K and IID number
// o % K, o being the offset in the window (see Generator.Candidate).
//
// # Order, shards and workers
//
// Sequence position p holds the index Perm.At(p) of a keyed permutation of
// [0, N) (see Perm: a Feistel network with cycle walking). Shard i of n takes
// the positions p ≡ i (mod n); inside a shard, worker w of W takes the shard's
// j-th positions with j ≡ w (mod W), and Config.MaxTargets caps j. Shards
// with the same seed are disjoint and together cover [0, N).
//
// # Blocklist
//
// Subtract keeps a subnet that is only partly blocked whole and returns the
// blocked ranges inside it; the generator drops every candidate in those
// ranges and counts it (Generator.Blocked), so a blocked address is never
// generated.
//
// # Batches
//
// Generate sends batches of targets through a caller-owned bounded channel
// and recycles them through a free list (Generator.Put): in steady state it
// allocates nothing per target.
package generator
