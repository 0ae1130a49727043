package icmp

import (
	"context"
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

func TestPacerLargeWaitSplitsIntoBursts(t *testing.T) {
	p := NewPacer(1e6) // burst capped at MaxBurst
	if p.Burst() != MaxBurst {
		t.Fatalf("burst = %d, want %d", p.Burst(), MaxBurst)
	}
	start := time.Now()
	if err := p.Wait(context.Background(), 50000); err != nil { // far more than the burst
		t.Fatal(err)
	}
	if d := time.Since(start); d < 40*time.Millisecond || d > 250*time.Millisecond {
		t.Fatalf("50000 probes at 1e6/s took %v, want about 50 ms", d)
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

// TestPacerRateAccuracy: the achieved average is within ±2% of the target
// from 1k to 1M probes/s, sending in chunks of the burst as the scanner
// does, and no Wait grants more than the burst at once.
func TestPacerRateAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 4 s or more")
	}
	// A rate is accepted when one of three one-second runs is within ±2%:
	// a systematic pacing error fails all three, while a scheduling stall
	// of this shared test machine (the timer firing late by more than a
	// burst's time) spoils one run at most now and then. Every run is logged.
	for _, r := range []float64{1e3, 1e4, 1e5, 1e6} {
		var ok bool
		for attempt := 1; attempt <= 3 && !ok; attempt++ {
			got, d := paceOneSecond(t, r)
			t.Logf("rate %g, run %d: %v: %.0f probes/s (%+.2f%%)", r, attempt, d, got, 100*(got/r-1))
			ok = got >= 0.98*r && got <= 1.02*r
		}
		if !ok {
			t.Errorf("rate %g: no run within ±2%% of the rate", r)
		}
	}
}

// paceOneSecond waits for one second's worth of probes at rate r, in chunks
// of the burst, and returns the achieved rate (the first burst, free because
// the bucket starts full, not counted) and the time it took.
func paceOneSecond(t *testing.T, r float64) (float64, time.Duration) {
	p := NewPacer(r)
	b := p.Burst()
	n := int(r)
	start := time.Now()
	for sent := 0; sent < n; {
		c := min(b, n-sent)
		if err := p.Wait(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		sent += c
	}
	d := time.Since(start)
	return float64(n-b) / d.Seconds(), d
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
