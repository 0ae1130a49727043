package testutil

import (
	"testing"
	"time"
)

func TestRandHonoursTheSeedVariable(t *testing.T) {
	t.Setenv(EnvSeed, "12345")
	a, b := Rand(t), Rand(t)
	for range 10 {
		if x, y := a.Uint64(), b.Uint64(); x != y {
			t.Fatalf("same seed, different values: %d, %d", x, y)
		}
	}
}

func TestWaitChanReturnsTheValue(t *testing.T) {
	ch := make(chan int, 1)
	go func() { ch <- 7 }()
	if got := WaitChan(t, ch, time.Second); got != 7 {
		t.Fatalf("got %d, want 7", got)
	}
	close(ch)
	if got := WaitChan(t, ch, time.Second); got != 0 {
		t.Fatalf("closed channel gave %d, want 0", got)
	}
}
