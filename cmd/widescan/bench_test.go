package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runBenchCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newBenchCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
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
