/*
 * widescan_gen.h: the target arithmetic of widescan's generator, written once
 * for the GPU kernel (nvcc) and the host C compiler (the cgo test in
 * kernels/internal/hostcheck, which checks it bit for bit against the Go
 * generator). It mirrors generator/perm.go and generator/generator.go; the
 * Go doc comments there are the specification:
 *
 *   - Perm: an alternating Feistel network over [0, 2^b), b = max(bits(n-1), 2),
 *     high half L of b - b/2 bits, low half R of b/2 bits, four rounds with
 *     F(v, k) = ((((v ^ k) * M1) ^ z >> 32) * M2) >> 32, restricted to [0, n)
 *     by cycle walking (Black and Rogaway, CT-RSA 2002).
 *   - Index idx → window through the lookup table (first[idx >> shift] …
 *     first[(idx >> shift) + 1], binary searched), offset o in the window →
 *     subnet o & subMask and IID number o >> subBits.
 *   - IID fill: low (IID number + 1), fixed (suffix folded into the span's
 *     prefix), random (mix64(idx ^ kHi), mix64(idx ^ kLo) under the host mask).
 *
 * The blocklist is not applied here: the host drops blocked candidates (see
 * generator/gpu.go), so that the rule lives in one place.
 *
 * The plan is the flat little-endian array of 64-bit words that
 * kernels.Plan.MarshalBinary writes (layout below, version WSG_PLAN_VERSION).
 * Both the host and the device are little-endian; the plan must be 8-byte
 * aligned (cuMemAlloc gives 256).
 *
 * Only C99 integer arithmetic is used: no intrinsics, no headers, so the host
 * build and the device build compute the same expressions.
 */
#ifndef WIDESCAN_GEN_H
#define WIDESCAN_GEN_H

#ifdef __CUDACC__
#define WSG_FN static __host__ __device__ __forceinline__
#else
#define WSG_FN static inline
#endif

typedef unsigned long long wsg_u64;
typedef unsigned int wsg_u32;

/* Plan header words. */
#define WSG_PLAN_MAGIC 0x314e414c50475357ULL /* "WSGPLAN1" little-endian */
#define WSG_PLAN_VERSION 1ULL
enum {
	WSG_W_MAGIC = 0,
	WSG_W_VERSION = 1,
	WSG_W_WORDS = 2,   /* total plan length in words */
	WSG_W_N = 3,       /* index space size, 1 .. 2^64-1 */
	WSG_W_RB = 4,      /* bits of the low half R: b/2 */
	WSG_W_LMASK = 5,   /* 2^(b - b/2) - 1 */
	WSG_W_RMASK = 6,   /* 2^(b/2) - 1 */
	WSG_W_KEY = 7,     /* 4 round keys, words 7..10 */
	WSG_W_RANDOM = 11, /* 1 for the random IID mode */
	WSG_W_RND_HI = 12,
	WSG_W_RND_LO = 13,
	WSG_W_SHARD_INDEX = 14,
	WSG_W_SHARD_COUNT = 15,
	WSG_W_START = 16,  /* first shard position to generate */
	WSG_W_END = 17,    /* shard position after the last */
	WSG_W_SHIFT = 18,  /* window table bucket shift */
	WSG_W_NSPANS = 19,
	WSG_W_NFIRST = 20, /* window table entries (buckets + 1) */
	WSG_HDR_WORDS = 24 /* words 21..23 are reserved, zero */
};

/* Span words: one window of the index space. */
enum {
	WSG_S_START = 0,
	WSG_S_HI = 1,
	WSG_S_LO = 2,
	WSG_S_SUBMASK = 3,
	WSG_S_SUBBITS = 4,
	WSG_S_HOSTBITS = 5,
	WSG_S_ONE = 6,
	WSG_S_MHI = 7,
	WSG_S_MLO = 8,
	WSG_SPAN_WORDS = 9
};

#define WSG_M1 0xbf58476d1ce4e5b9ULL
#define WSG_M2 0x94d049bb133111ebULL

/* wsg_mix64 is the splitmix64 output function (generator.mix64). */
WSG_FN wsg_u64 wsg_mix64(wsg_u64 z)
{
	z = (z ^ (z >> 30)) * WSG_M1;
	z = (z ^ (z >> 27)) * WSG_M2;
	return z ^ (z >> 31);
}

/* wsg_round is the Feistel round function F reduced by mask (generator.round). */
WSG_FN wsg_u64 wsg_round(wsg_u64 v, wsg_u64 a, wsg_u64 mask)
{
	wsg_u64 z = (v ^ a) * WSG_M1;
	z = (z ^ (z >> 32)) * WSG_M2;
	return (z >> 32) & mask;
}

/* wsg_encrypt applies the network once to x < 2^b (Perm.encrypt). */
WSG_FN wsg_u64 wsg_encrypt(const wsg_u64 *p, wsg_u64 x)
{
	const wsg_u64 rb = p[WSG_W_RB] & 63, lm = p[WSG_W_LMASK], rm = p[WSG_W_RMASK];
	wsg_u64 l = x >> rb, r = x & rm;
	l ^= wsg_round(r, p[WSG_W_KEY + 0], lm);
	r ^= wsg_round(l, p[WSG_W_KEY + 1], rm);
	l ^= wsg_round(r, p[WSG_W_KEY + 2], lm);
	r ^= wsg_round(l, p[WSG_W_KEY + 3], rm);
	return (l << rb) | r;
}

/* wsg_perm_at returns the image of i < n (Perm.At): the network applied
 * until the value is below n. */
WSG_FN wsg_u64 wsg_perm_at(const wsg_u64 *p, wsg_u64 i)
{
	const wsg_u64 n = p[WSG_W_N];
	wsg_u64 x = wsg_encrypt(p, i);
	while (x >= n)
		x = wsg_encrypt(p, x);
	return x;
}

/* wsg_spans returns the first span word of the plan. */
WSG_FN const wsg_u64 *wsg_spans(const wsg_u64 *p)
{
	return p + WSG_HDR_WORDS;
}

/* wsg_first returns the window lookup table of the plan. */
WSG_FN const wsg_u32 *wsg_first(const wsg_u64 *p)
{
	return (const wsg_u32 *)(p + WSG_HDR_WORDS + WSG_SPAN_WORDS * p[WSG_W_NSPANS]);
}

/* wsg_span_of returns the span holding index idx < n (Generator.spanOf). */
WSG_FN const wsg_u64 *wsg_span_of(const wsg_u64 *p, wsg_u64 idx)
{
	const wsg_u64 *spans = wsg_spans(p);
	const wsg_u32 *first = wsg_first(p);
	const wsg_u64 k = idx >> (p[WSG_W_SHIFT] & 63);
	wsg_u32 i = first[k], e = first[k + 1];
	while (i < e) {
		wsg_u32 m = (i + e + 1) >> 1;
		if (spans[(wsg_u64)m * WSG_SPAN_WORDS + WSG_S_START] <= idx)
			i = m;
		else
			e = m - 1;
	}
	return spans + (wsg_u64)i * WSG_SPAN_WORDS;
}

/* wsg_candidate maps index idx < n to its address as the 128-bit integer
 * hi:lo (Generator.candidate). */
WSG_FN void wsg_candidate(const wsg_u64 *p, wsg_u64 idx, wsg_u64 *hi_out, wsg_u64 *lo_out)
{
	const wsg_u64 *s = wsg_span_of(p, idx);
	const wsg_u64 o = idx - s[WSG_S_START];
	const wsg_u64 sub = o & s[WSG_S_SUBMASK];
	const wsg_u64 t = o >> (s[WSG_S_SUBBITS] & 63);
	const wsg_u64 hb = s[WSG_S_HOSTBITS];
	wsg_u64 hi = s[WSG_S_HI], lo = s[WSG_S_LO] | (t + s[WSG_S_ONE]);
	/* sub << hb as 128 bits, hb in 0..128 (shifts of 64 or more give 0). */
	if (hb >= 64) {
		if (hb < 128)
			hi |= sub << (hb - 64);
	} else {
		lo |= sub << hb;
		if (hb > 0)
			hi |= sub >> (64 - hb);
	}
	if (p[WSG_W_RANDOM]) {
		hi |= wsg_mix64(idx ^ p[WSG_W_RND_HI]) & s[WSG_S_MHI];
		lo |= wsg_mix64(idx ^ p[WSG_W_RND_LO]) & s[WSG_S_MLO];
	}
	*hi_out = hi;
	*lo_out = lo;
}

/* wsg_bswap64 reverses the bytes of x (plain shifts, the same code on the
 * host and the device). */
WSG_FN wsg_u64 wsg_bswap64(wsg_u64 x)
{
	x = ((x & 0x00ff00ff00ff00ffULL) << 8) | ((x >> 8) & 0x00ff00ff00ff00ffULL);
	x = ((x & 0x0000ffff0000ffffULL) << 16) | ((x >> 16) & 0x0000ffff0000ffffULL);
	return (x << 32) | (x >> 32);
}

/* wsg_target sets w[0], w[1] to the target of shard position j (j < the
 * shard's size) as it lies in memory on a little-endian machine: the 16
 * bytes of the IPv6 address in network byte order. The sequence position is
 * shardIndex + shardCount * j, as in Generator.fill. */
WSG_FN void wsg_target(const wsg_u64 *p, wsg_u64 j, wsg_u64 *w0, wsg_u64 *w1)
{
	const wsg_u64 pos = p[WSG_W_SHARD_INDEX] + p[WSG_W_SHARD_COUNT] * j;
	wsg_u64 hi, lo;
	wsg_candidate(p, wsg_perm_at(p, pos), &hi, &lo);
	*w0 = wsg_bswap64(hi);
	*w1 = wsg_bswap64(lo);
}

/* wsg_plan_ok reports whether the plan's header is one this header reads:
 * magic, version and the length in words (words: the length of the buffer). */
WSG_FN int wsg_plan_ok(const wsg_u64 *p, wsg_u64 words)
{
	if (words < WSG_HDR_WORDS || p[WSG_W_MAGIC] != WSG_PLAN_MAGIC ||
	    p[WSG_W_VERSION] != WSG_PLAN_VERSION || p[WSG_W_WORDS] != words)
		return 0;
	return p[WSG_W_N] > 0 && p[WSG_W_NSPANS] > 0 && p[WSG_W_NFIRST] >= 2 &&
	       p[WSG_W_SHARD_COUNT] > 0 &&
	       WSG_HDR_WORDS + WSG_SPAN_WORDS * p[WSG_W_NSPANS] + (p[WSG_W_NFIRST] + 1) / 2 == words;
}

#endif /* WIDESCAN_GEN_H */
