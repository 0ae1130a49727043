// Package kernels holds widescan's CUDA target generation: the kernel source
// (widescan_gen.cu), the arithmetic header it shares with a host-compiled
// test (widescan_gen.h), the PTX compiled from them (ptx/widescan_gen.ptx,
// committed and embedded, so building widescan needs no CUDA toolchain), the
// flat Plan that tells the kernel what to generate, and the frame protocol
// the GPU worker (cmd/widescan-gpu) speaks to the generator's GPU backend.
//
// This package links no CUDA and needs no GPU: it is plain Go. Only the
// worker executable, built with the cuda tag, imports gorgonia.org/cu.
//
// # Regenerating the PTX
//
// kernels/build.sh runs nvcc with pinned flags (-ptx -arch=compute_80 -O3
// -std=c++14, nvcc 11.8 from Debian's nvidia-cuda-toolkit); its output is
// deterministic, and CI checks that the committed PTX is what the sources
// produce.
//
// # Verification
//
// The header is compiled by the host C compiler in a cgo test
// (kernels/internal/hostcheck) and compared with the Go generator bit for
// bit over many windows, IID modes, seeds, shards and resume positions. That
// checks the arithmetic the kernel runs, not the device execution: the
// comparison of the worker's output on a real GPU is the cuda-tagged test of
// cmd/widescan-gpu, which skips without a device.
package kernels
