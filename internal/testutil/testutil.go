// Package testutil holds small helpers shared by widescan's tests: a gate for privileged
// (root, network-namespace) tests, a reproducible random source, and a bounded channel wait.
//
// Nothing here opens sockets or keeps package-level state; every helper takes the test it
// serves and reports through it.
package testutil

import (
	"crypto/rand"
	"encoding/binary"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// EnvRequirePriv is the environment variable that turns RequirePriv's skip into a failure.
// CI sets WIDESCAN_REQUIRE_PRIV=1 so that a privileged tier that silently skipped cannot pass.
const EnvRequirePriv = "WIDESCAN_REQUIRE_PRIV"

// EnvSeed is the environment variable that fixes the seed Rand uses, to replay a failure:
// WIDESCAN_TEST_SEED=<decimal uint64>.
const EnvSeed = "WIDESCAN_TEST_SEED"

// RequirePriv skips t, with the reason, unless the test can build network namespaces: the
// effective user is root and the iproute2 `ip` binary is on PATH. When the environment sets
// WIDESCAN_REQUIRE_PRIV=1 it fails t (t.Fatal) instead of skipping.
func RequirePriv(t testing.TB) {
	t.Helper()
	var reason string
	if os.Geteuid() != 0 {
		reason = "privileged test: needs root (euid " + strconv.Itoa(os.Geteuid()) + ")"
	} else if _, err := exec.LookPath("ip"); err != nil {
		reason = "privileged test: needs the iproute2 `ip` binary: " + err.Error()
	}
	if reason == "" {
		return
	}
	if os.Getenv(EnvRequirePriv) == "1" {
		t.Fatal(reason + " (" + EnvRequirePriv + "=1)")
	}
	t.Skip(reason)
}

// Rand returns a pseudo-random source for t, seeded from WIDESCAN_TEST_SEED when set, or else
// from crypto/rand. The seed is logged (shown when the test fails or with -v) so that a run
// can be replayed. An unparsable WIDESCAN_TEST_SEED fails t. The returned *rand.Rand
// (math/rand/v2, PCG) is not safe for concurrent use.
func Rand(t testing.TB) *mrand.Rand {
	t.Helper()
	var seed uint64
	if s := os.Getenv(EnvSeed); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("testutil: %s=%q: %v", EnvSeed, s, err)
		}
		seed = v
	} else {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatalf("testutil: seed: %v", err)
		}
		seed = binary.LittleEndian.Uint64(b[:])
	}
	t.Logf("testutil: random seed %d (replay with %s=%d)", seed, EnvSeed, seed)
	return mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// WaitChan receives one value from ch, waiting at most d, and returns it. A closed channel
// yields the zero value at once, as a plain receive does. If d passes first, WaitChan fails t
// with t.Fatalf, so it must be called from the test's own goroutine.
func WaitChan[T any](t testing.TB, ch <-chan T, d time.Duration) T {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("testutil: nothing received within %v", d)
		var zero T
		return zero
	}
}

// SharedData returns the path of the file name in the shared data set that
// sits beside the repository (../shared/data from its root; tests run in a
// package directory one level down). That data is read in place and never
// copied into the repository. When the file is absent, SharedData skips t
// with the reason, or fails it when the environment sets CI=true, where the
// shared data set is required.
func SharedData(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join("..", "..", "shared", "data", name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("testutil: shared data %s: %v (CI=true: the shared data set is required)", name, err)
		}
		t.Skipf("testutil: shared data %s not available (%v); it is read in place, never copied into the repository", name, err)
	}
	return p
}
