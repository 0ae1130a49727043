package generator

import (
	"math"
	"math/big"
	"math/bits"
	"testing"

	"github.com/p2pnet/widescan/internal/testutil"
)

// refPerm is a slow, plain reference of the permutation documented on Perm,
// written from the description, not from the fast code: its round function
// multiplies with math/big and keeps the top bits by division.
type refPerm struct {
	n        uint64
	highBits uint // bits of L
	lowBits  uint // bits of R
	keys     []uint64
}

func refSplitmix(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// refMulMod64 is a·b mod 2^64 in math/big.
func refMulMod64(a, b uint64) uint64 {
	p := new(big.Int).Mul(new(big.Int).SetUint64(a), new(big.Int).SetUint64(b))
	return new(big.Int).Mod(p, new(big.Int).Lsh(big.NewInt(1), 64)).Uint64()
}

// refRoundFunction is F(v, k) of the Perm docs, reduced to `bits` of its
// bits from bit 32 up.
func refRoundFunction(v, k uint64, bits uint) uint64 {
	z1 := refMulMod64(v^k, 0xbf58476d1ce4e5b9)
	z2 := refMulMod64(z1^(z1/(1<<32)), 0x94d049bb133111eb)
	return z2 / (1 << 32) % (1 << bits)
}

func newRefPerm(n, seed uint64) *refPerm {
	// The smallest number of bits b >= 2 with 2^b >= n.
	b := uint(2)
	for b < 64 && uint64(1)<<b < n {
		b++
	}
	p := &refPerm{n: n, lowBits: b / 2, highBits: b - b/2}
	state := seed
	for range 4 {
		p.keys = append(p.keys, refSplitmix(&state))
	}
	return p
}

// encrypt applies the Feistel network once to x in [0, 2^b).
func (p *refPerm) encrypt(x uint64) uint64 {
	size := uint64(1) << p.lowBits
	left, right := x/size, x%size
	for r, k := range p.keys {
		if r%2 == 0 {
			left ^= refRoundFunction(right, k, p.highBits)
		} else {
			right ^= refRoundFunction(left, k, p.lowBits)
		}
	}
	return left*size + right
}

// at walks the cycle of i until it lands in [0, n).
func (p *refPerm) at(i uint64) uint64 {
	x := p.encrypt(i)
	for x >= p.n {
		x = p.encrypt(x)
	}
	return x
}

func TestPermVisitsEveryIndexOnce(t *testing.T) {
	seeds := []uint64{0, 1, 0xdeadbeef, math.MaxUint64}
	for _, seed := range seeds {
		for n := uint64(1); n <= 2000; n++ {
			p := NewPerm(n, seed)
			seen := make([]bool, n)
			for i := range n {
				v := p.At(i)
				if v >= n || seen[v] {
					t.Fatalf("n=%d seed=%d: At(%d)=%d out of range or repeated", n, seed, i, v)
				}
				seen[v] = true
			}
		}
	}
}

func TestPermOfLargeDomainsIsABijection(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    uint64
	}{
		{"a power of four plus three", 1<<20 + 3},
		{"a power of two minus one", 1<<21 - 1},
		{"just above an odd power of two", 1<<21 + 1},
		{"just above an even power of two", 1<<22 + 1},
		{"an odd number of bits", 1<<23 - 12345},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPerm(tc.n, 42)
			seen := make([]uint64, (tc.n+63)/64)
			for i := range tc.n {
				v := p.At(i)
				if v >= tc.n || seen[v/64]&(1<<(v%64)) != 0 {
					t.Fatalf("At(%d)=%d out of range or repeated", i, v)
				}
				seen[v/64] |= 1 << (v % 64)
			}
		})
	}
}

func TestPermMatchesTheReference(t *testing.T) {
	r := testutil.Rand(t)
	ns := []uint64{1, 2, 3, 4, 5, 15, 16, 17, 1000, 1 << 20, 1<<32 - 1, 1 << 32, 1<<32 + 1,
		1 << 62, 1<<62 + 1, 1 << 63, math.MaxUint64 - 1, math.MaxUint64}
	for range 200 {
		ns = append(ns, r.Uint64N(math.MaxUint64)+1, r.Uint64N(1<<uint(r.IntN(64)))+1)
	}
	for _, n := range ns {
		for range 4 {
			seed := r.Uint64()
			fast, ref := NewPerm(n, seed), newRefPerm(n, seed)
			for range 50 {
				i := r.Uint64N(n)
				if got, want := fast.At(i), ref.at(i); got != want {
					t.Fatalf("n=%d seed=%d: At(%d)=%d, reference %d", n, seed, i, got, want)
				}
			}
			for _, i := range []uint64{0, n - 1} {
				if got, want := fast.At(i), ref.at(i); got != want {
					t.Fatalf("n=%d seed=%d: At(%d)=%d, reference %d", n, seed, i, got, want)
				}
			}
		}
	}
}

func TestPermOrdersDifferBySeed(t *testing.T) {
	const n = 1000
	orders := map[[n]uint64]uint64{}
	for seed := range uint64(32) {
		var o [n]uint64
		p := NewPerm(n, seed)
		for i := range uint64(n) {
			o[i] = p.At(i)
		}
		if prev, ok := orders[o]; ok {
			t.Fatalf("seeds %d and %d give the same order", prev, seed)
		}
		orders[o] = seed
	}
	// And the order is not the identity.
	p := NewPerm(n, 7)
	fixed := 0
	for i := range uint64(n) {
		if p.At(i) == i {
			fixed++
		}
	}
	if fixed > 20 {
		t.Errorf("%d of %d indices are fixed points", fixed, n)
	}
}

func TestPermAtPanicsOutOfRange(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("At(n) did not panic")
		}
	}()
	NewPerm(10, 1).At(10)
}

func TestPermDoesNotAllocate(t *testing.T) {
	p := NewPerm(1<<40+5, 3)
	var i uint64
	if a := testing.AllocsPerRun(1000, func() { i = p.At(i) }); a != 0 {
		t.Errorf("At allocates %v times", a)
	}
}

func TestPermInverseUndoesAt(t *testing.T) {
	r := testutil.Rand(t)
	ns := []uint64{1, 2, 3, 1000, 1<<32 + 1, 1<<63 + 1, math.MaxUint64}
	for range 50 {
		ns = append(ns, r.Uint64N(math.MaxUint64)+1)
	}
	for _, n := range ns {
		p := NewPerm(n, r.Uint64())
		for range 200 {
			i := r.Uint64N(n)
			x := p.At(i)
			if got := p.Inverse(x); got != i {
				t.Fatalf("n=%d: Inverse(At(%d)=%d) = %d", n, i, x, got)
			}
			if got := p.At(p.Inverse(i)); got != i {
				t.Fatalf("n=%d: At(Inverse(%d)) = %d", n, i, got)
			}
		}
	}
}

func TestPermBlockMatchesAt(t *testing.T) {
	r := testutil.Rand(t)
	for range 300 {
		n := r.Uint64N(1<<uint(1+r.IntN(63))) + 1
		if r.IntN(4) == 0 {
			n = 1<<uint(r.IntN(64)) + 1 // the longest walks
		}
		p := NewPerm(n, r.Uint64())
		c := 1 + r.IntN(lane)
		step := 1 + r.Uint64N(5)
		pos := r.Uint64N(n)
		if pos+step*uint64(c) >= n || pos+step*uint64(c) < pos {
			continue
		}
		var idx [lane]uint64
		p.block(idx[:c], pos, step)
		for i := range c {
			if want := p.At(pos + step*uint64(i)); idx[i] != want {
				t.Fatalf("n=%d: block at position %d = %d, At %d", n, pos+step*uint64(i), idx[i], want)
			}
		}
	}
}

// TestPermNetworkAvalanches checks the mixing the Perm docs claim: flipping
// one bit of the input of the network changes each output bit with
// probability close to 1/2. Domains of fewer than about 2^16 values are
// left out: over so few inputs a truly random permutation strays from 1/2
// by more than the tolerance.
func TestPermNetworkAvalanches(t *testing.T) {
	r := testutil.Rand(t)
	for _, b := range []uint{17, 20, 32, 33, 48, 63, 64} {
		n := uint64(math.MaxUint64)
		if b < 64 {
			n = 1 << b
		}
		p := NewPerm(n, r.Uint64())
		const samples = 2000
		for in := range b {
			var flips [64]int
			for range samples {
				x := r.Uint64() & (n - 1)
				if b == 64 {
					x = r.Uint64()
				}
				d := p.encrypt(x) ^ p.encrypt(x^1<<in)
				for d != 0 {
					flips[bits.TrailingZeros64(d)]++
					d &= d - 1
				}
			}
			for out := range b {
				// 2000 samples: a fair coin lands within 0.5 ± 0.06 with
				// probability 1 - 1e-7.
				if f := float64(flips[out]) / samples; f < 0.44 || f > 0.56 {
					t.Errorf("b=%d: flipping input bit %d flips output bit %d with probability %.3f", b, in, out, f)
				}
			}
		}
	}
}
