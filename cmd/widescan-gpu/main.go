//go:build cuda

package main

/*
#cgo LDFLAGS: -lcuda
// Debian's nvidia-cuda-dev puts a link-only libcuda.so here; the real one
// comes with the driver (libcuda.so.1, found at run time).
#cgo linux LDFLAGS: -L/usr/lib/x86_64-linux-gnu/stubs
#include <cuda.h>

static int hostAlloc(void **p, size_t n)
{
	return (int)cuMemHostAlloc(p, n, 0);
}

static int hostFree(void *p)
{
	return (int)cuMemFreeHost(p);
}
*/
import "C"

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"
	"unsafe"

	"github.com/p2pnet/widescan/kernels"
	"gorgonia.org/cu"
)

func main() {
	device := flag.Int("device", 0, "CUDA device ordinal")
	frame := flag.Int("frame", 1<<22, "shard positions per kernel launch and per data frame")
	bench := flag.Bool("bench", false, "time the kernel and the copies; print a JSON report instead of targets")
	flag.Parse()
	// The CUDA context is current on one OS thread: keep main on it.
	runtime.LockOSThread()
	out := bufio.NewWriterSize(os.Stdout, 1<<16)
	err := run(os.Stdin, out, *device, *frame, *bench)
	if err != nil {
		writeText(out, kernels.FrameError, 0, err.Error())
	}
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "widescan-gpu:", err)
		os.Exit(1)
	}
}

// slot is one half of the double buffer: a stream, the device buffer the
// kernel writes and the pinned host buffer the stream copies it to.
type slot struct {
	stream cu.Stream
	dev    cu.DevicePtr
	host   unsafe.Pointer
	j0, n  uint64 // the positions the slot holds
}

// gpu is the loaded module and its buffers.
type gpu struct {
	ctx    cu.CUContext
	fn     cu.Function
	plan   cu.DevicePtr
	slots  [2]slot
	frame  uint64
	desc   string
	closer []func()
}

func run(in io.Reader, out *bufio.Writer, device, frame int, bench bool) error {
	if frame <= 0 || frame > 1<<26 {
		return fmt.Errorf("frame %d: want 1 to 2^26 positions", frame)
	}
	plan, err := kernels.ReadPlan(bufio.NewReader(in))
	if err != nil {
		return err
	}
	enc, err := plan.MarshalBinary()
	if err != nil {
		return err
	}
	g, err := open(device, enc, uint64(frame))
	if err != nil {
		return err
	}
	defer g.close()
	if bench {
		r, err := g.bench(plan.Start, plan.End)
		if err != nil {
			return err
		}
		return json.NewEncoder(out).Encode(r)
	}
	if err := writeText(out, kernels.FrameHello, kernels.ProtocolVersion, g.desc); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	return g.stream(out, plan.Start, plan.End)
}

// open makes a context on the device, loads the PTX, copies the plan and
// allocates the two slots.
func open(device int, enc []byte, frame uint64) (*gpu, error) {
	dev, err := cu.GetDevice(device)
	if err != nil {
		return nil, fmt.Errorf("device %d: %w", device, err)
	}
	name, err := dev.Name()
	if err != nil {
		return nil, fmt.Errorf("device %d: name: %w", device, err)
	}
	major, minor, err := dev.ComputeCapability()
	if err != nil {
		return nil, fmt.Errorf("device %d: compute capability: %w", device, err)
	}
	g := &gpu{frame: frame}
	g.desc = fmt.Sprintf("%s (device %d, compute capability %d.%d, CUDA driver %d)", name, device, major, minor, cu.Version())
	if g.ctx, err = dev.MakeContext(cu.SchedAuto); err != nil {
		return nil, fmt.Errorf("device %d: context: %w", device, err)
	}
	g.closer = append(g.closer, func() { g.ctx.Destroy() })
	mod, err := cu.LoadData(kernels.PTX())
	if err != nil {
		g.close()
		return nil, fmt.Errorf("load PTX on %s: %w", name, err)
	}
	if g.fn, err = mod.Function(kernels.KernelName); err != nil {
		g.close()
		return nil, fmt.Errorf("kernel %s: %w", kernels.KernelName, err)
	}
	if g.plan, err = cu.MemAlloc(int64(len(enc))); err != nil {
		g.close()
		return nil, fmt.Errorf("allocate plan: %w", err)
	}
	g.closer = append(g.closer, func() { cu.MemFree(g.plan) })
	if err := cu.MemcpyHtoD(g.plan, unsafe.Pointer(&enc[0]), int64(len(enc))); err != nil {
		g.close()
		return nil, fmt.Errorf("copy plan: %w", err)
	}
	bytes := int64(frame) * 16
	for i := range g.slots {
		s := &g.slots[i]
		if s.stream, err = cu.MakeStream(cu.NonBlocking); err != nil {
			g.close()
			return nil, fmt.Errorf("stream: %w", err)
		}
		g.closer = append(g.closer, func() { s.stream.Destroy() })
		if s.dev, err = cu.MemAlloc(bytes); err != nil {
			g.close()
			return nil, fmt.Errorf("allocate %d MiB of device memory: %w", bytes>>20, err)
		}
		g.closer = append(g.closer, func() { cu.MemFree(s.dev) })
		if rc := C.hostAlloc(&s.host, C.size_t(bytes)); rc != 0 {
			g.close()
			return nil, fmt.Errorf("allocate %d MiB of pinned host memory: CUDA error %d", bytes>>20, int(rc))
		}
		g.closer = append(g.closer, func() { C.hostFree(s.host) })
	}
	return g, nil
}

// close frees everything open allocated, in reverse order.
func (g *gpu) close() {
	for i := len(g.closer) - 1; i >= 0; i-- {
		g.closer[i]()
	}
	g.closer = nil
}

// launch queues the kernel for positions [j0, j0+n) into s's device buffer
// on s's stream and, when copy is set, the copy to s's host buffer.
func (g *gpu) launch(s *slot, j0, n uint64, copy bool) error {
	s.j0, s.n = j0, n
	plan, dout := uint64(g.plan), uint64(s.dev)
	args := []unsafe.Pointer{
		unsafe.Pointer(&plan), unsafe.Pointer(&j0), unsafe.Pointer(&n), unsafe.Pointer(&dout),
	}
	blocks := int((n + kernels.KernelBlock - 1) / kernels.KernelBlock)
	if err := g.fn.Launch(blocks, 1, 1, kernels.KernelBlock, 1, 1, 0, s.stream, args); err != nil {
		return fmt.Errorf("launch at position %d: %w", j0, err)
	}
	if !copy {
		return nil
	}
	if err := cu.MemcpyDtoHAsync(s.host, s.dev, int64(n)*16, s.stream); err != nil {
		return fmt.Errorf("copy at position %d: %w", j0, err)
	}
	return nil
}

// stream generates [start, end) frame by frame, alternating the slots: while
// the GPU runs frame f on one stream, the host writes frame f-1 from the
// other slot's pinned buffer.
func (g *gpu) stream(out *bufio.Writer, start, end uint64) error {
	var pending *slot
	f := 0
	for j := start; j < end || pending != nil; f++ {
		var cur *slot
		if j < end {
			cur = &g.slots[f%2]
			n := min(g.frame, end-j)
			if err := g.launch(cur, j, n, true); err != nil {
				return err
			}
			j += n
		}
		if pending != nil {
			if err := g.hand(out, pending); err != nil {
				return err
			}
		}
		pending = cur
	}
	return writeHeader(out, kernels.FrameHeader{Kind: kernels.FrameEnd, Pos: end})
}

// hand waits for s's stream and writes s's targets as a data frame.
func (g *gpu) hand(out *bufio.Writer, s *slot) error {
	if err := s.stream.Synchronize(); err != nil {
		return fmt.Errorf("frame at position %d: %w", s.j0, err)
	}
	if err := writeHeader(out, kernels.FrameHeader{Kind: kernels.FrameData, Count: uint32(s.n), Pos: s.j0}); err != nil {
		return err
	}
	_, err := out.Write(unsafe.Slice((*byte)(s.host), s.n*16))
	return err
}

// benchReport is the JSON object of -bench; generator.GPUBench decodes it.
type benchReport struct {
	Device         string  `json:"device"`
	Targets        uint64  `json:"targets"`
	KernelSeconds  float64 `json:"kernel_seconds"`
	KernelPerSec   float64 `json:"kernel_targets_per_second"`
	HostSeconds    float64 `json:"host_seconds"`
	HostPerSec     float64 `json:"host_targets_per_second"`
	FramePositions uint64  `json:"frame_positions"`
}

// bench times [start, end) kernel only (every frame into one device buffer
// on one stream, timed by events), then with the copies to pinned host
// memory on both streams (wall clock, to the last synchronisation).
func (g *gpu) bench(start, end uint64) (*benchReport, error) {
	r := &benchReport{Device: g.desc, Targets: end - start, FramePositions: g.frame}
	if end <= start {
		return r, nil
	}
	// Warm up: the first launch pays for the module's lazy loading.
	if err := g.launch(&g.slots[0], start, min(g.frame, end-start), false); err != nil {
		return nil, err
	}
	if err := g.slots[0].stream.Synchronize(); err != nil {
		return nil, err
	}
	t0, err := cu.MakeEvent(cu.DefaultEvent)
	if err != nil {
		return nil, err
	}
	t1, err := cu.MakeEvent(cu.DefaultEvent)
	if err != nil {
		return nil, err
	}
	s := &g.slots[0]
	if err := t0.Record(s.stream); err != nil {
		return nil, err
	}
	for j := start; j < end; {
		n := min(g.frame, end-j)
		if err := g.launch(s, j, n, false); err != nil {
			return nil, err
		}
		j += n
	}
	if err := t1.Record(s.stream); err != nil {
		return nil, err
	}
	if err := t1.Synchronize(); err != nil {
		return nil, err
	}
	ms, err := t0.Elapsed(t1)
	if err != nil {
		return nil, err
	}
	r.KernelSeconds = ms / 1e3
	r.KernelPerSec = float64(r.Targets) / r.KernelSeconds

	began := time.Now()
	f := 0
	for j := start; j < end; f++ {
		s := &g.slots[f%2]
		if f >= 2 {
			if err := s.stream.Synchronize(); err != nil {
				return nil, err
			}
		}
		n := min(g.frame, end-j)
		if err := g.launch(s, j, n, true); err != nil {
			return nil, err
		}
		j += n
	}
	for i := range g.slots {
		if err := g.slots[i].stream.Synchronize(); err != nil {
			return nil, err
		}
	}
	r.HostSeconds = time.Since(began).Seconds()
	r.HostPerSec = float64(r.Targets) / r.HostSeconds
	return r, nil
}

func writeHeader(out *bufio.Writer, h kernels.FrameHeader) error {
	var b [kernels.FrameHeaderSize]byte
	h.Put(b[:])
	_, err := out.Write(b[:])
	return err
}

func writeText(out *bufio.Writer, kind kernels.FrameKind, pos uint64, text string) error {
	if len(text) > kernels.MaxFrameText {
		text = text[:kernels.MaxFrameText]
	}
	if err := writeHeader(out, kernels.FrameHeader{Kind: kind, Count: uint32(len(text)), Pos: pos}); err != nil {
		return err
	}
	_, err := out.WriteString(text)
	return err
}
