package generator

import "math/bits"

// PermRounds is the number of Feistel rounds of a Perm. Four rounds of a
// pseudo-random round function give a strong pseudo-random permutation
// (Luby and Rackoff, 1988).
const PermRounds = 4

// Constants of splitmix64 (Steele, Lea and Flood, "Fast splittable
// pseudorandom number generators", OOPSLA 2014), used to derive the round
// keys from the seed. The GPU kernels use the same values.
const (
	golden64 = 0x9e3779b97f4a7c15 // splitmix64 state increment
	mixMul1  = 0xbf58476d1ce4e5b9
	mixMul2  = 0x94d049bb133111eb
)

// mix64 is the splitmix64 output function (a bijection of uint64 with full
// avalanche): z ^= z>>30; z *= mixMul1; z ^= z>>27; z *= mixMul2; z ^= z>>31.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * mixMul1
	z = (z ^ (z >> 27)) * mixMul2
	return z ^ (z >> 31)
}

// splitmix64 advances state and returns its next output.
func splitmix64(state *uint64) uint64 {
	*state += golden64
	return mix64(*state)
}

// round is the round function F of a Perm reduced by mask: v ^ a
// multiplied by mixMul1, its high half folded into its low half
// (z ^= z >> 32), multiplied by mixMul2, and bits 32 and up of the product
// kept under mask (mask < 2^32).
func round(v, a, mask uint64) uint64 {
	z := (v ^ a) * mixMul1
	z = (z ^ z>>32) * mixMul2
	return z >> 32 & mask
}

// Perm is a keyed pseudo-random permutation of [0, n) for 1 <= n <= 2^64-1:
// At maps each index to a distinct index in [0, n), and every index in
// [0, n) is the image of exactly one (Inverse undoes At). It is stateless
// (At keeps no memory of earlier calls) and safe for concurrent use.
//
// # Construction
//
// The permutation is an alternating Feistel network (Luby and Rackoff, "How
// to construct pseudorandom permutations from pseudorandom functions", SIAM
// J. Comput. 17(2), 1988; unbalanced by at most one bit, as in NIST SP
// 800-38G's FF1) over the domain [0, 2^b), where 2^b is the smallest power
// of two >= n and b >= 2, restricted to [0, n) by cycle walking (Black and
// Rogaway, "Ciphers with arbitrary finite domains", CT-RSA 2002): the
// network is applied again until the value is below n. As the domain is
// less than 2n, At applies the network fewer than 2 times on average over
// [0, n) (exactly 2^b / n).
//
// A value x of b bits is split into a high half L of hb = b - b/2 bits and a
// low half R of rb = b/2 bits. Each round XORs a keyed function of one half
// into the other; whatever the function, a round is its own inverse, so the
// network is a bijection of [0, 2^b):
//
//	L, R := x >> rb, x & (2^rb - 1)
//	L ^= (F(R, key[0]) >> 32) & (2^hb - 1)
//	R ^= (F(L, key[1]) >> 32) & (2^rb - 1)
//	L ^= (F(R, key[2]) >> 32) & (2^hb - 1)
//	R ^= (F(L, key[3]) >> 32) & (2^rb - 1)
//	x = L << rb | R
//
// with the round function (all arithmetic mod 2^64)
//
//	F(v, k) = z2, where z1 = (v ^ k) * 0xbf58476d1ce4e5b9,
//	                    z2 = (z1 ^ z1 >> 32) * 0x94d049bb133111eb
//
// of which bits 32 and up are kept. The round keys are the first PermRounds
// outputs of splitmix64 seeded with the permutation seed: state = seed; for
// each r: state += 0x9e3779b97f4a7c15; key[r] = mix64(state).
//
// # Why it spreads
//
// F is the core of the splitmix64 and murmur3 finalisers with one of their
// three xorshifts: a multiply carries every bit of its input into all the
// bits above it, the xorshift folds the well-mixed high half back onto the
// low half (so that each of its low 32 bits depends on every bit of v), and
// the second multiply carries those into bits 32 to 63, which F keeps. A single multiply would not
// do: it is linear, so a flipped input bit would change its output by a
// nearly fixed amount; the xorshift between the multiplies makes the
// difference depend on the value. After two rounds every bit of x has
// reached every bit of both halves; rounds three and four repeat that with
// fresh keys, as Luby and Rackoff require for a strong pseudo-random
// permutation. The tests check the avalanche (flipping any input bit of
// the network flips each output bit with probability 1/2) and that early
// slices of the sequence hit windows in proportion to their size
// (chi-square). A round costs two single-word multiplies, where the
// splitmix64 round function cost two and three xorshifts, and the walk
// half as many applications as the even-power domain did.
//
// The construction is a shuffle for scanning, not a cipher: it spreads
// probes over the target space, it does not hide the order from an observer.
type Perm struct {
	n     uint64
	rb    uint   // bits of the low half R: b/2, 1..32
	lmask uint64 // 2^(b - b/2) - 1, the mask of the high half L
	rmask uint64 // 2^(b/2) - 1
	key   [PermRounds]uint64
}

// NewPerm returns the permutation of [0, n) keyed by seed. It panics if n is 0.
func NewPerm(n, seed uint64) *Perm {
	p := new(Perm)
	p.init(n, seed)
	return p
}

func (p *Perm) init(n, seed uint64) {
	if n == 0 {
		panic("generator: NewPerm of an empty domain")
	}
	b := max(uint(bits.Len64(n-1)), 2)
	rb := b / 2
	*p = Perm{n: n, rb: rb, lmask: 1<<(b-rb) - 1, rmask: 1<<rb - 1}
	s := seed
	for r := range p.key {
		p.key[r] = splitmix64(&s)
	}
}

// Len returns n, the size of the permuted domain.
func (p *Perm) Len() uint64 { return p.n }

// encrypt applies the network once to x < 2^b.
func (p *Perm) encrypt(x uint64) uint64 {
	k := &p.key
	rb, ls, rs := p.rb&63, p.lmask, p.rmask
	l, r := x>>rb, x&rs
	l ^= round(r, k[0], ls)
	r ^= round(l, k[1], rs)
	l ^= round(r, k[2], ls)
	r ^= round(l, k[3], rs)
	return l<<rb | r
}

// decrypt undoes encrypt.
func (p *Perm) decrypt(x uint64) uint64 {
	k := &p.key
	rb, ls, rs := p.rb&63, p.lmask, p.rmask
	l, r := x>>rb, x&rs
	r ^= round(l, k[3], rs)
	l ^= round(r, k[2], ls)
	r ^= round(l, k[1], rs)
	l ^= round(r, k[0], ls)
	return l<<rb | r
}

// At returns the image of i, an index in [0, n). It panics if i >= n.
// It does not allocate.
func (p *Perm) At(i uint64) uint64 {
	if i >= p.n {
		panic("generator: Perm.At index out of range")
	}
	x := p.encrypt(i)
	for x >= p.n {
		x = p.encrypt(x)
	}
	return x
}

// Inverse returns the index i with At(i) == x. It panics if x >= n. It does
// not allocate.
func (p *Perm) Inverse(x uint64) uint64 {
	if x >= p.n {
		panic("generator: Perm.Inverse index out of range")
	}
	i := p.decrypt(x)
	for i >= p.n {
		i = p.decrypt(i)
	}
	return i
}
