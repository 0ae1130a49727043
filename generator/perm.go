package generator

import "math/bits"

// PermRounds is the number of Feistel rounds of a Perm. Four rounds of a
// pseudo-random round function give a strong pseudo-random permutation
// (Luby and Rackoff, 1988).
const PermRounds = 4

// Constants of splitmix64 (Steele, Lea and Flood, "Fast splittable
// pseudorandom number generators", OOPSLA 2014), used for the round keys and
// the round function. The GPU kernels use the same values.
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

// Perm is a keyed pseudo-random permutation of [0, n) for 1 <= n <= 2^64-1:
// At maps each index to a distinct index in [0, n), and every index in
// [0, n) is the image of exactly one. It is stateless (At keeps no memory of
// earlier calls) and safe for concurrent use.
//
// # Construction
//
// The permutation is a balanced Feistel network (Luby and Rackoff, "How to
// construct pseudorandom permutations from pseudorandom functions", SIAM J.
// Comput. 17(2), 1988) over the domain [0, 2^(2h)), where 2^(2h) is the
// smallest even power of two >= n and h >= 1, restricted to [0, n) by cycle
// walking (Black and Rogaway, "Ciphers with arbitrary finite domains",
// CT-RSA 2002): the network is applied again until the value is below n. As
// the domain is less than 4n, a walk takes fewer than 4 applications on
// average.
//
// With mask = 2^h - 1, one application to x is
//
//	L, R := x >> h, x & mask
//	for r := 0; r < PermRounds; r++ {
//		L, R = R, L ^ (mix64(R ^ key[r]) & mask)
//	}
//	x = L<<h | R
//
// where mix64 is the splitmix64 output function and the round keys are the
// first PermRounds outputs of splitmix64 seeded with the permutation seed:
// state = seed; for each r: state += 0x9e3779b97f4a7c15; key[r] = mix64(state).
// The construction is a shuffle for scanning, not a cipher: it spreads
// probes over the target space, it does not hide the order from an observer.
type Perm struct {
	n    uint64
	h    uint   // half width in bits, 1..32
	mask uint64 // 2^h - 1
	key  [PermRounds]uint64
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
	// Bits needed for the largest index n-1, rounded up to an even number >= 2.
	b := uint(bits.Len64(n - 1))
	h := max((b+1)/2, 1)
	*p = Perm{n: n, h: h, mask: 1<<h - 1}
	state := seed
	for r := range p.key {
		state += golden64
		p.key[r] = mix64(state)
	}
}

// Len returns n, the size of the permuted domain.
func (p *Perm) Len() uint64 { return p.n }

// At returns the image of i, an index in [0, n). It panics if i >= n.
// It does not allocate.
func (p *Perm) At(i uint64) uint64 {
	if i >= p.n {
		panic("generator: Perm.At index out of range")
	}
	h, mask := p.h, p.mask
	k0, k1, k2, k3 := p.key[0], p.key[1], p.key[2], p.key[3]
	x := i
	for {
		l, r := x>>h, x&mask
		l ^= mix64(r^k0) & mask
		r ^= mix64(l^k1) & mask
		l ^= mix64(r^k2) & mask
		r ^= mix64(l^k3) & mask
		// After an even number of rounds the halves are back in place.
		x = l<<h | r
		if x < p.n {
			return x
		}
	}
}
