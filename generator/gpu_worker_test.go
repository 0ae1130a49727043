package generator

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildWorker builds cmd/widescan-gpu with tags into a temporary directory
// and returns its path. It skips t when the build cannot run here (no cgo,
// no cuda.h or libcuda for the cuda tag), with the compiler's reason.
func buildWorker(t *testing.T, tags string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the GPU worker; skipped in -short mode")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on $PATH to build the worker with")
	}
	out := filepath.Join(t.TempDir(), WorkerName)
	args := []string{"build", "-o", out}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command(gobin, append(args, "../cmd/widescan-gpu")...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		if tags == "cuda" && os.Getenv("WIDESCAN_REQUIRE_CUDA_BUILD") != "1" {
			t.Skipf("cannot build the worker with -tags cuda here (set WIDESCAN_REQUIRE_CUDA_BUILD=1 to fail instead): %v\n%s", err, msg)
		}
		t.Fatalf("go build -tags %q: %v\n%s", tags, err, msg)
	}
	return out
}

// TestRealWorker starts the real worker, built with -tags cuda. Without a
// usable GPU (as on CI) gorgonia.org/cu's init fails and exits, and the
// backend must report ErrNoGPU with that reason; the CPU still works. With
// a GPU the worker's output must equal the CPU's, batch for batch.
func TestRealWorker(t *testing.T) {
	worker := buildWorker(t, "cuda")
	cfg := Config{Windows: mustWindows(t, "2001:db8::/40-64", "3fff:100::/44-60"), Blocklist: testbedBlocklist(t),
		IID: IID{Mode: IIDRandom}, PermSeed: 7, Shard: Shard{Index: 1, Count: 3}, MaxTargets: 1 << 20, BatchSize: 4096}
	g := mustNew(t, cfg)
	gpu, err := StartGPU(context.Background(), g, GPUConfig{Worker: worker})
	if err != nil {
		if !errors.Is(err, ErrNoGPU) || !strings.Contains(err.Error(), worker) || len(err.Error()) < len(worker)+40 {
			t.Fatalf("StartGPU without a GPU: %v, want ErrNoGPU naming the worker and its reason", err)
		}
		t.Logf("no GPU here, as the backend reports: %v", err)
		if _, err := drain(t, g); err != nil {
			t.Fatalf("CPU after the failed GPU start: %v", err)
		}
		return
	}
	t.Logf("GPU: %s", gpu.Device())
	got, err := drain(t, gpu)
	if err != nil {
		t.Fatal(err)
	}
	want, err := drain(t, mustNew(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	compareBatches(t, got, want)
}

// TestWorkerWithoutCUDA starts the worker built without the cuda tag: it
// says so, and the backend reports it as the reason.
func TestWorkerWithoutCUDA(t *testing.T) {
	worker := buildWorker(t, "")
	g := mustNew(t, Config{Windows: mustWindows(t, "2001:db8::/48-64"), Blocklist: testbedBlocklist(t)})
	_, err := StartGPU(context.Background(), g, GPUConfig{Worker: worker})
	if !errors.Is(err, ErrNoGPU) || !strings.Contains(err.Error(), "built without CUDA support") {
		t.Fatalf("StartGPU: %v, want ErrNoGPU saying the worker has no CUDA", err)
	}
	t.Logf("reason: %v", err)
}
