// Command widescan-gpu is widescan's GPU worker: it generates a scan's
// targets with the CUDA kernel of package kernels and streams them to its
// parent, the generator's GPU backend (generator.StartGPU), which starts it.
// It is the only program that imports gorgonia.org/cu, whose package init
// calls cuInit and exits the process when that fails; so it runs as a child
// process, and a machine without a GPU costs the parent only a failed start
// (reported as generator.ErrNoGPU, with the text the worker printed).
//
// Build it with the cuda tag, next to the widescan binary (the backend looks
// for it there, then on $PATH; $WIDESCAN_GPU_WORKER overrides both):
//
//	go build -tags cuda -o bin/widescan-gpu ./cmd/widescan-gpu
//
// Building needs cgo, the CUDA driver API header (cuda.h) and libcuda to
// link against (Debian's nvidia-cuda-dev, whose stub library suffices);
// running needs an NVIDIA driver and device. Built without the tag, the
// command only reports that it was built without CUDA and exits 1.
//
// # Usage
//
//	widescan-gpu [-device N] [-frame POSITIONS] [-bench] < plan
//
// It reads one kernels.Plan from stdin, loads the embedded PTX once, and
// answers on stdout with the frames of the kernels package's protocol: a
// Hello frame naming the device, then Data frames of -frame positions each,
// then an End frame. Two CUDA streams, each with its own device buffer and
// pinned host buffer, alternate, so that the kernel of one frame runs while
// the previous frame is copied to the host and written to the pipe. Errors
// go to stderr (and as an Error frame to stdout); the exit status is then 1.
//
// With -bench it writes no targets: it generates the plan's positions twice,
// once kernel only (one stream, no copies) and once with the copies to pinned
// host memory on two streams, and prints one JSON object (GPUBench in package
// generator) to stdout.
package main
