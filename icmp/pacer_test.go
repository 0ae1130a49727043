package icmp

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

func TestPacerRate(t *testing.T) {
	p := NewPacer(20000)
	if p.Burst() != 200 {
		t.Fatalf("burst at 20k/s = %d, want 200 (10 ms)", p.Burst())
	}
	start := time.Now()
	for range 20 { // 2000 probes in batches of 100
		if err := p.Wait(context.Background(), 100); err != nil {
			t.Fatal(err)
		}
	}
	// The first 200 go at once (the bucket starts full), then 1800 at 20k/s.
	d := time.Since(start)
	t.Logf("2000 probes at 20000/s took %v", d)
	if d < 80*time.Millisecond || d > 250*time.Millisecond {
		t.Fatalf("2000 probes at 20000/s took %v, want about 90 ms", d)
	}
}

func TestPacerUnlimited(t *testing.T) {
	for _, r := range []float64{0, -1} {
		p := NewPacer(r)
		start := time.Now()
		for range 1000 {
			if err := p.Wait(context.Background(), 100000); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Fatalf("rate %v: 1e8 probes took %v, want no wait", r, d)
		}
	}
}

func TestPacerTinyRate(t *testing.T) {
	p := NewPacer(0.5)
	if p.Burst() != 1 {
		t.Fatalf("burst at 0.5/s = %d, want 1", p.Burst())
	}
}

func TestPacerCancel(t *testing.T) {
	p := NewPacer(10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.Wait(ctx, 1000); err == nil {
		t.Fatal("Wait of 100 s of probes returned nil before its deadline")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancelled Wait took %v", d)
	}
}

func TestPacerSetRateWhileWaiting(t *testing.T) {
	p := NewPacer(1000)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 200 {
			if err := p.Wait(ctx, 50); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for _, r := range []float64{1e5, 500, 1e6, 5e4, 0, 2e6} { // shrinking and growing bursts
		time.Sleep(5 * time.Millisecond)
		p.SetRate(r)
	}
	wg.Wait()
	if p.Rate() != 2e6 || p.Burst() != MaxBurst {
		t.Fatalf("rate %v burst %d after SetRate(2e6)", p.Rate(), p.Burst())
	}
}

// virtualClock is a clock whose timers fire at once, moving its time forward
// by the timer's duration plus late: a single goroutine's Waits run in no
// real time, and the time they would have taken is exact.
type virtualClock struct {
	now  time.Time
	late time.Duration // how late every timer fires
}

func (c *virtualClock) Now() time.Time { return c.now }

func (c *virtualClock) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	c.now = c.now.Add(d + c.late)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch, func() bool { return false }
}

// paceOneSecond waits, on the pacer's own clock, for about one second's worth
// of probes at rate r (whole bursts) in chunks of the burst, as the scanner
// does, and returns
// how many were paced (the first burst, free because the bucket starts
// full, is not counted) and the time they took.
func paceOneSecond(t testing.TB, p *Pacer, now func() time.Time) (int, time.Duration) {
	r, b := p.Rate(), p.Burst()
	n := (int(r) + b - 1) / b * b
	start := now()
	for sent := 0; sent < n; sent += b {
		if err := p.Wait(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	return n - b, now().Sub(start)
}

// TestPacerRateAccuracy: from 10 to 10M probes/s, on a virtual clock, the
// achieved average is the rate to within 0.01% (token arithmetic: a
// nanosecond of rounding per chunk at most) when timers fire on time, and
// still when they fire up to a burst's time late, the lateness MaxBurst is
// sized for: the bucket holds the tokens of the late time. (The lateness of
// the last timer is not counted: it delays the caller, not the probes it was
// allowed.) Beyond a burst's time, the lost time lowers the rate.
func TestPacerRateAccuracy(t *testing.T) {
	for _, r := range []float64{10, 1e3, 1e4, 1e5, 1e6, 1e7} {
		for _, late := range []time.Duration{0, time.Microsecond, -1} {
			c := &virtualClock{now: time.Unix(1e9, 0), late: late}
			p := newPacer(r, c)
			burstTime := time.Duration(float64(p.Burst()) / r * float64(time.Second))
			if late < 0 { // just under a burst's time late
				c.late = burstTime * 9 / 10
			}
			n, d := paceOneSecond(t, p, c.Now)
			got := float64(n) / (d - c.late).Seconds()
			t.Logf("rate %g, timers %v late: %.1f probes/s (%+.4f%%)", r, c.late, got, 100*(got/r-1))
			if math.Abs(got/r-1) > 1e-4 {
				t.Errorf("rate %g, timers %v late (burst time %v): %.1f probes/s, want within 0.01%%",
					r, c.late, burstTime, got)
			}
		}
	}
	// Timers three burst times late: a wake-up finds the bucket full again
	// (capped at the burst), so two chunks go per 4.096 ms + 12.288 ms at
	// 1M/s, half the rate.
	c := &virtualClock{now: time.Unix(1e9, 0), late: 3 * MaxBurst * time.Microsecond}
	n, d := paceOneSecond(t, newPacer(1e6, c), c.Now)
	if got, want := float64(n)/(d-c.late).Seconds(), 1e6/2; math.Abs(got/want-1) > 0.01 {
		t.Errorf("1M/s with timers %v late: %.0f probes/s, want about %.0f", c.late, got, want)
	}
}

// TestPacerWaitSplitsIntoBursts: one Wait far larger than the burst takes
// its tokens a burst at a time, so it lasts (n-burst)/rate, not 0 s.
func TestPacerWaitSplitsIntoBursts(t *testing.T) {
	c := &virtualClock{now: time.Unix(1e9, 0)}
	p := newPacer(1e6, c)
	start := c.Now()
	if err := p.Wait(context.Background(), 10*MaxBurst); err != nil {
		t.Fatal(err)
	}
	if d, want := c.Now().Sub(start), 9*MaxBurst*time.Microsecond; d != want {
		t.Fatalf("%d probes at 1M/s took %v, want %v", 10*MaxBurst, d, want)
	}
}

// BenchmarkPacerRate measures the wall-clock rate a Pacer achieves at
// 1k to 1M probes/s, one second per iteration, sent in chunks of the burst:
// how far this machine's timer wake-ups let the average stray from the rate
// (scheduling stalls longer than a burst's time lower it).
func BenchmarkPacerRate(b *testing.B) {
	for _, r := range []float64{1e3, 1e4, 1e5, 1e6} {
		b.Run(fmt.Sprintf("rate=%g", r), func(b *testing.B) {
			var n int
			var d time.Duration
			for b.Loop() {
				ni, di := paceOneSecond(b, NewPacer(r), time.Now)
				n, d = n+ni, d+di
			}
			got := float64(n) / d.Seconds()
			b.ReportMetric(got, "probes/s")
			b.ReportMetric(100*(got/r-1), "%off")
		})
	}
}

// TestPacerSetRateSpeedsUpAWait: a rate change applies to the next chunks.
func TestPacerSetRateSpeedsUpAWait(t *testing.T) {
	p := NewPacer(1000)
	go func() {
		time.Sleep(50 * time.Millisecond)
		p.SetRate(1e5)
	}()
	start := time.Now()
	// 2000 probes at 1000/s would take 2 s; after the change they take
	// about 50 ms + 20 ms.
	for sent := 0; sent < 2000; sent += 10 {
		if err := p.Wait(context.Background(), 10); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v after SetRate(1e5)", d)
	}
}
