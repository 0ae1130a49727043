package widescan

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/prefixes"
)

// Alias detection follows the IPv6 Hitlist's multi-level aliased-prefix
// detection (Gasser et al., "Clusters in the Expanse: Understanding and
// Unbiasing IPv6 Hitlists", IMC 2018, §5; https://ipv6hitlist.github.io):
// to test a prefix P, probe one pseudo-random address in each of the 16
// subprefixes one nybble longer than P (for a /64, the 16 /68s); if all 16
// answer, P is aliased (one host or middlebox answers for every address), and
// hits inside it say nothing about live hosts.

// AliasProbes is the number of addresses the alias test probes per prefix:
// one in each of the 16 next-nybble subprefixes.
const AliasProbes = 16

// DefaultAliasThreshold is the Config.AliasCheck the CLI uses: a /64 is
// tested once it has this many hits.
const DefaultAliasThreshold = 4

// MaxAliasBits is the longest prefix the alias test accepts: a /124 still has
// 16 next-nybble subprefixes (its 16 addresses).
const MaxAliasBits = 128 - 4

// ErrAliasPrefix is wrapped by the errors of AliasTargets and DetectAliases
// for a prefix the test cannot probe: not IPv6, or longer than /124.
var ErrAliasPrefix = errors.New("widescan: prefix cannot be alias-tested")

// AliasResult is the outcome of the alias test for one prefix.
type AliasResult struct {
	// Prefix is the prefix tested (masked).
	Prefix netip.Prefix
	// Targets are the probed addresses: Targets[i] lies in the i-th
	// next-nybble subprefix of Prefix.
	Targets [AliasProbes]netip.Addr
	// Answered is the number of Targets that sent an Echo Reply from the
	// probed address, 0 to AliasProbes; bit i of AnsweredMask is set when
	// Targets[i] answered. ICMPv6 errors do not count.
	Answered     int
	AnsweredMask uint16
	// Aliased reports whether all AliasProbes targets answered.
	Aliased bool
}

// String returns "PREFIX answered/16 aliased" (or "not-aliased").
func (r AliasResult) String() string {
	v := "not-aliased"
	if r.Aliased {
		v = "aliased"
	}
	return fmt.Sprintf("%s %d/%d %s", r.Prefix, r.Answered, AliasProbes, v)
}

// AliasTargets returns the AliasProbes addresses the test probes in p: the
// i-th has nybble value i in the 4 bits after p's length and pseudo-random
// bits after them, drawn from seed and p (the same seed and prefix give the
// same addresses). p must be an IPv6 prefix of at most MaxAliasBits bits;
// otherwise the error wraps ErrAliasPrefix. It does not allocate.
func AliasTargets(p netip.Prefix, seed uint64) ([AliasProbes]netip.Addr, error) {
	var out [AliasProbes]netip.Addr
	if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() || p.Bits() > MaxAliasBits {
		return out, fmt.Errorf("%w: %s (want an IPv6 prefix of at most /%d)", ErrAliasPrefix, p, MaxAliasBits)
	}
	p = p.Masked()
	b := p.Addr().As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	n := p.Bits()
	keepHi, keepLo := prefixMask(n)
	x := seed ^ mix64(hi) ^ mix64(lo^uint64(n))
	for i := range AliasProbes {
		rh := mix64(x + uint64(2*i+1)*0x9e3779b97f4a7c15)
		rl := mix64(rh ^ uint64(i))
		h, l := hi&keepHi|rh&^keepHi, lo&keepLo|rl&^keepLo
		for bit := range 4 {
			pos := n + bit
			v := uint64(i>>(3-bit)) & 1
			if pos < 64 {
				h = h&^(1<<(63-pos)) | v<<(63-pos)
			} else {
				l = l&^(1<<(127-pos)) | v<<(127-pos)
			}
		}
		binary.BigEndian.PutUint64(b[:8], h)
		binary.BigEndian.PutUint64(b[8:], l)
		out[i] = netip.AddrFrom16(b)
	}
	return out, nil
}

// prefixMask returns the masks of the first n bits of a 128-bit value.
func prefixMask(n int) (hi, lo uint64) {
	switch {
	case n == 0:
		return 0, 0
	case n < 64:
		return ^uint64(0) << (64 - n), 0
	case n == 64:
		return ^uint64(0), 0
	case n < 128:
		return ^uint64(0), ^uint64(0) << (128 - n)
	}
	return ^uint64(0), ^uint64(0)
}

// mix64 is SplitMix64's finaliser (Steele, Lea and Flood, OOPSLA 2014).
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// DetectAliases runs the alias test on every prefix of ps: one scan (a
// Scanner run over exactly the AliasProbes targets of each prefix, in list
// mode) with cfg's interface, source address, send path, rate, probes per
// target, cooldown, key, blocklist and DryRun (which writes the probes and
// finds nothing aliased). cfg's targets, patterns, list, TGA, budget, shard,
// caps, OnHit, Beacon, Aliased and AliasCheck are ignored. The addresses are
// drawn with cfg.PermSeed as the seed of AliasTargets, or a random seed when
// it is 0. A target the blocklist (built-in included: lift documentation
// space with cfg.Unblock) holds back is never probed and cannot answer.
//
// It returns one result per prefix, in the order of ps (a repeated prefix
// gets the same result), and the scan's Stats. Errors: ErrAliasPrefix
// (wrapped) for a prefix the test cannot probe, and those of New and
// Scanner.Run; a scan stopped by ctx returns ctx's error with the results
// seen so far. Each call opens its own sockets; calls may run concurrently.
func DetectAliases(ctx context.Context, cfg Config, ps []netip.Prefix) ([]AliasResult, Stats, error) {
	if len(ps) == 0 {
		return nil, Stats{}, ErrNoTargets
	}
	seed := cfg.PermSeed
	for seed == 0 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, Stats{}, fmt.Errorf("widescan: random seed: %w", err)
		}
		seed = binary.BigEndian.Uint64(b[:])
	}
	res := make([]AliasResult, len(ps))
	type slot struct{ res, nyb int }
	where := make(map[netip.Addr][]slot, len(ps)*AliasProbes)
	addrs := make([]netip.Addr, 0, len(ps)*AliasProbes)
	for i, p := range ps {
		ts, err := AliasTargets(p, seed)
		if err != nil {
			return nil, Stats{}, err
		}
		res[i] = AliasResult{Prefix: p.Masked(), Targets: ts}
		for j, a := range ts {
			where[a] = append(where[a], slot{i, j})
			addrs = append(addrs, a)
		}
	}
	list, err := generator.NewTargetList(addrs)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("widescan: %w", err)
	}
	tc := aliasScanConfig(cfg)
	tc.List = list
	tc.OnHit = func(h Hit) {
		if !h.Success() || h.Responder != h.Target {
			return
		}
		for _, sl := range where[h.Target] {
			r := &res[sl.res]
			if r.AnsweredMask&(1<<sl.nyb) == 0 {
				r.AnsweredMask |= 1 << sl.nyb
				r.Answered++
			}
		}
	}
	s, err := New(tc)
	if err != nil {
		return nil, Stats{}, err
	}
	st, err := s.Run(ctx)
	for i := range res {
		res[i].Aliased = res[i].Answered == AliasProbes
	}
	return res, st, err
}

// aliasScanConfig returns cfg without its targets (TGA and Budget
// included), hit and peer handlers, caps and alias options, on the CPU
// backend: the base of an alias-test scan.
func aliasScanConfig(cfg Config) Config {
	tc := cfg
	tc.Targets, tc.Patterns, tc.List = nil, nil, nil
	tc.TGA, tc.Budget = nil, 0
	tc.IID = generator.IID{}
	tc.Shard, tc.Start, tc.MaxTargets, tc.MaxResults, tc.MaxRuntime = generator.Shard{}, 0, 0, 0, 0
	tc.PermSeed, tc.ScanID = 0, 0
	tc.OnHit, tc.Beacon, tc.OnPeer = nil, nil, nil
	tc.Aliased, tc.AliasCheck = nil, 0
	tc.Backend = generator.BackendCPU
	return tc
}

// aliasState is a Scanner's alias bookkeeping: the known aliased prefixes
// (Config.Aliased) and, with Config.AliasCheck, the held hits and the hit
// count of every /64. Only the capture goroutine touches held and per64
// while Run runs, and Run after it.
type aliasState struct {
	known *prefixes.Lookup
	held  []Hit
	per64 map[uint64]int // the /64's upper half → its Echo Replies
}

// newAliasState builds the lookup of Config.Aliased.
func newAliasState(cfg *Config) (*aliasState, error) {
	a := &aliasState{}
	if len(cfg.Aliased) > 0 {
		set, err := prefixes.SetOf(cfg.Aliased)
		if err != nil {
			return nil, fmt.Errorf("widescan: aliased prefixes: %w", err)
		}
		a.known = prefixes.NewLookup(set)
	}
	if cfg.AliasCheck > 0 {
		a.per64 = map[uint64]int{}
	}
	return a, nil
}

// knownAliased reports whether t lies in a prefix of Config.Aliased.
func (a *aliasState) knownAliased(t netip.Addr) bool {
	return a.known != nil && a.known.Contains(netip.PrefixFrom(t, 128))
}

// upper64 returns the /64 of a as its upper 64 bits.
func upper64(a netip.Addr) uint64 {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8])
}

// finishAliasCheck runs the alias test on every /64 with at least
// Config.AliasCheck Echo Replies, then reports the held hits in capture
// order, those of aliased /64s marked. It is skipped, and the hits are
// reported unmarked, when the scan failed or was stopped (runErr non-nil or
// ctx done). It returns the test's error, if any (the hits are still
// reported, unmarked).
func (s *Scanner) finishAliasCheck(ctx context.Context, runErr error) error {
	a := s.alias
	defer func() {
		for _, h := range a.held {
			s.deliver(h)
		}
		a.held = nil
	}()
	if runErr != nil || ctx.Err() != nil {
		return nil
	}
	var ups []uint64
	for up, n := range a.per64 {
		if n >= s.cfg.AliasCheck {
			ups = append(ups, up)
		}
	}
	if len(ups) == 0 {
		return nil
	}
	slices.Sort(ups)
	ps := make([]netip.Prefix, len(ups))
	for i, up := range ups {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], up)
		ps[i] = netip.PrefixFrom(netip.AddrFrom16(b), 64)
	}
	tc := s.cfg
	tc.Key = s.key
	tc.PermSeed = s.permSeed
	res, st, err := DetectAliases(ctx, tc, ps)
	s.aliasTested.Add(uint64(len(ps)))
	s.aliasSent.Add(st.Sent)
	if err != nil {
		return fmt.Errorf("alias check: %w", err)
	}
	aliased := map[uint64]bool{}
	for i, r := range res {
		if r.Aliased {
			aliased[ups[i]] = true
			s.aliasFound.Add(1)
		}
	}
	for i := range a.held {
		if h := &a.held[i]; h.Success() && aliased[upper64(h.Target)] {
			h.Aliased = true
		}
	}
	return nil
}
