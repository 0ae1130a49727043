//go:build unix

package icmp

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user + system CPU time.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Skip("getrusage:", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestPacerDoesNotSpin: pacing at 100k probes/s for half a second costs
// little CPU (a spinning limiter would burn the whole half second).
func TestPacerDoesNotSpin(t *testing.T) {
	p := NewPacer(1e5)
	before := cpuTime(t)
	start := time.Now()
	for sent := 0; sent < 50000; sent += p.Burst() {
		if err := p.Wait(context.Background(), p.Burst()); err != nil {
			t.Fatal(err)
		}
	}
	wall, cpu := time.Since(start), cpuTime(t)-before
	t.Logf("paced %v with %v of CPU", wall, cpu)
	if cpu > wall/4 {
		t.Errorf("pacing for %v used %v of CPU", wall, cpu)
	}
}
