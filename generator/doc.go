// Package generator turns target windows into the stream of candidate IPv6
// addresses a scan probes, in a keyed pseudo-random order.
//
// # Index space
//
// The windows left after the blocklist is subtracted (see
// prefixes.Blocklist.Subtract) are laid end to end into one index space
// [0, N): window w contributes Subnets() × K indices, K being the IIDs per
// subnet (K for low:K, the number of MAC addresses for eui64, 1 for fixed
// and random, 1 for a window with End 128). After the windows come the
// patterns (Count() indices each) and the list (one index per address); see
// Strategy. N, the sum, must be below 2^64. Index idx maps to its window
// through a table of 2^t equal buckets of the index space (t a little above
// log2 of the window count, so a lookup is one load and rarely a short binary
// search), then to subnet o mod 2^S and IID number o >> S, o being the
// offset in the window and S its SubnetBits (see Generator.Candidate).
//
// # Order, shards, workers and resume
//
// Sequence position p holds the index Perm.At(p) of a keyed permutation of
// [0, N) (see Perm: a Feistel network with cycle walking). Shard i of n takes
// the positions p ≡ i (mod n); its j-th position (shard position j) is
// p = i + n·j, and Config.MaxTargets caps j. Shards with the same seed are
// disjoint and together cover [0, N).
//
// Generate cuts the shard positions into chunks of BatchSize; worker w of W
// fills chunks w, w+W, … and the workers send in turn, so batches arrive in
// position order whatever the worker count. Each Batch carries its positions
// [Pos, Next); the checkpoint of a scan is the Next of the last batch it
// handled (or Batch.Resume inside a batch), and Config.Start resumes from it
// with no target lost or repeated.
//
// # Speed
//
// The hot loop permutes a block of positions at a time (independent work the
// CPU overlaps; the cycle walk collects the indices still out of range
// without a branch), then maps the block to addresses with the window table
// and a fast path for a single window. It allocates nothing.
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
