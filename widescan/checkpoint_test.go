package widescan_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/widescan"
)

// pcapTargets returns the destination address of every probe in a dry
// run's pcap (raw IPv6 link type: a 24-byte file header, then per packet a
// 16-byte record header and the IPv6 packet).
func pcapTargets(t *testing.T, b []byte) []netip.Addr {
	t.Helper()
	if len(b) < 24 {
		t.Fatalf("pcap of %d bytes", len(b))
	}
	var out []netip.Addr
	for b = b[24:]; len(b) > 0; {
		if len(b) < 16 {
			t.Fatalf("truncated record header: %d bytes left", len(b))
		}
		n := int(binary.LittleEndian.Uint32(b[8:12]))
		if len(b) < 16+n || n < 40 {
			t.Fatalf("record of %d bytes, %d left", n, len(b)-16)
		}
		out = append(out, netip.AddrFrom16([16]byte(b[16+24:16+40])))
		b = b[16+n:]
	}
	return out
}

// stopAfter is a dry run's pcap writer that cancels the run once it holds
// more than max bytes.
type stopAfter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	max    int
	cancel context.CancelFunc
}

func (w *stopAfter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if w.buf.Len() > w.max {
		w.cancel()
	}
	return n, err
}

func TestCheckpointResumesAStoppedDryRunExactly(t *testing.T) {
	for _, probes := range []int{1, 3} {
		t.Run(map[int]string{1: "one probe per target", 3: "three probes per target"}[probes], func(t *testing.T) {
			cfg := widescan.Config{
				Targets:  windows(t, "2001:db8::/48-64"),
				Unblock:  docPrefixes,
				SourceIP: netip.MustParseAddr("2001:db8::1"),
				PermSeed: 7,
				Workers:  4,
				Probes:   probes,
			}
			run := func(cfg widescan.Config) (widescan.Stats, []netip.Addr, error) {
				t.Helper()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				w := &stopAfter{max: 1 << 62, cancel: cancel}
				if cfg.Start == 0 {
					w.max = 24 + 20000*120 + 77 // stop inside a batch
				}
				cfg.DryRun = w
				s, err := widescan.New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				st, err := s.Run(ctx)
				return st, pcapTargets(t, w.buf.Bytes()), err
			}

			full, err := widescan.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			total := full.Targets()

			st1, first, err := run(cfg)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("first half: error %v, want context.Canceled", err)
			}
			if st1.Checkpoint == 0 || st1.Checkpoint >= total {
				t.Fatalf("first half stopped at checkpoint %d of %d", st1.Checkpoint, total)
			}
			cfg.Start = st1.Checkpoint
			st2, second, err := run(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if st2.Checkpoint != total {
				t.Errorf("the finished run's checkpoint is %d, want the end %d", st2.Checkpoint, total)
			}

			seen := map[netip.Addr]int{}
			for _, a := range first {
				seen[a]++
			}
			for a, n := range seen {
				if n > probes {
					t.Fatalf("%s probed %d times in the first half, want at most %d", a, n, probes)
				}
			}
			firstSet := len(seen)
			for _, a := range second {
				if _, dup := seen[a]; dup {
					t.Fatalf("%s probed in both halves", a)
				}
			}
			for _, a := range second {
				seen[a]++
			}
			if uint64(len(seen)) != total {
				t.Fatalf("the halves probed %d + %d distinct targets, %d in all, want %d",
					firstSet, len(seen)-firstSet, len(seen), total)
			}
			if probes == 1 && uint64(len(first)+len(second)) != total {
				t.Errorf("%d + %d probes, want %d", len(first), len(second), total)
			}
		})
	}
}

func TestBackendAutoFallsBackToTheCPUWithANote(t *testing.T) {
	var pcap bytes.Buffer
	s, err := widescan.New(widescan.Config{
		Targets:  windows(t, "2001:db8:1::/56-64"),
		Unblock:  docPrefixes,
		SourceIP: netip.MustParseAddr("2001:db8::1"),
		DryRun:   &pcap,
		Backend:  generator.BackendAuto,
		GPU:      generator.GPUConfig{Worker: "/nonexistent/widescan-gpu"},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Backend != "cpu" || !strings.Contains(st.BackendNote, "nonexistent") {
		t.Errorf("backend %q, note %q: want cpu and a note naming the missing worker", st.Backend, st.BackendNote)
	}
	if st.Sent != 256 || st.Checkpoint != 256 {
		t.Errorf("sent %d, checkpoint %d: want 256 each", st.Sent, st.Checkpoint)
	}
}

func TestBackendGPUFailsWithoutAWorker(t *testing.T) {
	s, err := widescan.New(widescan.Config{
		Targets:  windows(t, "2001:db8:1::/56-64"),
		Unblock:  docPrefixes,
		SourceIP: netip.MustParseAddr("2001:db8::1"),
		DryRun:   &bytes.Buffer{},
		Backend:  generator.BackendGPU,
		GPU:      generator.GPUConfig{Worker: "/nonexistent/widescan-gpu"},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Run(context.Background())
	if !errors.Is(err, generator.ErrNoGPU) {
		t.Fatalf("error %v, want one wrapping generator.ErrNoGPU", err)
	}
	if st.Sent != 0 || st.Checkpoint != 0 {
		t.Errorf("sent %d, checkpoint %d after a failed start", st.Sent, st.Checkpoint)
	}
}

func TestPatternsAndListsAreTargets(t *testing.T) {
	p, err := generator.ParsePattern("2001:db8:7::*:1")
	if err != nil {
		t.Fatal(err)
	}
	l, err := generator.NewTargetList([]netip.Addr{netip.MustParseAddr("2001:db8:8::1"), netip.MustParseAddr("2001:db8:8::2")})
	if err != nil {
		t.Fatal(err)
	}
	var pcap bytes.Buffer
	s, err := widescan.New(widescan.Config{
		Patterns: []generator.Pattern{p},
		List:     l,
		Unblock:  docPrefixes,
		DryRun:   &pcap,
		SourceIP: netip.MustParseAddr("2001:db8::1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Targets != 18 || st.Sent != 18 || len(pcapTargets(t, pcap.Bytes())) != 18 {
		t.Errorf("targets %d, sent %d: want 16 pattern addresses and 2 listed", st.Targets, st.Sent)
	}
	if _, err := widescan.New(widescan.Config{List: &generator.TargetList{}}); !errors.Is(err, widescan.ErrNoTargets) {
		t.Errorf("an empty list: error %v, want ErrNoTargets", err)
	}
}
