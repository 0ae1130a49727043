package kernels

import _ "embed"

//go:embed ptx/widescan_gen.ptx
var ptx string

// PTX returns the PTX of the generation kernel, as build.sh compiled it from
// widescan_gen.cu for compute capability 8.0 and later (loaded by the
// driver's JIT). The string is NUL-free; cuModuleLoadData needs it
// NUL-terminated (gorgonia.org/cu's LoadData does that).
func PTX() string { return ptx }

// KernelName is the entry point in PTX: wsg_generate(plan, j0, count, out)
// writes the targets of shard positions [j0, j0+count) to out, 16 bytes
// each, blocked candidates included. Every parameter is 64 bits wide.
const KernelName = "wsg_generate"

// KernelBlock is the most threads per block the kernel is compiled for
// (__launch_bounds__).
const KernelBlock = 256
