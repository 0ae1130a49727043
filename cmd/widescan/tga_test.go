package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p2pnet/widescan/generator"
)

func runTGA(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	c := newTGACmd()
	c.SetArgs(args)
	c.SetOut(&out)
	c.SetErr(&errb)
	err := c.Execute()
	return out.String(), errb.String(), err
}

func writeSeeds(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "seeds.txt")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTGAGenerateWritesExactlyTheBudget(t *testing.T) {
	seeds := writeSeeds(t, "# seeds", "2a00:1450:4001:80b::1", "2a00:1450:4001:80b::2", "2a0014504001080c0000000000000001")
	outFile := filepath.Join(t.TempDir(), "c.txt")
	_, stderr, err := runTGA(t, "generate", "--seeds", seeds, "--budget", "500", "-o", outFile)
	if err != nil || stderr != "" {
		t.Fatalf("generate: %v, stderr %q", err, stderr)
	}
	b, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(b))
	seen := map[netip.Addr]bool{}
	for _, l := range lines {
		a := netip.MustParseAddr(l)
		if seen[a] || a == netip.MustParseAddr("2a00:1450:4001:80b::1") {
			t.Fatalf("candidate %s repeated or a seed", a)
		}
		seen[a] = true
	}
	if len(lines) != 500 {
		t.Fatalf("%d candidates, want 500", len(lines))
	}
}

func TestTGAGenerateSaysWhyWhenShort(t *testing.T) {
	seeds := writeSeeds(t, "2a00:1450:4001:80b::1")
	out, stderr, err := runTGA(t, "generate", "--seeds", seeds, "--budget", "100000")
	if err != nil {
		t.Fatal(err)
	}
	n := len(strings.Fields(out))
	if n == 0 || n >= 100000 || !strings.Contains(stderr, "fewer than --budget") {
		t.Fatalf("%d candidates, stderr %q", n, stderr)
	}
}

func TestTGAGenerateBadSeedNamesTheLine(t *testing.T) {
	seeds := writeSeeds(t, "2a00::1", "192.0.2.1")
	_, _, err := runTGA(t, "generate", "--seeds", seeds, "--budget", "10")
	if err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Fatalf("err = %v, want one naming line 2", err)
	}
}

func TestTGAEvalJSONAndPlot(t *testing.T) {
	var lines []string
	for i := range 200 {
		a := netip.AddrFrom16([16]byte{0x2a, 0, 0x14, 0x50, 0, 0, 0, byte(i % 7), 15: byte(i)})
		lines = append(lines, a.String())
	}
	seeds := writeSeeds(t, lines...)
	png := filepath.Join(t.TempDir(), "r.png")
	out, _, err := runTGA(t, "eval", "--seeds", seeds, "--budget", "100,1000", "--runs", "2", "--json", "--plot", png)
	if err != nil {
		t.Fatal(err)
	}
	var rep tgaEvalReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Train != 160 || rep.HeldOut != 40 || len(rep.Results) != 8 || rep.Runs != 2 {
		t.Fatalf("report %+v", rep)
	}
	for _, r := range rep.Results {
		if r.Candidates != r.Budget || r.Hits > r.Candidates || r.Recall != float64(r.Hits)/40 {
			t.Errorf("row %+v", r)
		}
		if r.GenerationS <= 0 || r.FirstS <= 0 || r.CandPerS != float64(r.Candidates)/r.GenerationS ||
			r.FirstCandPerS != float64(r.Candidates)/r.FirstS {
			t.Errorf("row %+v: times and rates disagree", r)
		}
	}
	if _, _, err := runTGA(t, "eval", "--seeds", seeds, "--runs", "0"); err == nil || !strings.Contains(err.Error(), "--runs 0") {
		t.Errorf("--runs 0: err = %v", err)
	}
	if st, err := os.Stat(png); err != nil || st.Size() == 0 {
		t.Fatalf("plot: %v", err)
	}
	txt, _, err := runTGA(t, "eval", "--seeds", seeds, "--budget", "100")
	if err != nil || !strings.Contains(txt, "subnet-walk") || !strings.Contains(txt, "held out 40") {
		t.Fatalf("table %q, %v", txt, err)
	}
}

func TestTGASplitIsFixedAndCapped(t *testing.T) {
	var seeds []netip.Addr
	for i := range 2500 {
		seeds = append(seeds, netip.AddrFrom16([16]byte{0x2a, 0, 0, 1, 14: byte(i >> 8), 15: byte(i)}))
	}
	seeds = append(seeds, netip.MustParseAddr("2a00:2::1"))
	n, tr, te := tgaSplit(seeds, tgaSplitSeed)
	n2, tr2, te2 := tgaSplit(seeds, tgaSplitSeed)
	if n != 2001 || len(tr)+len(te) != 2001 || len(te) != 400 {
		t.Fatalf("capped %d, train %d, test %d", n, len(tr), len(te))
	}
	if n2 != n || len(tr2) != len(tr) || tr2[0] != tr[0] || te2[0] != te[0] {
		t.Fatal("split not deterministic")
	}
}

// TestTGASplitHoldsOutEachSlash32Alike checks that the held-out part is a
// random 20% of the capped seeds: a /32 far over the cap must not crowd
// it, which it did when the cap's first-come order fed the split.
func TestTGASplitHoldsOutEachSlash32Alike(t *testing.T) {
	var seeds []netip.Addr
	for i := range 12000 {
		seeds = append(seeds, netip.AddrFrom16([16]byte{0x2a, 0, 0, 1, 14: byte(i >> 8), 15: byte(i)}))
	}
	for i := range 4000 {
		seeds = append(seeds, netip.AddrFrom16([16]byte{0x2a, 0, 0, byte(2 + i%40), 15: byte(i / 40)}))
	}
	_, _, te := tgaSplit(seeds, tgaSplitSeed)
	big := 0
	for _, a := range te {
		if a.As16()[3] == 1 {
			big++
		}
	}
	// 2,000 kept in the big /32: expect 400 held out (sd about 18).
	if big < 320 || big > 480 {
		t.Fatalf("%d of the big /32's 2000 capped seeds held out, want about 400 of %d", big, len(te))
	}
}

func TestTimeGeneration(t *testing.T) {
	cands := [][16]byte{{1}, {2}, {3}}
	calls := 0
	got, tm, err := timeGeneration(3, func() ([][16]byte, error) {
		calls++
		time.Sleep([]time.Duration{30, 2, 1}[calls-1] * time.Millisecond)
		return cands, nil
	})
	if err != nil || calls != 3 || len(got) != 3 {
		t.Fatalf("%d calls, %d candidates, err %v", calls, len(got), err)
	}
	// The first call slept longest, so it is not the median: the
	// median is the 2 ms call.
	if tm.first < 30*time.Millisecond || tm.median < 2*time.Millisecond || tm.median >= tm.first {
		t.Errorf("timing %+v", tm)
	}

	// Exhausting the budget is scored, not an error.
	ex := fmt.Errorf("2 of 3: %w", generator.ErrExhausted)
	if got, _, err := timeGeneration(2, func() ([][16]byte, error) { return cands[:2], ex }); err != nil || len(got) != 2 {
		t.Errorf("exhausted: %d candidates, err %v", len(got), err)
	}
	boom := errors.New("boom")
	if _, _, err := timeGeneration(2, func() ([][16]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("err = %v, want boom", err)
	}
	// A method whose calls disagree is an error.
	n := 0
	_, _, err = timeGeneration(2, func() ([][16]byte, error) {
		n++
		return cands[:n], nil
	})
	if err == nil || !strings.Contains(err.Error(), "timed call 2") {
		t.Errorf("differing calls: err = %v", err)
	}
}

func TestBuildProgress(t *testing.T) {
	var buf bytes.Buffer
	if buildProgress(&buf, false) != nil {
		t.Error("a bar for a writer that is not a terminal")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if buildProgress(f, false) != nil || buildProgress(os.Stderr, true) != nil {
		t.Error("a bar for a file, or with --no-progress")
	}
	p := buildBar(&buf)
	p(0, 3, "first step")
	p(1, 3, "second step")
	if out := buf.String(); !strings.Contains(out, "tga build: first step") || !strings.Contains(out, "tga build: second step") || !strings.Contains(out, "1/3") {
		t.Fatalf("bar %q", out)
	}
	p(2, 3, "last step")
	n := buf.Len()
	p(3, 3, "")
	if buf.Len() == n {
		t.Error("the bar was not cleared when the build ended")
	}
}
