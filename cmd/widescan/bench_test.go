package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p2pnet/widescan/generator"
)

// noWorker is a GPU worker path that does not exist, so that the tests
// measure no GPU wherever they run.
const noWorker = "/nonexistent/widescan-gpu"

// runBenchCmd runs `widescan bench args` and returns its stdout; stderr is
// logged.
func runBenchCmd(t *testing.T, args ...string) (string, error) {
	out, stderr, err := runBenchCmdErr(t, args...)
	if stderr != "" {
		t.Logf("stderr: %s", stderr)
	}
	return out, err
}

func runBenchCmdErr(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newBenchCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(append([]string{"--gpu-worker", noWorker}, args...))
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func TestBenchPrintsOneJSONLinePerMeasurement(t *testing.T) {
	out, err := runBenchCmd(t, "--workers", "2", "--duration", "50ms", "--json")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	lines := 0
	for sc.Scan() {
		lines++
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if r["backend"] != "cpu" || r["workers"] != 2.0 {
			t.Errorf("line %q: want backend cpu, workers 2", sc.Text())
		}
		if v, ok := r["targets_per_s"].(float64); !ok || v <= 0 {
			t.Errorf("line %q: targets_per_s %v", sc.Text(), r["targets_per_s"])
		}
	}
	if lines != 1 {
		t.Errorf("%d lines, want 1:\n%s", lines, out)
	}
}

func TestBenchPrintsATable(t *testing.T) {
	out, err := runBenchCmd(t, "--workers", "1", "--duration", "20ms")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "targets/s") || !strings.Contains(lines[1], "cpu") {
		t.Errorf("want a header and one row:\n%s", out)
	}
}

func TestBenchRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--backend", "gpu", "--duration", "1ms"},
		{"--backend", "tpu", "--duration", "1ms"},
		{"--gpu-device", "-1", "--duration", "1ms"},
		{"--workers", "-1"},
		{"--duration", "0s"},
		{"--plot", "bench.gif", "--duration", "1ms"},
		{"extra"},
	} {
		if _, err := runBenchCmd(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func TestBenchDrawsAPlotAndKeepsTheTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out", "bench.png")
	out, err := runBenchCmd(t, "--workers", "1", "--duration", "20ms", "--plot", path)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 {
		t.Errorf("want the table alone on stdout:\n%s", out)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 300 {
		t.Errorf("plot of %v pixels", b.Size())
	}
}

func TestBenchAutoMeasuresTheCPUAndSaysWhyNotTheGPU(t *testing.T) {
	out, stderr, err := runBenchCmdErr(t, "--workers", "1", "--duration", "20ms", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stderr, "GPU backend unavailable"); n != 1 || !strings.Contains(stderr, noWorker) {
		t.Errorf("stderr %q: want the reason once, naming the worker", stderr)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.Contains(lines[0], `"backend":"cpu"`) {
		t.Errorf("want one CPU line:\n%s", out)
	}
	if _, _, err := runBenchCmdErr(t, "--backend", "gpu", "--duration", "1ms"); !errors.Is(err, generator.ErrNoGPU) {
		t.Errorf("--backend gpu without a worker: %v, want generator.ErrNoGPU", err)
	}
}

func TestBenchPlotsTheGPUBesideTheCPU(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.png")
	results := []benchResult{
		{Backend: "gpu", Workers: 1, TargetsPerS: 2.5e9, KernelTargetsPerS: 60e9, HostTargetsPerS: 3e9, Device: "test"},
		{Backend: "cpu", Workers: 1, TargetsPerS: 300e6},
		{Backend: "cpu", Workers: 2, TargetsPerS: 590e6},
	}
	if err := writeBenchPlot(path, results, time.Second); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
