package generator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/p2pnet/widescan/kernels"
)

var (
	// ErrNoGPU is wrapped by StartGPU and OpenBackend when the GPU backend
	// cannot start: the worker executable is missing or cannot run, or it
	// exits before it reports a device (no CUDA driver, no device, a PTX the
	// driver rejects). The error text carries the worker's reason.
	ErrNoGPU = errors.New("generator: no usable GPU")
	// ErrGPUWorker is wrapped by GPU.Generate when the worker fails after it
	// started: it exits early, reports an error or breaks the protocol. The
	// error text carries the worker's reason.
	ErrGPUWorker = errors.New("generator: GPU worker failed")
)

// WorkerName is the file name of the GPU worker executable
// (cmd/widescan-gpu, built with -tags cuda).
const WorkerName = "widescan-gpu"

// EnvGPUWorker names the environment variable that gives the worker's path
// when GPUConfig.Worker is empty.
const EnvGPUWorker = "WIDESCAN_GPU_WORKER"

// DefaultGPUFrame is the number of shard positions per kernel launch (and per
// frame the worker sends) when GPUConfig.Frame is 0: 2^22 positions, 64 MiB of
// targets per buffer.
const DefaultGPUFrame = 1 << 22

// DefaultGPUStartTimeout is how long StartGPU waits for the worker to report
// its device when GPUConfig.StartTimeout is 0. Loading the PTX makes the
// driver compile it for the device, which takes a moment the first time.
const DefaultGPUStartTimeout = 60 * time.Second

// Backend selects where targets are generated. The zero value is BackendCPU.
type Backend int

const (
	// BackendCPU generates on the CPU (Generator.Generate).
	BackendCPU Backend = iota
	// BackendGPU generates on the GPU through the worker and fails with an
	// error wrapping ErrNoGPU when it cannot.
	BackendGPU
	// BackendAuto uses the GPU when the worker starts, else the CPU, and
	// reports why (OpenBackend's fallback).
	BackendAuto
)

// String returns "cpu", "gpu" or "auto", the names ParseBackend reads.
func (b Backend) String() string {
	switch b {
	case BackendCPU:
		return "cpu"
	case BackendGPU:
		return "gpu"
	case BackendAuto:
		return "auto"
	}
	return "Backend(" + strconv.Itoa(int(b)) + ")"
}

// ParseBackend parses "auto", "cpu" or "gpu".
func ParseBackend(s string) (Backend, error) {
	switch s {
	case "cpu":
		return BackendCPU, nil
	case "gpu":
		return BackendGPU, nil
	case "auto":
		return BackendAuto, nil
	}
	return 0, fmt.Errorf("backend %q: want auto, cpu or gpu", s)
}

// Set parses s into b (ParseBackend), so that a *Backend is a flag.Value
// (and a pflag.Value, with Type).
func (b *Backend) Set(s string) error {
	v, err := ParseBackend(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Type returns "backend", the value's name in pflag's help.
func (b *Backend) Type() string { return "backend" }

// GPUConfig configures the GPU backend. The zero value of each field is its
// default.
type GPUConfig struct {
	// Worker is the path of the worker executable. "" means the value of
	// $WIDESCAN_GPU_WORKER, else widescan-gpu in the directory of the
	// running executable, else widescan-gpu on $PATH.
	Worker string
	// Device is the CUDA device ordinal. 0 is the first device.
	Device int
	// Frame is the number of shard positions per kernel launch; it is
	// rounded up to a multiple of the generator's batch size. 0 means
	// DefaultGPUFrame.
	Frame int
	// StartTimeout bounds the wait for the worker's device report. 0 means
	// DefaultGPUStartTimeout.
	StartTimeout time.Duration
}

// Source is what a scan reads targets from: a *Generator (the CPU backend)
// or a *GPU. Generate sends batches in position order and closes out; Put
// hands a batch back for reuse.
type Source interface {
	Generate(ctx context.Context, out chan<- *Batch) error
	Put(b *Batch)
}

// OpenBackend returns the source of g's targets for backend b:
//
//   - BackendCPU: g itself.
//   - BackendGPU: a started GPU (StartGPU), or an error wrapping ErrNoGPU.
//   - BackendAuto: a started GPU; or, when it cannot start, g and the
//     reason in fallback (an error wrapping ErrNoGPU), which the caller
//     should show. err is nil then.
//
// A GPU source must be drained with Generate or released with Close; ctx
// bounds only the start.
func OpenBackend(ctx context.Context, g *Generator, b Backend, cfg GPUConfig) (src Source, fallback, err error) {
	switch b {
	case BackendCPU:
		return g, nil, nil
	case BackendGPU, BackendAuto:
		gpu, err := StartGPU(ctx, g, cfg)
		if err == nil {
			return gpu, nil, nil
		}
		if b == BackendAuto && errors.Is(err, ErrNoGPU) {
			return g, err, nil
		}
		return nil, nil, err
	}
	return nil, nil, fmt.Errorf("backend %s: unknown", b)
}

// FindWorker returns the path of the worker executable: path when it is not
// empty, else $WIDESCAN_GPU_WORKER, else widescan-gpu beside the running
// executable, else widescan-gpu on $PATH. The error says where it looked.
func FindWorker(path string) (string, error) {
	if path == "" {
		path = os.Getenv(EnvGPUWorker)
	}
	if path != "" {
		return exec.LookPath(path)
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), WorkerName)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath(WorkerName)
	if err != nil {
		return "", fmt.Errorf("%s not beside the executable, nor on $PATH, and $%s unset", WorkerName, EnvGPUWorker)
	}
	return p, nil
}

// GPU is the GPU backend: a running worker process (cmd/widescan-gpu) that
// generates a Generator's targets with the kernels package's CUDA kernel
// and streams them over a pipe. Its batches are the same, bit for bit and
// batch for batch, as Generator.Generate's; blocked candidates are dropped
// on this side, by the same code as on the CPU.
//
// A GPU is used once: Generate, or Close when Generate is not called.
// Generate and Close are safe to call concurrently with each other.
type GPU struct {
	g      *Generator
	path   string
	cmd    *exec.Cmd
	out    *bufio.Reader
	stderr *tail
	device string

	generated atomic.Bool
	killOnce  sync.Once
	waitOnce  sync.Once
	waitErr   error
}

// StartGPU starts the worker for g, sends it g's Plan and waits until it
// reports its device (at most cfg.StartTimeout, and until ctx is done). The
// worker then waits on the pipe until Generate reads from it.
//
// Every failure to start wraps ErrNoGPU and says why: the worker is missing
// or cannot be executed, or it exited first (its stdout and stderr, where
// gorgonia.org/cu reports a failed cuInit, are quoted), or it timed out.
func StartGPU(ctx context.Context, g *Generator, cfg GPUConfig) (*GPU, error) {
	path, err := FindWorker(cfg.Worker)
	if err != nil {
		return nil, fmt.Errorf("%w: worker: %v", ErrNoGPU, err)
	}
	plan, err := g.planBytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoGPU, err)
	}
	size := g.batchSize
	frame := cfg.Frame
	if frame <= 0 {
		frame = DefaultGPUFrame
	}
	frame = (frame + size - 1) / size * size
	timeout := cfg.StartTimeout
	if timeout <= 0 {
		timeout = DefaultGPUStartTimeout
	}
	x := &GPU{g: g, path: path, stderr: &tail{max: 4096}}
	x.cmd = exec.Command(path, "-device", strconv.Itoa(cfg.Device), "-frame", strconv.Itoa(frame))
	x.cmd.Stdin = bytes.NewReader(plan)
	x.cmd.Stderr = x.stderr
	stdout, err := x.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: worker %s: %v", ErrNoGPU, path, err)
	}
	if err := x.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: worker %s: %v", ErrNoGPU, path, err)
	}
	x.out = bufio.NewReaderSize(stdout, 1<<16)

	type hello struct {
		device string
		junk   []byte
		err    error
	}
	done := make(chan hello, 1)
	go func() {
		d, junk, err := readHello(x.out)
		done <- hello{d, junk, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var h hello
	select {
	case h = <-done:
	case <-timer.C:
		x.kill()
		h = <-done
		h.err = fmt.Errorf("no device report within %v", timeout)
	case <-ctx.Done():
		x.kill()
		<-done
		x.wait()
		return nil, ctx.Err()
	}
	if h.err != nil {
		x.kill()
		werr := x.wait()
		return nil, fmt.Errorf("%w: worker %s: %s", ErrNoGPU, path, x.reason(h.err, h.junk, werr))
	}
	x.device = h.device
	return x, nil
}

// Device returns the worker's description of its device (name, compute
// capability, driver version).
func (x *GPU) Device() string { return x.device }

// Put hands a batch received from Generate back for reuse (Generator.Put).
func (x *GPU) Put(b *Batch) { x.g.Put(b) }

// Close stops the worker if it is still running and reaps it. It returns
// nil; calling it again, or after Generate, does nothing.
func (x *GPU) Close() error {
	x.kill()
	x.wait()
	return nil
}

// Generate reads the worker's frames and sends the targets to out in
// batches, as Generator.Generate does: the same batch boundaries (chunks of
// BatchSize from Config.Start), the blocked candidates dropped and counted
// in the Generator's Blocked, batches recycled through the Generator's free
// list. It closes out before it returns.
//
// It returns nil when the worker sent every position and exited cleanly,
// ctx.Err() when ctx was done first (the worker is killed), ErrGenerated when
// called twice or after the Generator's own Generate, and an error wrapping
// ErrGPUWorker with the worker's reason when it failed.
func (x *GPU) Generate(ctx context.Context, out chan<- *Batch) error {
	defer close(out)
	if !x.generated.CompareAndSwap(false, true) || !x.g.started.CompareAndSwap(false, true) {
		x.Close()
		return ErrGenerated
	}
	stop := context.AfterFunc(ctx, x.kill)
	defer stop()
	err := x.stream(ctx, out)
	if err != nil {
		x.kill()
	}
	werr := x.wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("%w: worker %s: %s", ErrGPUWorker, x.path, x.reason(err, nil, werr))
	}
	if werr != nil {
		return fmt.Errorf("%w: worker %s: %s", ErrGPUWorker, x.path, x.reason(werr, nil, nil))
	}
	return nil
}

// stream reads frames until the End frame.
func (x *GPU) stream(ctx context.Context, out chan<- *Batch) error {
	g := x.g
	size := uint64(g.batchSize)
	next := g.start
	var hdr [kernels.FrameHeaderSize]byte
	for {
		if _, err := io.ReadFull(x.out, hdr[:]); err != nil {
			return fmt.Errorf("read frame at position %d: %w", next, noEOF(err))
		}
		h, err := kernels.ParseFrameHeader(hdr[:])
		if err != nil {
			return err
		}
		switch h.Kind {
		case kernels.FrameEnd:
			if h.Pos != next || next != g.end {
				return fmt.Errorf("end frame at position %d, want %d", h.Pos, g.end)
			}
			return nil
		case kernels.FrameError:
			text := make([]byte, h.Count)
			io.ReadFull(x.out, text)
			return errors.New(strings.TrimSpace(string(text)))
		case kernels.FrameData:
		default:
			return fmt.Errorf("unexpected %s frame", h.Kind)
		}
		end := h.Pos + uint64(h.Count)
		if h.Pos != next || h.Count == 0 || end > g.end || end < h.Pos {
			return fmt.Errorf("data frame [%d, %d), want one from %d to at most %d", h.Pos, end, next, g.end)
		}
		for p := h.Pos; p < end; {
			// The CPU's chunk boundaries: multiples of size from g.start.
			e := min(end, g.start+((p-g.start)/size+1)*size)
			if err := x.batch(ctx, out, p, e); err != nil {
				return err
			}
			p = e
		}
		next = end
	}
}

// batch reads the targets of positions [p, e) into a batch, drops the blocked
// ones and sends it.
func (x *GPU) batch(ctx context.Context, out chan<- *Batch, p, e uint64) error {
	g := x.g
	b := g.get()
	t := b.Targets[:e-p]
	// [16]byte has no padding: the targets are len(t)*16 contiguous bytes.
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&t[0])), len(t)*16)
	if _, err := io.ReadFull(x.out, raw); err != nil {
		g.Put(b)
		return fmt.Errorf("read targets at position %d: %w", p, noEOF(err))
	}
	b.Pos, b.Next = p, e
	b.dropped = b.dropped[:0]
	if len(g.partial) > 0 {
		w := 0
		for i, a := range t {
			if g.isBlocked(binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])) {
				b.dropped = append(b.dropped, uint32(i))
				continue
			}
			t[w] = a
			w++
		}
		t = t[:w]
		if d := len(b.dropped); d > 0 {
			g.blocked.Add(uint64(d))
		}
	}
	b.Targets = t
	if len(t) == 0 {
		g.Put(b)
		return nil
	}
	select {
	case out <- b:
		return nil
	case <-ctx.Done():
		g.Put(b)
		return ctx.Err()
	}
}

// kill stops the worker process (once; an exited one is left alone).
func (x *GPU) kill() {
	x.killOnce.Do(func() {
		if x.cmd.Process != nil {
			x.cmd.Process.Kill()
		}
	})
}

// wait reaps the worker once and returns its exit error.
func (x *GPU) wait() error {
	x.waitOnce.Do(func() { x.waitErr = x.cmd.Wait() })
	return x.waitErr
}

// reason composes why the worker failed: err, then what it printed (stdout
// junk before the hello, where gorgonia.org/cu reports a failed cuInit, and
// the tail of stderr), then its exit status.
func (x *GPU) reason(err error, junk []byte, werr error) string {
	var parts []string
	if s := strings.TrimSpace(string(junk)); s != "" {
		parts = append(parts, s)
	}
	if s := strings.TrimSpace(x.stderr.String()); s != "" {
		parts = append(parts, s)
	}
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		parts = append(parts, ee.String())
	}
	if len(parts) == 0 || err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errExited) {
		parts = append([]string{err.Error()}, parts...)
	}
	return strings.Join(parts, "; ")
}

// errExited says the worker closed its stdout before the hello.
var errExited = errors.New("exited before reporting a device")

// readHello reads the worker's Hello frame and returns the device text.
// When the worker writes something else first, that (up to 4 KiB) is junk.
func readHello(r *bufio.Reader) (device string, junk []byte, err error) {
	var hdr [kernels.FrameHeaderSize]byte
	n, err := io.ReadFull(r, hdr[:])
	if err != nil {
		return "", hdr[:n], errExited
	}
	h, herr := kernels.ParseFrameHeader(hdr[:])
	if herr != nil || h.Kind != kernels.FrameHello && h.Kind != kernels.FrameError {
		rest, _ := io.ReadAll(io.LimitReader(r, 4096))
		return "", append(hdr[:], rest...), errExited
	}
	text := make([]byte, h.Count)
	if _, err := io.ReadFull(r, text); err != nil {
		return "", nil, errExited
	}
	if h.Kind == kernels.FrameError {
		return "", text, errExited
	}
	if h.Pos != kernels.ProtocolVersion {
		return "", nil, fmt.Errorf("worker speaks protocol %d, want %d", h.Pos, kernels.ProtocolVersion)
	}
	return string(text), nil, nil
}

// noEOF turns io.EOF into io.ErrUnexpectedEOF: the stream ends with an End
// frame, never at a frame boundary.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// tail is an io.Writer that keeps the last max bytes written to it. It is
// safe for concurrent use.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
