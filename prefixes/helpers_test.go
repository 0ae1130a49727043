package prefixes

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// testRand returns a random source for t, seeded from WIDESCAN_TEST_SEED when
// set and randomly otherwise; the seed is logged so a failure can be replayed.
func testRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("WIDESCAN_TEST_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("WIDESCAN_TEST_SEED=%q: %v", s, err)
		}
	}
	t.Logf("random seed %d (replay with WIDESCAN_TEST_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}
