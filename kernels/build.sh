#!/bin/sh
# build.sh regenerates ptx/widescan_gen.ptx from widescan_gen.cu and
# widescan_gen.h with pinned flags, so that the output is a function of the
# sources and the nvcc release alone. The committed PTX was made with nvcc
# 11.8 (Debian's nvidia-cuda-toolkit); CI runs this script and fails on a
# diff (git diff --exit-code kernels/ptx).
#
# Flags: -ptx for a virtual architecture (compute_80: A100, and H100/H200
# through the driver's JIT, which loads PTX for any newer device; PTX ISA 7.8
# needs a driver for CUDA 11.8 or later), -O3 (the default, pinned), no -G or
# -lineinfo (which would embed paths), -std=c++14.
set -eu
cd "$(dirname "$0")"
NVCC=${NVCC:-nvcc}
OUT=${OUT:-ptx} # the output directory (the test points it at a temporary one)
"$NVCC" --version | grep -q 'release 11.8' || echo "build.sh: warning: not nvcc 11.8; the PTX may differ from the committed one" >&2
"$NVCC" -ptx -arch=compute_80 -O3 -std=c++14 \
	-o "$OUT/widescan_gen.ptx.tmp" widescan_gen.cu
# nvcc writes no timestamps or paths into PTX (checked: two runs are identical).
mv "$OUT/widescan_gen.ptx.tmp" "$OUT/widescan_gen.ptx"
