package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/p2pnet/widescan/generator"
)

// tgaSplitSeed is the fixed RNG seed of the eval protocol's cap and split.
const tgaSplitSeed = 20240601

// tgaCapPer32 is the eval protocol's cap on seeds per /32.
const tgaCapPer32 = 2000

func newTGACmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tga",
		Short: "Seed-driven target generation: generate candidates, evaluate against held-out seeds",
	}
	cmd.AddCommand(newTGAGenerateCmd(), newTGAEvalCmd())
	return cmd
}

func newTGAGenerateCmd() *cobra.Command {
	var seeds, out string
	var budget int
	var noProgress bool
	cmd := &cobra.Command{
		Use:   "generate --seeds FILE --budget N [-o FILE]",
		Short: "Write N distinct candidates ranked by expected yield, one address per line",
		Long: `Generate reads seeds (one IPv6 address or 32 hex digits per line, # comments),
builds the TGA (see the generator package: a DET-style nybble tree, leave-one-out
yield estimates per region, calibrated on a fifth of the seeds) and writes exactly --budget distinct candidates, best
first, none of them a seed or in the built-in blocklist, to stdout or -o FILE.
When fewer exist it writes them all and says why on stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if seeds == "" || budget <= 0 {
				return errors.New("--seeds FILE and --budget N > 0 are required")
			}
			ss, err := generator.ReadSeedFile(seeds)
			if err != nil {
				return err
			}
			t, err := generator.NewTGA(ss, generator.TGAConfig{Progress: buildProgress(cmd.ErrOrStderr(), noProgress)})
			if err != nil {
				return err
			}
			cands, gerr := t.Generate(budget)
			w := cmd.OutOrStdout()
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			if err := writeCandidates(w, cands); err != nil {
				return err
			}
			if gerr != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "widescan tga generate: wrote %d candidates, fewer than --budget %d: %v\n", len(cands), budget, gerr)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&seeds, "seeds", "", "seed file (\"-\" for stdin)")
	cmd.Flags().IntVar(&budget, "budget", 0, "number of candidates")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output file (default stdout)")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "no progress bar of the build on stderr")
	return cmd
}

// buildProgress returns a TGAConfig.Progress that draws the TGA build's
// steps as a bar on w, or nil when quiet is set or w is not a terminal
// (so logs and pipes get no bar).
func buildProgress(w io.Writer, quiet bool) func(step, steps int, what string) {
	if f, ok := w.(*os.File); quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return buildBar(w)
}

// buildBar returns a TGAConfig.Progress that draws the build's steps as a
// bar on w, with the step under way as its description, and clears it
// when the build is done.
func buildBar(w io.Writer) func(step, steps int, what string) {
	var bar *progressbar.ProgressBar
	return func(step, steps int, what string) {
		if bar == nil {
			bar = progressbar.NewOptions(steps,
				progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription("tga build"),
				progressbar.OptionShowCount(),
				progressbar.OptionSetElapsedTime(true),
				progressbar.OptionSetPredictTime(false),
				progressbar.OptionClearOnFinish(),
			)
		}
		if what != "" {
			bar.Describe("tga build: " + what)
		}
		_ = bar.Set(step)
	}
}

func writeCandidates(w io.Writer, cands [][16]byte) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	var buf []byte
	for _, c := range cands {
		buf = netip.AddrFrom16(c).AppendTo(buf[:0])
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// tgaResult is one row of the eval: one method at one budget.
type tgaResult struct {
	Method     string  `json:"method"`
	Budget     int     `json:"budget"`
	Candidates int     `json:"candidates"`
	Hits       int     `json:"hits"`
	Recall     float64 `json:"recall"`
	HitRate    float64 `json:"hit_rate"`
	New64      int     `json:"new_64s"`
	New48      int     `json:"new_48s"`
	// CandPerS is Candidates over GenerationS, the median of the timed
	// calls; FirstCandPerS is the same for the first of them alone.
	CandPerS      float64 `json:"candidates_per_s"`
	FirstCandPerS float64 `json:"first_call_candidates_per_s"`
	BuildS        float64 `json:"build_s,omitempty"`
	GenerationS   float64 `json:"generation_s"`
	FirstS        float64 `json:"first_call_s"`
}

type tgaEvalReport struct {
	Seeds   string      `json:"seeds"`
	Read    int         `json:"seeds_read"`
	Capped  int         `json:"seeds_after_cap"`
	Train   int         `json:"train"`
	HeldOut int         `json:"held_out"`
	RNGSeed uint64      `json:"rng_seed"`
	Runs    int         `json:"runs"` // timed calls per method and budget
	Results []tgaResult `json:"results"`
}

// tgaSplit applies the eval protocol: at most tgaCapPer32 seeds per /32
// (chosen by a shuffle with the fixed seed), then a shuffle and a 20%
// held-out part. Both parts are returned sorted.
func tgaSplit(seeds []netip.Addr, seed uint64) (capped int, train, test []netip.Addr) {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	s := slices.Clone(seeds)
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	per := map[netip.Prefix]int{}
	kept := s[:0]
	for _, a := range s {
		p := netip.PrefixFrom(a, 32).Masked()
		if per[p] < tgaCapPer32 {
			per[p]++
			kept = append(kept, a)
		}
	}
	// The cap kept the first seeds of each /32 in shuffled order, so big
	// /32s crowd the front of kept: shuffle again before the split, or
	// the held-out part would be mostly whole /32s missing from training.
	r.Shuffle(len(kept), func(i, j int) { kept[i], kept[j] = kept[j], kept[i] })
	nTest := len(kept) / 5
	test = slices.Clone(kept[:nTest])
	train = slices.Clone(kept[nTest:])
	slices.SortFunc(test, netip.Addr.Compare)
	slices.SortFunc(train, netip.Addr.Compare)
	return len(kept), train, test
}

// tgaScore scores candidates against the held-out set.
func tgaScore(method string, budget int, cands [][16]byte, train, test []netip.Addr, gen tgaTiming) tgaResult {
	held := make(map[[16]byte]bool, len(test))
	for _, a := range test {
		held[a.As16()] = true
	}
	known64 := map[[8]byte]bool{}
	known48 := map[[6]byte]bool{}
	for _, a := range train {
		b := a.As16()
		known64[[8]byte(b[:8])] = true
		known48[[6]byte(b[:6])] = true
	}
	new64 := map[[8]byte]bool{}
	new48 := map[[6]byte]bool{}
	hits := 0
	for _, c := range cands {
		if !held[c] {
			continue
		}
		hits++
		if k := [8]byte(c[:8]); !known64[k] {
			new64[k] = true
		}
		if k := [6]byte(c[:6]); !known48[k] {
			new48[k] = true
		}
	}
	r := tgaResult{Method: method, Budget: budget, Candidates: len(cands), Hits: hits,
		New64: len(new64), New48: len(new48), GenerationS: gen.median.Seconds(), FirstS: gen.first.Seconds()}
	if len(test) > 0 {
		r.Recall = float64(hits) / float64(len(test))
	}
	if len(cands) > 0 {
		r.HitRate = float64(hits) / float64(len(cands))
	}
	if gen.median > 0 {
		r.CandPerS = float64(len(cands)) / gen.median.Seconds()
	}
	if gen.first > 0 {
		r.FirstCandPerS = float64(len(cands)) / gen.first.Seconds()
	}
	return r
}

// tgaTiming is the wall time of the timed calls of one method at one
// budget: the median of all of them and the first alone.
type tgaTiming struct{ median, first time.Duration }

// timeGeneration calls gen runs times (at least once), each after a
// garbage collection, with GOMAXPROCS at 1 for the calls, so the garbage
// collector and the generation share one core (the generators are
// single-threaded) and the times are one core's. It returns the first
// call's candidates and their times, and fails when a later call's
// candidates differ from the first's: every method is deterministic.
// ErrExhausted from gen is not an error: the candidates are scored as
// they are.
func timeGeneration(runs int, gen func() ([][16]byte, error)) ([][16]byte, tgaTiming, error) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var first [][16]byte
	ds := make([]time.Duration, 0, max(runs, 1))
	for i := range max(runs, 1) {
		runtime.GC()
		start := time.Now()
		c, err := gen()
		d := time.Since(start)
		if err != nil && !errors.Is(err, generator.ErrExhausted) {
			return nil, tgaTiming{}, err
		}
		if i == 0 {
			first = c
		} else if !slices.Equal(c, first) {
			return nil, tgaTiming{}, fmt.Errorf("timed call %d gave other candidates than the first", i+1)
		}
		ds = append(ds, d)
	}
	tm := tgaTiming{first: ds[0]}
	slices.Sort(ds)
	if n := len(ds); n%2 == 1 {
		tm.median = ds[n/2]
	} else {
		tm.median = (ds[n/2-1] + ds[n/2]) / 2
	}
	return first, tm, nil
}

func parseBudgets(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("budget %q: want a positive integer", f)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func newTGAEvalCmd() *cobra.Command {
	var seeds, budgets, plotPath string
	var asJSON bool
	var prior float64
	var runs int
	var noProgress bool
	cmd := &cobra.Command{
		Use:   "eval --seeds FILE [--budget 10000,100000,1000000] [--runs N] [--json] [--plot FILE] [--live-prior N]",
		Short: "Evaluate the TGA and two baselines on a held-out 20% of the seeds",
		Long: `Eval runs the offline protocol: cap the seeds at 2,000 per /32, shuffle with a
fixed RNG seed and hold out 20%, generate from the other 80%, and report per
budget the candidates, hits on the held-out seeds, recall, hit rate, new /64s and
/48s hit (not holding a training seed) and candidates/s on one core
(generation only; the TGA's one-off build time is reported apart). Each method
generates each budget --runs times (default 5), each call after a garbage
collection so that it does not pay for the garbage of what ran before it, and
with GOMAXPROCS at 1, so the garbage collector runs on the generation's one
core; candidates/s is over the median call, "first call" over the first alone
(which also pays for the heap's growth), and every call must give the same
candidates. The baselines run on the same
split: low-byte (::1, ::2, ... in every training /64) and subnet-walk (each
seed's IID in the /64s 1, -1, 2, -2, ... away). The row tga-live is the
expansion a scan with --tga runs (generator.TGARun) in a simulated scan whose
answering hosts are the held-out seeds, the hits of each 1,024 candidates fed
back before the next are drawn; --live-prior sets its Prior (expected hits; 0,
the default, is the run's own default). --plot FILE draws recall against
budget (PNG, SVG or PDF by extension).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if seeds == "" {
				return errors.New("--seeds FILE is required")
			}
			bs, err := parseBudgets(budgets)
			if err != nil {
				return err
			}
			ss, err := generator.ReadSeedFile(seeds)
			if err != nil {
				return err
			}
			if runs < 1 {
				return fmt.Errorf("--runs %d: want at least 1", runs)
			}
			rep, err := tgaEval(seeds, ss, bs, prior, runs, buildProgress(cmd.ErrOrStderr(), noProgress))
			if err != nil {
				return err
			}
			if plotPath != "" {
				if err := plotTGA(rep, plotPath); err != nil {
					return fmt.Errorf("plot: %w", err)
				}
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprintf(w, "%s: %d seeds, %d after the /32 cap, train %d, held out %d (rng seed %d)\n",
				rep.Seeds, rep.Read, rep.Capped, rep.Train, rep.HeldOut, rep.RNGSeed)
			fmt.Fprintf(w, "candidates/s: one core, the median of %d calls; first call: the first alone\n", rep.Runs)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "method\tbudget\tcandidates\thits\trecall\thit rate\tnew /64s\tnew /48s\tcandidates/s\tfirst call\t")
			for _, r := range rep.Results {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.2f%%\t%.3f%%\t%d\t%d\t%.3g\t%.3g\t\n", r.Method, r.Budget, r.Candidates,
					r.Hits, 100*r.Recall, 100*r.HitRate, r.New64, r.New48, r.CandPerS, r.FirstCandPerS)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, r := range rep.Results {
				if r.BuildS > 0 {
					fmt.Fprintf(w, "tga build (tree and ranking): %.3f s\n", r.BuildS)
					break
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&seeds, "seeds", "", "seed file (\"-\" for stdin)")
	cmd.Flags().StringVar(&budgets, "budget", "10000,100000,1000000", "comma-separated budgets")
	cmd.Flags().IntVar(&runs, "runs", 5, "timed calls per method and budget (candidates/s is over the median)")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "no progress bar of the build on stderr")
	cmd.Flags().BoolVar(&asJSON, "json", false, "write JSON")
	cmd.Flags().StringVar(&plotPath, "plot", "", "draw recall against budget to this file")
	cmd.Flags().Float64Var(&prior, "live-prior", 0, "Prior of the tga-live run, in expected hits (0: the run's default)")
	return cmd
}

func tgaEval(name string, seeds []netip.Addr, budgets []int, prior float64, runs int, progress func(step, steps int, what string)) (*tgaEvalReport, error) {
	capped, train, test := tgaSplit(seeds, tgaSplitSeed)
	rep := &tgaEvalReport{Seeds: name, Read: len(seeds), Capped: capped, Train: len(train), HeldOut: len(test),
		RNGSeed: tgaSplitSeed, Runs: max(runs, 1)}
	start := time.Now()
	t, err := generator.NewTGA(train, generator.TGAConfig{Progress: progress})
	if err != nil {
		return nil, err
	}
	build := time.Since(start)
	live := make(map[netip.Addr]bool, len(test))
	for _, a := range test {
		live[a] = true
	}
	for _, m := range []struct {
		name  string
		built bool // from the TGA, whose build time its rows report
		f     func(int) ([][16]byte, error)
	}{
		{"tga", true, t.Generate},
		{"tga-live", true, func(n int) ([][16]byte, error) { return tgaLive(t, n, live, prior) }},
		{"low-byte", false, func(n int) ([][16]byte, error) { return generator.LowByteCandidates(train, n, nil) }},
		{"subnet-walk", false, func(n int) ([][16]byte, error) { return generator.SubnetWalkCandidates(train, n, nil) }},
	} {
		for _, b := range budgets {
			c, tm, err := timeGeneration(runs, func() ([][16]byte, error) { return m.f(b) })
			if err != nil {
				return nil, fmt.Errorf("%s at budget %d: %w", m.name, b, err)
			}
			r := tgaScore(m.name, b, c, train, test, tm)
			if m.built {
				r.BuildS = build.Seconds()
			}
			rep.Results = append(rep.Results, r)
		}
	}
	return rep, nil
}

// tgaLiveChunk is the number of candidates tgaLive probes before their
// answers come back: a scan's feedback lags by what is in flight.
const tgaLiveChunk = 1024

// tgaLive simulates a live scan with feedback (TGARun): the held-out
// addresses in live are the hosts that answer; each chunk of candidates is
// "probed", and its hits are fed back before the next chunk is drawn.
func tgaLive(t *generator.TGA, budget int, live map[netip.Addr]bool, prior float64) ([][16]byte, error) {
	run, err := t.NewRun(generator.TGARunConfig{Budget: budget, Lag: -1, Prior: prior})
	if err != nil {
		return nil, err
	}
	var out [][16]byte
	for len(out) < budget {
		n := len(out)
		out = run.Next(out, min(tgaLiveChunk, budget-n))
		if len(out) == n {
			break
		}
		for _, c := range out[n:] {
			if live[netip.AddrFrom16(c)] {
				run.Hit(c)
			}
		}
		run.Settle(uint64(len(out)))
	}
	return out, nil
}

func plotTGA(rep *tgaEvalReport, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Recall on held-out seeds: %s (train %d, held out %d)", rep.Seeds, rep.Train, rep.HeldOut)
	p.X.Label.Text = "budget (candidates)"
	p.Y.Label.Text = "recall (%)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	colors := []color.Color{color.RGBA{R: 200, A: 255}, color.RGBA{R: 240, G: 140, A: 255}, color.RGBA{G: 120, B: 200, A: 255}, color.RGBA{R: 90, G: 160, B: 40, A: 255}}
	var methods []string
	by := map[string]plotter.XYs{}
	for _, r := range rep.Results {
		if _, ok := by[r.Method]; !ok {
			methods = append(methods, r.Method)
		}
		by[r.Method] = append(by[r.Method], plotter.XY{X: float64(r.Budget), Y: 100 * r.Recall})
	}
	for i, m := range methods {
		line, points, err := plotter.NewLinePoints(by[m])
		if err != nil {
			return err
		}
		c := colors[i%len(colors)]
		line.Color, line.Width = c, vg.Points(2)
		points.Color, points.Shape, points.Radius = c, draw.CircleGlyph{}, vg.Points(3)
		p.Add(line, points)
		p.Legend.Add(m, line, points)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min = 0
	p.Y.Max = math.Max(p.Y.Max, 10)
	return p.Save(20*vg.Centimeter, 13*vg.Centimeter, path)
}
