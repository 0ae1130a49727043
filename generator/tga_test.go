package generator

import (
	"errors"
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/p2pnet/widescan/internal/testutil"
	"github.com/p2pnet/widescan/prefixes"
)

// realSeeds reads a seed file of ../shared/data (no licence is stated for
// them, so they are read in place, never copied). It skips t when the file
// is absent, and fails it when CI=true.
func realSeeds(t *testing.T, name string) []netip.Addr {
	t.Helper()
	path := "../../shared/data/" + name
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("seed file %s: %v (CI=true)", path, err)
		}
		t.Skipf("seed file %s absent: %v", path, err)
	}
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
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			checkCandidates(t, c, seeds, bl, budget)
		}
	}
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
