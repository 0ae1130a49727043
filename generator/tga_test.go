package generator

import (
	"errors"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"testing"

	"github.com/p2pnet/widescan/internal/testutil"
	"github.com/p2pnet/widescan/prefixes"
)

// realSeeds reads a seed file of ../shared/data (no licence is stated for
// them, so they are read in place, never copied). It skips t when the file
// is absent, and fails it when CI=true.
func realSeeds(t testing.TB, name string) []netip.Addr {
	t.Helper()
	path := testutil.SharedData(t, name)
	s, err := ReadSeedFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkCandidates fails t unless cands holds exactly want distinct
// addresses, none a seed nor blocked.
func checkCandidates(t *testing.T, cands [][16]byte, seeds []netip.Addr, bl *prefixes.Blocklist, want int) {
	t.Helper()
	if len(cands) != want {
		t.Fatalf("%d candidates, want %d", len(cands), want)
	}
	seed := make(map[netip.Addr]bool, len(seeds))
	for _, s := range seeds {
		seed[s] = true
	}
	seen := make(map[[16]byte]bool, len(cands))
	for _, c := range cands {
		a := netip.AddrFrom16(c)
		switch {
		case seen[c]:
			t.Fatalf("duplicate candidate %s", a)
		case seed[a]:
			t.Fatalf("candidate %s is a seed", a)
		case bl.Contains(a):
			t.Fatalf("candidate %s is blocked", a)
		}
		seen[c] = true
	}
}

func builtin(t *testing.T) *prefixes.Blocklist {
	bl, err := prefixes.NewBlocklist(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return bl
}

func TestTGARandomSeedsProperty(t *testing.T) {
	r := testutil.Rand(t)
	bl := builtin(t)
	for round := range 20 {
		// Clustered random seeds: a few /48s, some in blocked space
		// (2001:db8::/32, ff00::/8), small IIDs and random nybbles.
		bases := []netip.Addr{netip.MustParseAddr("2001:db8::"), netip.MustParseAddr("ff02::"),
			netip.MustParseAddr("2a00:1450:4001::"), netip.MustParseAddr("2600:9000:5300::")}
		var seeds []netip.Addr
		for range 1 + r.IntN(400) {
			b := bases[r.IntN(len(bases))].As16()
			b[6], b[7] = byte(r.IntN(4)), byte(r.IntN(256))
			if r.IntN(2) == 0 {
				b[15] = byte(r.IntN(16))
			} else {
				for i := 8; i < 16; i++ {
					b[i] = byte(r.Uint32())
				}
			}
			seeds = append(seeds, netip.AddrFrom16(b))
		}
		tg, err := NewTGA(seeds, TGAConfig{LeafSize: 1 + r.IntN(20), StatSeeds: 1 + r.IntN(100)})
		if err != nil {
			t.Fatal(err)
		}
		budget := r.IntN(5000)
		c, err := tg.Generate(budget)
		want := budget
		if errors.Is(err, ErrExhausted) {
			want = len(c) // few seeds: every candidate they have
		} else if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		checkCandidates(t, c, seeds, bl, want)
		for name, f := range map[string]func([]netip.Addr, int, *prefixes.Blocklist) ([][16]byte, error){
			"low-byte": LowByteCandidates, "subnet-walk": SubnetWalkCandidates} {
			c, err := f(seeds, budget, bl)
			want := budget
			if errors.Is(err, ErrExhausted) && allBlocked(seeds, bl) {
				// Every seed's /64 is blocked: the baselines
				// have nothing to offer. With any open seed they
				// have 2^16 candidates or more, far above budget.
				want = 0
			} else if err != nil {
				t.Fatalf("round %d: %s: %v", round, name, err)
			}
			checkCandidates(t, c, seeds, bl, want)
		}
	}
}

// allBlocked reports whether bl blocks every seed.
func allBlocked(seeds []netip.Addr, bl *prefixes.Blocklist) bool {
	for _, a := range seeds {
		if !bl.Contains(a) {
			return false
		}
	}
	return true
}

func TestTGARealSeedsProperty(t *testing.T) {
	seeds := realSeeds(t, "hitlist-seeds-6graph-5k.txt")
	bl := builtin(t)
	tg, err := NewTGA(seeds, TGAConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tg.Generate(100000)
	if err != nil {
		t.Fatal(err)
	}
	checkCandidates(t, c, seeds, bl, 100000)
	again, err := tg.Generate(50000)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again, c[:50000]) {
		t.Fatal("a smaller budget is not a prefix of a larger one")
	}
	rev := slices.Clone(seeds)
	slices.Reverse(rev)
	tg2, err := NewTGA(rev, TGAConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := tg2.Generate(100000)
	if !slices.Equal(c, c2) {
		t.Fatal("the same seeds in another order give other candidates")
	}
}

func TestTGAExhausted(t *testing.T) {
	seeds := []netip.Addr{netip.MustParseAddr("2a00::1")}
	tg, err := NewTGA(seeds, TGAConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := tg.Generate(0); err != nil || len(c) != 0 {
		t.Fatalf("Generate(0) = %d, %v", len(c), err)
	}
	empty, err := NewTGA(nil, TGAConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := empty.Generate(10); !errors.Is(err, ErrExhausted) || len(c) != 0 {
		t.Fatalf("no seeds: Generate(10) = %d, %v; want ErrExhausted", len(c), err)
	}
	// One seed has a few thousand candidates: a budget past oneSetMax
	// (checked in batches) gets them all, the same as one in one set.
	all, err := tg.Generate(oneSetMax)
	if !errors.Is(err, ErrExhausted) || len(all) == 0 {
		t.Fatalf("one seed: Generate(%d) = %d, %v; want ErrExhausted", oneSetMax, len(all), err)
	}
	some, err := tg.Generate(len(all) - 1)
	if err != nil || !slices.Equal(some, all[:len(all)-1]) {
		t.Fatalf("one seed: Generate(%d) in one set = %d, %v; not the batches' first ones", len(all)-1, len(some), err)
	}
}

func TestLowByteAndSubnetWalkOnTinyInputs(t *testing.T) {
	seeds := []netip.Addr{netip.MustParseAddr("2a00:1:0:5::2"), netip.MustParseAddr("2a00:1:0:5::abcd"), netip.MustParseAddr("2a00:2::1")}
	str := func(c [][16]byte) []string {
		var s []string
		for _, x := range c {
			s = append(s, netip.AddrFrom16(x).String())
		}
		return s
	}
	lb, err := LowByteCandidates(seeds, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	// ::1 in each /64 (2a00:2::1 is a seed), then ::2 (2a00:1:0:5::2 is one).
	if want := []string{"2a00:1:0:5::1", "2a00:2::2", "2a00:1:0:5::3", "2a00:2::3", "2a00:1:0:5::4"}; !slices.Equal(str(lb), want) {
		t.Errorf("low-byte = %v, want %v", str(lb), want)
	}
	sw, err := SubnetWalkCandidates(seeds, 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2a00:1:0:6::2", "2a00:1:0:4::2", "2a00:1:0:6::abcd", "2a00:1:0:4::abcd",
		"2a00:2:0:1::1", "2a00:1:ffff:ffff::1", "2a00:1:0:7::2", "2a00:1:0:3::2"}
	if !slices.Equal(str(sw), want) {
		t.Errorf("subnet-walk = %v, want %v", str(sw), want)
	}
}

// TestTGALinesComplete checks that the one-free-nybble step is complete:
// with the budget exhausted, every address one nybble away from a seed (not
// a seed, not blocked) is a candidate, and a line's values nearest the
// seed come first.
func TestTGALinesComplete(t *testing.T) {
	bl := builtin(t)
	var seeds []netip.Addr
	for _, s := range []string{"2a00:1:0:5::2", "2a00:1:0:5::9", "2a00:1:0:7::2", "2a00:1:0:5::a:1", "2001:db9:1::1"} {
		seeds = append(seeds, netip.MustParseAddr(s))
	}
	tg, err := NewTGA(seeds, TGAConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tg.Generate(1 << 20)
	if !errors.Is(err, ErrExhausted) {
		t.Fatalf("Generate: %v, want ErrExhausted", err)
	}
	checkCandidates(t, c, seeds, bl, len(c))
	got := make(map[[16]byte]int, len(c))
	for i, x := range c {
		got[x] = i
	}
	seed := map[u128]bool{}
	for _, s := range seeds {
		seed[u128From(s)] = true
	}
	for _, s := range seeds {
		x := u128From(s)
		for p := range maxNybbl {
			for v := range 16 {
				y := setNyb(x, p, v)
				var a [16]byte
				putU128(&a, y)
				if _, ok := got[a]; !ok && !seed[y] && !bl.Contains(netip.AddrFrom16(a)) {
					t.Fatalf("seed %s, nybble %d = %x: %s missing", s, p, v, netip.AddrFrom16(a))
				}
			}
		}
	}
	// The line of seeds ::2 and ::9 in 2a00:1:0:5::/64, values at distance
	// 1 from a seed: one group, nearest its first seed (::2) first.
	anchor := u128From(netip.MustParseAddr("2a00:1:0:5::2"))
	near, far := u128From(netip.MustParseAddr("2a00:1:0:5::3")), u128From(netip.MustParseAddr("2a00:1:0:5::8"))
	var order []u128
	for gi, g := range tg.groups {
		if g.kind() == kindLine && g.pos() == 31 && tg.seeds[g.anchor] == anchor && g.vals>>3&1 != 0 {
			lg := tg.liveGroup(int32(gi))
			for k := range lg.slots() {
				if x, ok := lg.at(k); ok {
					order = append(order, x)
				}
			}
		}
	}
	if i, j := slices.Index(order, near), slices.Index(order, far); i < 0 || j < 0 || i > j {
		t.Errorf("line group of ::2 emits %v: ::3 at %d, ::8 at %d", order, i, j)
	}
}

func TestLineBuckets(t *testing.T) {
	b, n := lineBuckets(1<<2 | 1<<9)
	// Distances from {2, 9}: 2 1 - 1 2 3 3 2 1 - 1 2 3 4 5 6.
	want := [16]uint8{1, 0, 0xff, 0, 1, 2, 2, 1, 0, 0xff, 0, 1, 2, 2, 3, 3}
	if b != want {
		t.Errorf("buckets %v, want %v", b, want)
	}
	if n != [nBucket]uint8{4, 4, 4, 2, 0} {
		t.Errorf("counts %v", n)
	}
	if b, n := lineBuckets(0); n != [nBucket]uint8{} || b[0] != 0xff {
		t.Errorf("empty line: %v %v", b, n)
	}
}

func TestWalkBuckets(t *testing.T) {
	next := uint64(1)
	for b := range nWB {
		lo, width := walkSpan(b)
		if lo != next {
			t.Fatalf("bucket %d starts at %d, want %d", b, lo, next)
		}
		for d := lo; d < lo+width; d++ {
			if walkBucket(d) != b {
				t.Fatalf("walkBucket(%d) = %d, want %d", d, walkBucket(d), b)
			}
		}
		next = lo + width
	}
	if next != walkW+1 {
		t.Fatalf("buckets end at %d, want %d", next-1, walkW)
	}
	for c, want := range []int{0, 1, 2, 3, 3, 4, 4, 4, 4, 5} {
		if walkClass(c) != want {
			t.Errorf("walkClass(%d) = %d, want %d", c, walkClass(c), want)
		}
	}
	if walkClass(1000) != nWC-1 {
		t.Errorf("walkClass(1000) = %d", walkClass(1000))
	}
}

// TestWalkStopsAtFieldEnds: a walk never wraps around its 64-bit field.
func TestWalkStopsAtFieldEnds(t *testing.T) {
	for _, c := range []struct {
		g    liveGroup
		want []u128
	}{
		{liveGroup{kind: kindIID, base: u128{7, 1}, pos: 1}, []u128{{7, 3}}},                   // ±2: -1 wraps
		{liveGroup{kind: kindIID, base: u128{7, ^uint64(0)}, pos: 0}, []u128{{7, ^uint64(1)}}}, // ±1: +1 wraps
		{liveGroup{kind: kindWalk, base: u128{0, 9}, pos: 0}, []u128{{1, 9}}},
		{liveGroup{kind: kindWalk, base: u128{10, 9}, pos: 2}, []u128{{13, 9}, {7, 9}, {14, 9}, {6, 9}}},
	} {
		var got []u128
		for k := range c.g.slots() {
			if x, ok := c.g.at(k); ok {
				got = append(got, x)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%+v: %v, want %v", c.g, got, c.want)
		}
	}
}

func TestSeedWalks(t *testing.T) {
	seeds := []u128{{5, 1}, {5, 2}, {5, 5}, {5, 400}, {8, 1}, {300, 1}}
	w := seedWalks(seeds)
	// IID field of {5, 1}: ::2 at 1, ::5 at 4; ::400 is past walkW.
	if w[0][1].c != 2 || w[0][1].n[0] != 1 || w[0][1].n[2] != 1 {
		t.Errorf("IID walk of {5,1}: %+v", w[0][1])
	}
	// Subnet field of {5, 1}: {8, 1} at 3; {300, 1} is past walkW.
	if w[0][0].c != 1 || w[0][0].n[2] != 1 || w[5][0].c != 0 {
		t.Errorf("subnet walks: %+v, %+v", w[0][0], w[5][0])
	}
	// Nearest neighbours, counted to 2·walkW: ::400 is 395 above ::5.
	if w[0][1].up != 1 || w[0][1].down != 0 || w[2][1].up != 395 || w[3][1].down != 395 || w[5][0].down != 292 || w[4][0].down != 3 {
		t.Errorf("nearest neighbours: %+v %+v %+v %+v", w[0][1], w[2][1], w[3][1], w[5][0])
	}
	for _, c := range []struct{ up, down, wantUp, wantDown uint16 }{
		{0, 0, 0, 0}, // no neighbour: the whole walk
		{1, 1, 1, 1}, // neighbours on both sides: nothing
		{2, 2, 2, 1}, // the midpoint goes to the lower seed
		{7, 7, 4, 4}, // 1..3 owned each way
		{511, 511, 256, 256},
		{512, 512, 0, 256}, // above, the midpoint is past walkW: no stop
		{513, 513, 0, 0},
	} {
		up, down := walkEnds(&walkInfo{up: c.up, down: c.down})
		if up != c.wantUp || down != c.wantDown {
			t.Errorf("walkEnds(up %d, down %d) = %d, %d; want %d, %d", c.up, c.down, up, down, c.wantUp, c.wantDown)
		}
	}
}

// TestWalksDoNotOverlap: the walks of one field share no address, and
// together they cover every address within walkW of a seed.
func TestWalksDoNotOverlap(t *testing.T) {
	var seeds []netip.Addr
	want := map[u128]bool{}
	iids := []uint64{0x10, 0x11, 0x14, 0x30, 0x200, 0x3ff, 0x1000}
	for _, iid := range iids {
		x := u128{0x20010db8_00000001, iid}
		seeds = append(seeds, netip.AddrFrom16(toBytes(x)))
		for d := uint64(1); d <= walkW; d++ {
			want[u128{x.hi, iid + d}] = true
			if iid >= d {
				want[u128{x.hi, iid - d}] = true
			}
		}
	}
	for _, iid := range iids {
		delete(want, u128{0x20010db8_00000001, iid})
	}
	tg, err := NewTGA(seeds, TGAConfig{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[u128]bool{}
	for gi := range tg.groups {
		g := tg.liveGroup(int32(gi))
		if g.kind != kindIID {
			continue
		}
		for k := range g.slots() {
			x, ok := g.at(k)
			if !ok || tg.seedSet.has(x) {
				continue
			}
			if got[x] {
				t.Fatalf("%x:%x is in two IID walks", x.hi, x.lo)
			}
			got[x] = true
		}
	}
	if len(got) != len(want) {
		t.Fatalf("the walks cover %d addresses, want %d", len(got), len(want))
	}
	for x := range want {
		if !got[x] {
			t.Fatalf("%x:%x is in no IID walk", x.hi, x.lo)
		}
	}
}

func toBytes(x u128) [16]byte {
	var a [16]byte
	putU128(&a, x)
	return a
}

// TestCalibrate: factors are 1 under calibMin seeds, positive and finite
// above, and they make the rates predict the yield on the fifth of the
// seeds held out, of what each family emits when the groups go out in
// order (calibrate's marginal rounds): on /64s numbered densely from ::1,
// leave-one-out alone misses it by more than 2x in some family with 20
// hits or more, the calibrated rates by less than 2x in every such
// family.
func TestCalibrate(t *testing.T) {
	var seeds []u128
	for n := range 200 {
		for v := range 12 {
			seeds = append(seeds, u128{0x2a00_1450_0000_0000 + uint64(n)*0x1000, uint64(v + 1)})
		}
	}
	slices.SortFunc(seeds, cmpU128)
	for f, m := range calibrate(seeds[:calibMin-1], nil, 16, 16, nil) {
		if m != 1 {
			t.Fatalf("family %d of %d seeds: factor %g, want 1", f, calibMin-1, m)
		}
	}
	cal := calibrate(seeds, nil, 16, 16, nil)
	for f, m := range cal {
		if !(m > 0) || math.IsInf(float64(m), 0) {
			t.Fatalf("family %d: factor %g", f, m)
		}
	}
	train, held := calibSplit(seeds)
	worst := func(mult *[nFam]float32) (ratio float64, fam int) {
		hit, pred := marginalYield(buildTGA(train, nil, 16, 16, mult, 1, false), held, calibBudget*len(train))
		for f := range pred {
			pred[f] *= float64(mult[f])
		}
		ratio = 1
		for f := range nFam {
			if hit[f] >= 20 {
				r := max(pred[f]/hit[f], hit[f]/pred[f])
				if r > ratio {
					ratio, fam = r, f
				}
			}
		}
		return ratio, fam
	}
	var ones [nFam]float32
	for f := range ones {
		ones[f] = 1
	}
	if r, f := worst(&ones); r < 2 {
		t.Fatalf("uncalibrated rates already within %.2fx (family %d): the data tests nothing", r, f)
	}
	if r, f := worst(cal); r >= 2 {
		t.Errorf("calibrated rates miss the held-out yield of family %d by %.2fx", f, r)
	}
}

// TestLeafGroup: a leaf of seeds that vary in two nybbles is expanded
// into all 256 addresses of its pattern, each once, in three groups: its
// core, the rest of its hull and the rest of the pattern.
func TestLeafGroup(t *testing.T) {
	var seeds []netip.Addr
	for _, s := range []string{"2001:db8:1:12::1", "2001:db8:1:34::1", "2001:db8:1:56::1"} {
		seeds = append(seeds, netip.MustParseAddr(s))
	}
	tg, err := NewTGA(seeds, TGAConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var parts [nLeafP]*liveGroup
	for gi := range tg.groups {
		if g := tg.liveGroup(int32(gi)); g.kind == kindLeaf {
			if parts[g.pos] != nil {
				t.Fatalf("two leaf groups of part %d", g.pos)
			}
			parts[g.pos] = &g
		}
	}
	// Nybble 14 holds 1, 3 or 5 in the seeds, nybble 15 holds 2, 4 or 6:
	// the core is 3·3 addresses (the 3 seeds among them), the hull 5·5.
	got := map[u128]bool{}
	for part, want := range [nLeafP]struct{ slots, addrs int }{{9, 9}, {25, 16}, {256, 231}} {
		g := parts[part]
		if g == nil {
			t.Fatalf("no leaf group of part %d", part)
		}
		if g.slots() != want.slots {
			t.Fatalf("part %d: %d slots, want %d", part, g.slots(), want.slots)
		}
		n := 0
		for k := range g.slots() + 1 {
			x, ok := g.at(k)
			if !ok {
				continue
			}
			if k == g.slots() {
				t.Fatalf("part %d: slot %d (past the last) holds an address", part, k)
			}
			a, b := nyb(x, 14), nyb(x, 15)
			core := a%2 == 1 && a <= 5 && b%2 == 0 && b >= 2 && b <= 6
			hull := a >= 1 && a <= 5 && b >= 2 && b <= 6
			inPart := [nLeafP]bool{core, hull && !core, !hull}[part]
			if x.hi&^0xff != 0x20010db8_00010000 || x.lo != 1 || got[x] || !inPart {
				t.Fatalf("part %d, slot %d: %x:%x, outside the part or repeated", part, k, x.hi, x.lo)
			}
			got[x] = true
			n++
		}
		if n != want.addrs {
			t.Errorf("part %d: %d addresses, want %d", part, n, want.addrs)
		}
	}
	if len(got) != 256 {
		t.Fatalf("%d addresses in the three parts, want 256", len(got))
	}
	// Calibration checks the leaf off the seeds' lines only: of the 253
	// non-seeds, those with nybble 14 in {1,3,5} or 15 in {2,4,6} are on
	// one (3·16 + 3·16 - 9 - 3 seeds = 84).
	on := 0
	for x := range got {
		if !tg.seedSet.has(x) && tg.onLine(x, parts[0].wild) {
			on++
		}
	}
	if on != 84 {
		t.Errorf("%d of the leaf's addresses on a seed's line, want 84", on)
	}
}

// refAt is the slot order at documents, written out slot by slot: the
// reference for liveGroup.slotRange, which at and appendSlots share.
func refAt(g *liveGroup, k int) (u128, bool) {
	switch g.kind {
	case kindLine:
		v := nyb(g.base, int(g.pos)) + k/2 + 1
		if k%2 == 1 {
			v -= 2 * (k/2 + 1)
		}
		if k < 30 && v >= 0 && v < 16 && g.vals>>uint(v)&1 != 0 {
			return setNyb(g.base, int(g.pos), v), true
		}
	case kindWalk, kindIID:
		lo, width := walkSpan(int(g.pos))
		if uint64(k) >= 2*width {
			break
		}
		if g.side == walkUp && k%2 == 1 || g.side == walkDown && k%2 == 0 {
			break // a slot of the side the group does not walk
		}
		field, d := g.base.lo, lo+uint64(k/2)
		if g.kind == kindWalk {
			field = g.base.hi
		}
		v, wrapped := field+d, field+d < field
		end := uint64(g.vals)
		if k%2 == 1 {
			v, wrapped = field-d, field-d > field
			end = uint64(uint16(g.d))
		}
		if end != 0 && d >= end {
			break // a nearer seed's walk owns it
		}
		if wrapped {
			break // past the end of the field
		}
		y := g.base
		if g.kind == kindWalk {
			y.hi = v
		} else {
			y.lo = v
		}
		return y, true
	case kindLow:
		return u128{g.base.hi, uint64(g.d)}, k == 0
	case kindLeaf:
		// Digits: the rightmost wildcard nybble is the least significant;
		// each digit picks a value by the part's radix.
		if k < 0 {
			break
		}
		var ps []int
		for w := g.wild; w != 0; w &= w - 1 {
			ps = append(ps, 31-bits.TrailingZeros32(w))
		}
		y, r, core, hull := g.base, k, true, true
		for q, p := range ps {
			var vals []int // the seeds' values at wildcard q
			for v := range 16 {
				if g.seen>>(16*q+v)&1 != 0 {
					vals = append(vals, v)
				}
			}
			lo, hi := vals[0], vals[len(vals)-1]
			var v int
			switch g.pos {
			case leafCore:
				v, r = vals[r%len(vals)], r/len(vals)
			case leafHull:
				v, r = lo+r%(hi-lo+1), r/(hi-lo+1)
			default:
				v, r = r%16, r/16
			}
			y = setNyb(y, p, v)
			core = core && slices.Contains(vals, v)
			hull = hull && v >= lo && v <= hi
		}
		if r != 0 {
			break // past the last slot
		}
		switch g.pos {
		case leafCore:
			return y, true
		case leafHull:
			return y, !core
		default:
			return y, !hull
		}
	}
	return u128{}, false
}

// TestAppendSlotsMatchesAt checks the emitters' batched walk over a
// group's slots, and at, against refAt, slot by slot, on every group of
// a real seed set (every kind, leaf part and walk side), taking the slots
// a few at a time as the emitter does.
func TestAppendSlotsMatchesAt(t *testing.T) {
	seeds := realSeeds(t, "hitlist-seeds-6graph-5k.txt")
	tg, err := NewTGA(seeds, TGAConfig{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[uint8]int{}
	var parts [nLeafP]int
	var sides [3]int // walkBoth, walkUp, walkDown
	for gi := range tg.groups {
		g := tg.liveGroup(int32(gi))
		var want []u128
		for k := range g.slots() + 2 {
			x, ok := refAt(&g, k)
			if ok {
				want = append(want, x)
			}
			if y, ok2 := g.at(k); ok2 != ok || ok && y != x {
				t.Fatalf("group %d (kind %d): at(%d) = %x:%x %v, want %x:%x %v", gi, g.kind, k, y.hi, y.lo, ok2, x.hi, x.lo, ok)
			}
		}
		var got []u128
		step := 1 + gi%7
		for k, n := 0, g.slots(); k < n; {
			before := len(got)
			got, k = g.appendSlots(got, k, step)
			if len(got) == before && k < n {
				t.Fatalf("group %d (kind %d): no progress at slot %d", gi, g.kind, k)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("group %d (kind %d): appendSlots gives %d addresses, at %d", gi, g.kind, len(got), len(want))
		}
		kinds[g.kind]++
		if g.kind == kindLeaf {
			parts[g.pos]++
		}
		if g.kind == kindWalk || g.kind == kindIID {
			sides[g.side]++
		}
	}
	for _, k := range []uint8{kindLine, kindWalk, kindIID, kindLow, kindLeaf} {
		if kinds[k] == 0 {
			t.Errorf("no group of kind %d checked", k)
		}
	}
	for part, n := range parts {
		if n == 0 {
			t.Errorf("no leaf group of part %d checked", part)
		}
	}
	for side, n := range sides {
		if n == 0 {
			t.Errorf("no walk group of side %d checked", side)
		}
	}
}

// TestOpenGap checks openGap, inRanges and openCache (one kept across
// the cases, so both its paths run) against a linear scan.
func TestOpenGap(t *testing.T) {
	r := []ipRange{{0, 10, 0, 20}, {1, 0, 1, 5}, {^uint64(0), 0, ^uint64(0), ^uint64(0)}}
	oc := newOpenCache() // kept across the cases: its stretch carries over
	for _, c := range []struct {
		x      u128
		lo, hi u128
		ok     bool
	}{
		{u128{0, 0}, u128{0, 0}, u128{0, 9}, true},
		{u128{0, 10}, u128{}, u128{}, false},
		{u128{0, 20}, u128{}, u128{}, false},
		{u128{0, 21}, u128{0, 21}, u128{0, ^uint64(0)}, true},
		{u128{0, 1000}, u128{0, 21}, u128{0, ^uint64(0)}, true}, // openCache: the stretch before
		{u128{1, 3}, u128{}, u128{}, false},
		{u128{1, 6}, u128{1, 6}, u128{^uint64(0) - 1, ^uint64(0)}, true},
		{u128{^uint64(0), 7}, u128{}, u128{}, false},
	} {
		lo, hi, ok := openGap(r, c.x)
		if ok != c.ok || ok && (lo != c.lo || hi != c.hi) {
			t.Errorf("openGap(%x:%x) = %x:%x..%x:%x %v, want %x:%x..%x:%x %v", c.x.hi, c.x.lo, lo.hi, lo.lo, hi.hi, hi.lo, ok, c.lo.hi, c.lo.lo, c.hi.hi, c.hi.lo, c.ok)
		}
		in := false
		for _, y := range r {
			in = in || cmpU128(u128{y.fromHi, y.fromLo}, c.x) <= 0 && cmpU128(c.x, u128{y.toHi, y.toLo}) <= 0
		}
		if in != inRanges(r, c.x) {
			t.Errorf("inRanges(%x:%x) = %v, want %v", c.x.hi, c.x.lo, !in, in)
		}
		if oc.open(r, c.x) == in {
			t.Errorf("openCache.open(%x:%x) = %v, want %v", c.x.hi, c.x.lo, in, !in)
		}
	}
}

// TestU128Set fills a set to its load limit with addresses that differ
// in one bit, the zero address and random ones, and checks every answer
// against a map: no fingerprint of them collides, and each address keeps
// its slot. It also checks that oneSetMax is the most a 1 MiB set holds.
func TestU128Set(t *testing.T) {
	// oneSetMax is the most whose set is 1 MiB (see Generate).
	if a, b := len(newU128Set(oneSetMax).keys)*8, len(newU128Set(oneSetMax+1).keys)*8; a != 1<<20 || b == a {
		t.Fatalf("sets for oneSetMax and one more: %d and %d bytes, want 1 MiB and more", a, b)
	}
	r := testutil.Rand(t)
	const n = 1 << 12
	s := newU128Set(n)
	want := map[u128]uint64{}
	xs := []u128{{}, {0, 1}, {1, 0}, {^uint64(0), ^uint64(0)}}
	for b := range 64 {
		xs = append(xs, u128{0x20010db8 << 32, 1 << b}, u128{0x20010db8<<32 ^ 1<<b, 0})
	}
	for len(xs) < n {
		xs = append(xs, u128{r.Uint64(), r.Uint64()})
	}
	for _, x := range xs {
		if s.has(x) {
			t.Fatalf("%x:%x is in the set before it was added", x.hi, x.lo)
		}
		if !s.add(x) || s.add(x) {
			t.Fatalf("%x:%x: add did not report it new, then old", x.hi, x.lo)
		}
		i, ok := s.find(x)
		if !ok {
			t.Fatalf("%x:%x not found after add", x.hi, x.lo)
		}
		want[x] = i
	}
	for x, i := range want {
		if j, ok := s.find(x); !ok || j != i {
			t.Fatalf("%x:%x: slot %d %v, want %d (a slot is kept for the set's life)", x.hi, x.lo, j, ok, i)
		}
		y := u128{x.hi ^ 1<<62, x.lo}
		if _, added := want[y]; !added && s.has(y) {
			t.Fatalf("%x:%x is in the set, never added", y.hi, y.lo)
		}
	}
}

// TestFirstSeen streams fingerprints with repeats, within a batch and
// across batches, some of them held from the start, in batches of 1 to
// 50,000, through a firstSeen of one bucket and of several, and checks
// each answer, and the sample's count of new fingerprints, against a map.
func TestFirstSeen(t *testing.T) {
	r := testutil.Rand(t)
	// The first firstSeen is made for a 16th of what it is given, so that
	// its sample's set outgrows its room.
	for _, n := range []int{1000, 100_000} {
		pool := make([]uint64, n/2)
		for i := range pool {
			pool[i] = r.Uint64() | 1<<63
		}
		pre := slices.Clone(pool[:n/20])
		slices.Sort(pre)
		d := newFirstSeen(pre, n>>(4*b2i(n == 1000)))
		if n > firstBucket && d.lg == 0 {
			t.Fatalf("n=%d: one bucket", n)
		}
		seen := map[uint64]bool{}
		for _, f := range pre {
			seen[f] = true
		}
		var fresh []uint64
		for k, size := range []int{1, 7, 1000, n / 4, 3, n / 2} {
			fps := make([]uint64, size)
			for i := range fps {
				fps[i] = pool[r.IntN(len(pool))]
			}
			// The batch comes in runs of up to 500. Every other batch is
			// announced as an eighth of its size, so buckets outgrow
			// their room.
			d.begin(size >> (k % 2 * 3))
			for i := 0; i < size; i += 500 {
				d.addFPs(fps[i:min(i+500, size)])
				d.sample()
			}
			// The sample's count: the batch's new fingerprints in the
			// sample buckets, each once.
			sampNew, inBatch := 0, map[uint64]bool{}
			for _, f := range fps {
				if d.bucket(f) < d.ns && !seen[f] && !inBatch[f] {
					sampNew++
				}
				inBatch[f] = true
			}
			if d.sampNew != sampNew {
				t.Fatalf("n=%d, batch of %d: the sample counts %d new, want %d", n, size, d.sampNew, sampNew)
			}
			fresh = d.mark(fresh)
			if len(fresh) != (size+63)/64 {
				t.Fatalf("n=%d: %d words for %d answers", n, len(fresh), size)
			}
			for i, f := range fps {
				isNew := fresh[i/64]>>(i%64)&1 != 0
				if isNew == seen[f] {
					t.Fatalf("n=%d, batch of %d: fingerprint %d (%x) fresh=%v, seen before=%v", n, size, i, f, isNew, seen[f])
				}
				seen[f] = true
			}
			if size%64 != 0 && fresh[len(fresh)-1]>>(size%64) != 0 {
				t.Fatalf("n=%d, batch of %d: bits set past the batch", n, size)
			}
		}
		held := 0
		for b, s := range d.seen {
			held += len(s)
			for _, f := range s {
				if d.bucket(f) != b {
					t.Fatalf("n=%d: %x held in bucket %d, not %d", n, f, b, d.bucket(f))
				}
			}
		}
		if held != len(seen) {
			t.Fatalf("n=%d: holds %d, want %d", n, held, len(seen))
		}
	}
}

// TestGenerateMatchesOneSet checks Generate against one hash set that
// takes the groups' addresses one by one (at), in the group order: the
// same candidates in the same order, at budgets Generate checks in one
// set (probing the TGA's seed set, at 0 to 1,000, or holding the seeds,
// at 30,000) and in batches.
func TestGenerateMatchesOneSet(t *testing.T) {
	t.Run("6graph", func(t *testing.T) {
		testGenerateMatchesOneSet(t, realSeeds(t, "hitlist-seeds-6graph-5k.txt"))
	})
	t.Run("edges", func(t *testing.T) { testGenerateMatchesOneSet(t, blockEdgeSeeds(t)) })
}

// blockEdgeSeeds returns seeds in the /64s next to the edges of blocked
// ranges of the built-in list, so that walks, lines and leaves run into
// them.
func blockEdgeSeeds(t *testing.T) []netip.Addr {
	r := testutil.Rand(t)
	var seeds []netip.Addr
	for _, e := range []struct{ lo, hi string }{
		{"2001:1ff:ffff:ffff::", "2001:200::"},    // 2001::/23 ends
		{"2001:db7:ffff:ffff::", "2001:db9::"},    // 2001:db8::/32
		{"2001:1fff:ffff:ffff::", "2003::"},       // 2002::/16
		{"2620:4f:7fff:ffff::", "2620:4f:8001::"}, // 2620:4f:8000::/48
		{"3ffe:ffff:ffff:ffff::", "3fff:1000::"},  // 3fff::/20
	} {
		for _, b := range []netip.Addr{netip.MustParseAddr(e.lo), netip.MustParseAddr(e.hi)} {
			for range 300 {
				a := b.As16()
				step := byte(r.IntN(24))
				if b.String() == e.lo {
					a[7] -= step
				} else {
					a[7] += step
				}
				if r.IntN(2) == 0 {
					a[15] = byte(1 + r.IntN(40))
				} else {
					a[14], a[15] = byte(r.IntN(4)), byte(r.Uint32())
				}
				seeds = append(seeds, netip.AddrFrom16(a))
			}
		}
	}
	return seeds
}

func testGenerateMatchesOneSet(t *testing.T, seeds []netip.Addr) {
	tg, err := NewTGA(seeds, TGAConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, budget := range []int{0, 1, 1000, 30_000, 200_000} {
		e := newEmitter(tg.seeds, tg.block, budget)
		for gi := 0; gi < len(tg.groups) && !e.full(); gi++ {
			g := tg.liveGroup(int32(gi))
			for k := range g.slots() {
				if x, ok := g.at(k); ok {
					e.add(x)
				}
			}
		}
		want, wantErr := e.result()
		got, err := tg.Generate(budget)
		if (err == nil) != (wantErr == nil) || !slices.Equal(got, want) {
			t.Fatalf("budget %d: %d candidates (%v), one set gives %d (%v)", budget, len(got), err, len(want), wantErr)
		}
		if oneSet(budget, len(tg.seeds)) {
			continue
		}
		// The batched path with a first batch too small to hold the
		// budget (down to drawRun addresses): later batches, and their
		// sizing from the ratio so far, have to give the same.
		for _, perCand := range []float64{1, 0.3, 1e-9} {
			gs := groupStream{t: tg, gap: newOpenCache()}
			got, batches := tg.generateBatched(&gs, budget, perCand)
			if !slices.Equal(got, want) {
				t.Fatalf("budget %d, first batch for %v a candidate: %d candidates, one set gives %d", budget, perCand, len(got), len(want))
			}
			if batches < 2 {
				t.Fatalf("budget %d, first batch for %v a candidate: %d batch", budget, perCand, batches)
			}
		}
	}
}

// liveGroup returns group gi as a liveGroup (the code loads groups in
// place, see loadGroup).
func (t *TGA) liveGroup(gi int32) liveGroup {
	var lg liveGroup
	t.loadGroup(&lg, gi)
	return lg
}

// TestNybbles checks nyb and setNyb, which refAt shares with the code it
// checks, against the address's bytes.
func TestNybbles(t *testing.T) {
	r := testutil.Rand(t)
	for range 1000 {
		x := u128{r.Uint64(), r.Uint64()}
		var a [16]byte
		putU128(&a, x)
		for p := range 32 {
			want := int(a[p/2] >> (4 * (1 - p%2)) & 0xf)
			if got := nyb(x, p); got != want {
				t.Fatalf("nyb(%x, %d) = %d, want %d", a, p, got, want)
			}
			v := r.IntN(16)
			b := a
			b[p/2] = b[p/2]&^(0xf<<(4*(1-p%2))) | byte(v)<<(4*(1-p%2))
			var got [16]byte
			putU128(&got, setNyb(x, p, v))
			if got != b {
				t.Fatalf("setNyb(%x, %d, %d) = %x, want %x", a, p, v, got, b)
			}
		}
	}
}

// TestOpenPrefix checks openPrefix against the built-in list: the /L it
// returns holds no blocked address and, for L > 0, the /(L-1) does; on
// addresses at and next to every range's edges, and at random.
func TestOpenPrefix(t *testing.T) {
	r := testutil.Rand(t)
	block := blockRanges(builtin(t))
	var xs []u128
	for _, b := range block {
		from, to := u128{b.fromHi, b.fromLo}, u128{b.toHi, b.toLo}
		xs = append(xs, from, to, subU128(from, 1), addU128(to, 1), subU128(from, 1<<40), addU128(to, 1<<40))
	}
	for range 2000 {
		xs = append(xs, u128{r.Uint64()>>3 | 1<<61, r.Uint64()})
	}
	// hits reports whether the /l of x holds a blocked address.
	hits := func(x u128, l int) bool {
		mh, ml := hostMask(uint(128 - l))
		lo, hi := u128{x.hi &^ mh, x.lo &^ ml}, u128{x.hi | mh, x.lo | ml}
		for _, b := range block {
			if cmpU128(u128{b.fromHi, b.fromLo}, hi) <= 0 && cmpU128(u128{b.toHi, b.toLo}, lo) >= 0 {
				return true
			}
		}
		return false
	}
	for _, x := range xs {
		l := int(openPrefix(block, x))
		if l == 129 {
			if !inRanges(block, x) {
				t.Fatalf("%x:%x: 129 (blocked), and it is not", x.hi, x.lo)
			}
			continue
		}
		if hits(x, l) || l > 0 && !hits(x, l-1) {
			t.Fatalf("%x:%x: /%d, blocked in it %v, in the /%d %v", x.hi, x.lo, l, hits(x, l), l-1, l > 0 && hits(x, l-1))
		}
	}
}

// TestSortGroups checks the radix sort against the comparison sort, on
// group sets past its threshold with keys and anchors that agree in some
// digits and not others.
func TestSortGroups(t *testing.T) {
	r := testutil.Rand(t)
	for _, n := range []int{10, 1 << 14, 50000} {
		gs := make([]tgaGroup, n)
		for i := range gs {
			gs[i] = tgaGroup{key: r.Uint64() & 0xffff0000ffff00ff, anchor: int32(r.IntN(1 << 20)), vals: uint16(i), fam: uint16(i >> 16)}
			if i%3 == 0 {
				gs[i].key = gs[i/2].key // ties on the key
			}
		}
		// Each group's base rate names it (its index), so the test can
		// tell that the base rates moved with their groups.
		base := make([]float32, n)
		for i := range base {
			base[i] = float32(i)
		}
		want := slices.Clone(gs)
		slices.SortStableFunc(want, cmpGroup)
		orig := slices.Clone(gs)
		plain := slices.Clone(gs)
		sortGroups(gs, base)
		sortGroups(plain, nil)
		for i := range gs {
			if cmpGroup(gs[i], want[i]) != 0 || cmpGroup(plain[i], want[i]) != 0 {
				t.Fatalf("n=%d: group %d is %+v (without base rates %+v), want %+v", n, i, gs[i], plain[i], want[i])
			}
			if o := orig[int(base[i])]; o != gs[i] {
				t.Fatalf("n=%d: group %d is %+v, but its base rate is that of %+v", n, i, gs[i], o)
			}
		}
	}
}

// TestInsideVals checks insideVals against its definition on every mask.
func TestInsideVals(t *testing.T) {
	for m := range 1 << 16 {
		mask := uint16(m)
		var want uint16
		if mask != 0 {
			lo, hi := 16, -1
			for v := range 16 {
				if mask>>v&1 != 0 {
					lo, hi = min(lo, v), max(hi, v)
				}
			}
			for v := lo + 1; v < hi; v++ {
				want |= 1 << v
			}
		}
		if got := insideVals(mask); got != want {
			t.Fatalf("insideVals(%016b) = %016b, want %016b", mask, got, want)
		}
	}
}

// TestRecalibrateIsABuild checks that a TGA built with one set of
// calibration factors and re-ranked with another (as calibrate's marginal
// rounds do) is, group for group and leaf for leaf, the TGA built with
// the other.
func TestRecalibrateIsABuild(t *testing.T) {
	var seeds []u128
	for _, a := range realSeeds(t, "hitlist-seeds-6graph-5k.txt") {
		seeds = append(seeds, u128From(a))
	}
	slices.SortFunc(seeds, cmpU128)
	seeds = slices.Compact(seeds)
	block := blockRanges(builtin(t))
	r := testutil.Rand(t)
	mult := unitFactors()
	for f := range mult {
		mult[f] = float32(math.Exp(4 * (r.Float64() - 0.5))) // e^-2 to e^2
	}
	got := buildTGA(seeds, block, 16, 16, unitFactors(), 1.25, true)
	if len(got.base) != len(got.groups) {
		t.Fatalf("%d base rates for %d groups", len(got.base), len(got.groups))
	}
	before := slices.Clone(got.groups)
	got.recalibrate(mult)
	want := buildTGA(seeds, block, 16, 16, mult, 1.25, false)
	if want.base != nil {
		t.Fatal("a build without keepBase kept the base rates")
	}
	if slices.Equal(before, want.groups) {
		t.Fatal("the factors did not change the ranking: the test tests nothing")
	}
	if !slices.Equal(got.groups, want.groups) || !slices.Equal(got.byLeaf, want.byLeaf) || !slices.Equal(got.leafGrp, want.leafGrp) || got.mult != mult {
		t.Fatal("the re-ranked TGA is not the TGA built with its factors")
	}
}

// TestTGAProgress checks that NewTGA reports each step of its build in
// order and then that it is done, with and without calibration.
func TestTGAProgress(t *testing.T) {
	seeds := realSeeds(t, "hitlist-seeds-6graph-5k.txt")
	for _, tc := range []struct {
		seeds []netip.Addr
		steps int
	}{{seeds, 1 + calibSteps}, {seeds[:calibMin-1], 1}} {
		type call struct {
			step, steps int
			what        string
		}
		var calls []call
		tg, err := NewTGA(tc.seeds, TGAConfig{Progress: func(step, steps int, what string) { calls = append(calls, call{step, steps, what}) }})
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != tc.steps+1 {
			t.Fatalf("%d seeds: %d calls %v, want %d", len(tc.seeds), len(calls), calls, tc.steps+1)
		}
		for i, c := range calls {
			if c.step != i || c.steps != tc.steps || (c.what == "") != (i == tc.steps) {
				t.Fatalf("%d seeds: call %d is %+v", len(tc.seeds), i, c)
			}
		}
		if tg.Seeds() != len(tc.seeds) {
			t.Fatalf("%d seeds, the TGA has %d", len(tc.seeds), tg.Seeds())
		}
	}
}
