// Package widescan is the public API of the widescan IPv6 discovery engine: a
// host (a P2P node, or the widescan CLI) fills a Config, calls New, and Run
// generates candidate targets from prefix windows, probes each one with an
// ICMPv6 Echo Request (RFC 4443 §4.1) at a controlled rate, and sniffs the
// Echo Replies, reporting every validated, deduplicated live host as a Hit.
//
// The pipeline is
//
//	generator (CPU workers or GPU worker) → bounded queue of batches → icmp sender (paced) → wire
//	                                                                  sniffer (AF_PACKET) ← replies
//
// with one errgroup owning the stages. Config.Backend picks where targets are
// generated (the CPU by default; the GPU through the widescan-gpu worker
// process, see generator.OpenBackend), the same sequence either way. Batches flow through bounded channels,
// so a slow sender is back-pressure on the generator, never loss. After the
// last probe the sniffer keeps listening for Config.Cooldown, then Run returns
// the final Stats.
//
// Replies are validated statelessly: each probe carries a keyed MAC of its
// target and source (see package icmp), so forged or stale replies are
// counted as invalid and never reported. The built-in blocklist (the IANA
// special-purpose registry, see package prefixes) is always applied; lifting
// part of it takes an explicit Config.Unblock prefix.
//
// # Peers
//
// With Config.Beacon, every probe carries the instance's signed beacon card
// (its network ID, ed25519 public key, service port, address and expiry;
// see icmp.Card), signed once at start with an Identity kept in a 0600 file
// (LoadOrCreateIdentity). Other instances that sniff the card verify the
// signature, expiry, network, source address and trust policy (Trust:
// trustless, or authority with an allow list or endorsements), report a
// Peer to Config.OnPeer, and answer a new peer once with their own card
// (rate-limited per source; answers are never answered). Echo Replies carry
// our own card back and are never peers. A Listener does the same without
// scanning (listen mode). Rejected cards are counted by reason in Stats.
// PeerTable (GET /api/peers), Webhook (POST per new peer, retried with
// backoff, never blocking) and MetricsHandler (Prometheus text format)
// report peers to a host node.
//
// # Aliased prefixes
//
// In an aliased prefix one host or middlebox answers for every address, so
// its hits show no live host. The alias test is the IPv6 Hitlist's (Gasser et
// al., "Clusters in the Expanse", IMC 2018): probe one pseudo-random address
// in each of the 16 subprefixes one nybble longer than the prefix
// (AliasTargets); if all 16 answer, the prefix is aliased. DetectAliases
// runs it on a list of prefixes as one list-mode scan. During a scan,
// Config.Aliased (known lists, see prefixes.ParseAliasList) marks the hits
// inside them at once, and Config.AliasCheck tests, after the send phase and
// cooldown, every /64 with that many Echo Replies: the hits are held until
// the test and reported with Hit.Aliased set for aliased /64s. This is the
// simplest correct design: the verdict covers every hit of a /64, including
// those seen before it reached the threshold, at the price of holding hits
// in memory and one more short scan (16 probes per tested /64, its own
// sockets and cooldown). Stats.AliasedHits counts the marked hits.
//
// # Seed-driven scans
//
// With Config.TGA and Config.Budget, the targets are not enumerated from
// windows but generated from known-active addresses (seeds) by a
// generator.TGA: Run probes the first Budget candidates of a
// generator.TGARun, best first, on the CPU. The feedback is live: every Echo
// Reply from a probed candidate (validated through the probe's MAC, so no
// per-probe state is kept) is handed to TGARun.Hit from the capture
// goroutine as soon as it arrives, before any alias bookkeeping, and the run
// re-ranks its regions by the hits every round of candidates (after 6Hit
// and 6Scan) and, with Config.TGASpawn, grows new candidate groups around
// each hit. The sender hands
// each batch back (Source.Put) once all its probes are out; a candidate not
// answered one generator.TGARunConfig.Lag (1 s) later counts as silent. So that the
// feedback reaches candidates not generated yet, a TGA scan keeps small
// batches and a queue of one (Config.BatchSize, Config.QueueDepth). Known
// aliased prefixes (Config.Aliased) are excluded from the run before it
// starts (TGARun.Exclude) and their hits never fed back; the online alias
// test (Config.AliasCheck) runs after the send phase, when every candidate
// has gone out, so its verdicts cannot steer the run and only mark the hits.
// The scan's blocklist is applied to the candidates too
// (generator.TGARunConfig.Blocklist). A TGA scan
// cannot be resumed or sharded.
//
// # Resume
//
// Stats.Checkpoint is the shard position before which every target has been
// probed; a Scanner made with the same targets, strategies, blocklist,
// shard, MaxTargets and PermSeed and Config.Start set to it probes exactly
// the rest.
//
// Opening the raw socket and the capture ring needs root or CAP_NET_RAW.
// Run opens every socket synchronously before it starts its goroutines (and
// before it starts a GPU worker), so a caller may run it on an OS thread
// that has switched into a network namespace (as the testbed does).
package widescan
