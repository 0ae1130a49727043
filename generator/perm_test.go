package generator

import (
	"math"
	"testing"
)

// refPerm is a slow, plain reference of the permutation documented on Perm,
// written from the description, not from the fast code.
type refPerm struct {
	n        uint64
	halfBits uint
	keys     []uint64
}

func refSplitmix(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func refRoundFunction(half, key uint64, halfBits uint) uint64 {
	z := half ^ key
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return z % (uint64(1) << halfBits)
}

func newRefPerm(n, seed uint64) *refPerm {
	// The smallest even number of bits 2h, h >= 1, with 2^(2h) >= n.
	halfBits := uint(1)
	for 2*halfBits < 64 && uint64(1)<<(2*halfBits) < n {
		halfBits++
	}
	p := &refPerm{n: n, halfBits: halfBits}
	state := seed
	for range 4 {
		p.keys = append(p.keys, refSplitmix(&state))
	}
	return p
}

// encrypt applies the Feistel network once to x in [0, 2^(2h)).
func (p *refPerm) encrypt(x uint64) uint64 {
	size := uint64(1) << p.halfBits
	left := x / size
	right := x % size
	for _, k := range p.keys {
		newLeft := right
		newRight := left ^ refRoundFunction(right, k, p.halfBits)
		left, right = newLeft, newRight
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
	r := testRand(t)
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
