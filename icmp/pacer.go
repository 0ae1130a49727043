package icmp

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxBurst caps the burst of a Pacer, in probes: 4 ms of traffic at 1 M
// probes/s, so that a late timer wake-up (scheduling delay) costs no
// tokens, and the average rate holds, up to about 4 ms of lateness.
const MaxBurst = 4096

// Pacer paces probes to a rate in probes per second with a token bucket
// (golang.org/x/time/rate). Its burst is max(1, rate/100) capped at MaxBurst,
// so a burst is at most 10 ms of traffic. The bucket starts full. Waiting
// sleeps on a timer, never spins: a capped rate costs less CPU than an
// uncapped one. The long-run average is exact (token arithmetic, no drift)
// as long as the caller comes back within one burst's time.
//
// All methods are safe for concurrent use.
type Pacer struct {
	mu    sync.Mutex // serialises SetRate against the burst read in Wait
	lim   *rate.Limiter
	clock clock
}

// clock is the time source of a Pacer: the wall clock, or in tests a
// virtual one whose timers fire when the test says.
type clock interface {
	Now() time.Time
	// Timer returns a channel that receives once d has passed, and a
	// function that stops the timer.
	Timer(d time.Duration) (<-chan time.Time, func() bool)
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// NewPacer returns a Pacer for r probes per second; r <= 0 (or +Inf, or NaN)
// means unlimited: Wait returns at once.
func NewPacer(r float64) *Pacer {
	return newPacer(r, wallClock{})
}

func newPacer(r float64, c clock) *Pacer {
	l, b := limitBurst(r)
	return &Pacer{lim: rate.NewLimiter(l, b), clock: c}
}

func limitBurst(r float64) (rate.Limit, int) {
	if !(r > 0) || math.IsInf(r, 1) {
		return rate.Inf, MaxBurst
	}
	return rate.Limit(r), int(max(1, min(r/100, MaxBurst)))
}

// Wait blocks until n more probes may be sent, taking them from the bucket in
// chunks of at most the burst. It returns ctx.Err() as soon as ctx is done,
// without waiting for the rest; the tokens of chunks already granted stay
// spent, and the chunk being waited for is given back. Unlike
// rate.Limiter.WaitN it never gives up early because ctx's deadline would
// pass: it paces until the deadline itself.
func (p *Pacer) Wait(ctx context.Context, n int) error {
	for n > 0 {
		p.mu.Lock()
		l, b := p.lim.Limit(), p.lim.Burst()
		p.mu.Unlock()
		if l == rate.Inf {
			break
		}
		c := min(n, b)
		now := p.clock.Now()
		r := p.lim.ReserveN(now, c)
		if !r.OK() {
			continue // SetRate shrank the burst meanwhile: retry smaller
		}
		if d := r.DelayFrom(now); d > 0 {
			fired, stop := p.clock.Timer(d)
			select {
			case <-fired:
			case <-ctx.Done():
				stop()
				r.CancelAt(p.clock.Now())
				return ctx.Err()
			}
		}
		n -= c
	}
	return ctx.Err()
}

// SetRate changes the rate to r probes per second (r <= 0: unlimited) and the
// burst accordingly. Waits in progress finish at the rate they reserved, and
// tokens already reserved are repaid at the new rate (so a drastic cut can
// delay the next Wait by up to MaxBurst/r seconds).
func (p *Pacer) SetRate(r float64) {
	l, b := limitBurst(r)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lim.SetLimit(l)
	p.lim.SetBurst(b)
}

// Rate returns the rate in probes per second; +Inf means unlimited.
func (p *Pacer) Rate() float64 { return float64(p.lim.Limit()) }

// Burst returns the current burst in probes.
func (p *Pacer) Burst() int { return p.lim.Burst() }
