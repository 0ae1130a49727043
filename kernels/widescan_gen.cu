/*
 * widescan_gen.cu: the GPU target generation kernel. All arithmetic is in
 * widescan_gen.h, which the host test compiles too; this file only maps
 * threads to shard positions. Compiled to ptx/widescan_gen.ptx by build.sh.
 */
#include "widescan_gen.h"

/*
 * wsg_generate writes the targets of shard positions [j0, j0 + count) to
 * out, 16 bytes (one address in network byte order) per position, in
 * position order, blocked candidates included (the host drops them). plan is
 * the flat plan in device memory. Every parameter is 64 bits wide, as
 * gorgonia.org/cu's Function.Launch passes each as one 64-bit value. Any
 * grid size works (grid-stride loop).
 */
extern "C" __global__ void __launch_bounds__(256)
wsg_generate(const wsg_u64 *__restrict__ plan, wsg_u64 j0, wsg_u64 count, ulonglong2 *__restrict__ out)
{
	const wsg_u64 stride = (wsg_u64)gridDim.x * blockDim.x;
	for (wsg_u64 i = (wsg_u64)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride) {
		wsg_u64 w0, w1;
		wsg_target(plan, j0 + i, &w0, &w1);
		out[i] = make_ulonglong2(w0, w1);
	}
}
