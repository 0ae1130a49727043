package generator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// GPUBench is the GPU worker's benchmark of a generator's positions (the
// JSON object widescan-gpu -bench prints). Rates are targets per second.
type GPUBench struct {
	// Device describes the GPU (name, compute capability, driver).
	Device string `json:"device"`
	// Targets is the number of shard positions generated in each pass.
	Targets uint64 `json:"targets"`
	// KernelSeconds and KernelPerSecond time the kernel alone: every frame
	// written to device memory on one stream, timed by CUDA events.
	KernelSeconds   float64 `json:"kernel_seconds"`
	KernelPerSecond float64 `json:"kernel_targets_per_second"`
	// HostSeconds and HostPerSecond time the targets delivered to pinned
	// host memory: kernels and copies on two streams, wall clock.
	HostSeconds   float64 `json:"host_seconds"`
	HostPerSecond float64 `json:"host_targets_per_second"`
	// FramePositions is the positions per kernel launch.
	FramePositions uint64 `json:"frame_positions"`
}

// BenchGPU runs the worker in benchmark mode over g's positions
// [Config.Start, End()) and returns its report. It does not call Generate.
// Errors wrap ErrNoGPU (with the worker's reason) when the worker cannot
// run; ctx kills the worker.
func BenchGPU(ctx context.Context, g *Generator, cfg GPUConfig) (GPUBench, error) {
	var r GPUBench
	path, err := FindWorker(cfg.Worker)
	if err != nil {
		return r, fmt.Errorf("%w: worker: %v", ErrNoGPU, err)
	}
	plan, err := g.planBytes()
	if err != nil {
		return r, fmt.Errorf("%w: %w", ErrNoGPU, err)
	}
	frame := cfg.Frame
	if frame <= 0 {
		frame = DefaultGPUFrame
	}
	cmd := exec.CommandContext(ctx, path, "-bench", "-device", strconv.Itoa(cfg.Device), "-frame", strconv.Itoa(frame))
	cmd.Stdin = bytes.NewReader(plan)
	var stdout bytes.Buffer
	stderr := &tail{max: 4096}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	if err == nil {
		if err = json.Unmarshal(stdout.Bytes(), &r); err == nil {
			return r, nil
		}
	}
	parts := []string{err.Error()}
	for _, s := range []string{stdout.String(), stderr.String()} {
		if s = strings.TrimSpace(s); s != "" && len(s) < 4096 {
			parts = append(parts, s)
		}
	}
	return r, fmt.Errorf("%w: worker %s: %s", ErrNoGPU, path, strings.Join(parts, "; "))
}
