//go:build cgo

// Package hostcheck compiles kernels/widescan_gen.h with the host C compiler
// (through cgo) and runs it on the CPU, so that tests can check the kernel's
// arithmetic against the Go generator bit for bit without a GPU or a CUDA
// toolchain. It is test support: nothing in widescan's library or binaries
// imports it.
package hostcheck

/*
#cgo CFLAGS: -O2 -std=c99 -Wall -Wextra -Werror -I${SRCDIR}/../..
#include "widescan_gen.h"

static int hc_plan_ok(const wsg_u64 *plan, wsg_u64 words)
{
	return wsg_plan_ok(plan, words);
}

static void hc_fill(const wsg_u64 *plan, wsg_u64 j0, wsg_u64 count, wsg_u64 *out)
{
	for (wsg_u64 i = 0; i < count; i++)
		wsg_target(plan, j0 + i, &out[2 * i], &out[2 * i + 1]);
}

static wsg_u64 hc_perm_at(const wsg_u64 *plan, wsg_u64 i)
{
	return wsg_perm_at(plan, i);
}

static void hc_candidate(const wsg_u64 *plan, wsg_u64 idx, wsg_u64 *hi, wsg_u64 *lo)
{
	wsg_candidate(plan, idx, hi, lo);
}
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"unsafe"
)

// ErrPlan is returned by Load for a plan the header's wsg_plan_ok rejects.
var ErrPlan = errors.New("hostcheck: widescan_gen.h rejects the plan")

// Plan is an encoded kernels.Plan copied into 8-byte aligned memory, as the
// kernel reads it from device memory. It is safe for concurrent use.
type Plan struct {
	w []uint64
}

// Load copies an encoded plan (kernels.Plan.MarshalBinary) and checks its
// header with wsg_plan_ok.
func Load(enc []byte) (*Plan, error) {
	if len(enc) == 0 || len(enc)%8 != 0 {
		return nil, ErrPlan
	}
	w := make([]uint64, len(enc)/8)
	for i := range w {
		w[i] = binary.LittleEndian.Uint64(enc[8*i:])
	}
	p := &Plan{w: w}
	if C.hc_plan_ok(p.ptr(), C.wsg_u64(len(w))) == 0 {
		return nil, ErrPlan
	}
	return p, nil
}

func (p *Plan) ptr() *C.wsg_u64 { return (*C.wsg_u64)(unsafe.Pointer(&p.w[0])) }

// Fill sets out to the targets of shard positions [j0, j0+len(out)) as
// wsg_target computes them: what the kernel writes for the same launch. The
// positions must lie in the shard.
func (p *Plan) Fill(j0 uint64, out [][16]byte) {
	if len(out) == 0 {
		return
	}
	C.hc_fill(p.ptr(), C.wsg_u64(j0), C.wsg_u64(len(out)), (*C.wsg_u64)(unsafe.Pointer(&out[0])))
}

// PermAt returns wsg_perm_at(i), the permutation's image of i < N.
func (p *Plan) PermAt(i uint64) uint64 {
	return uint64(C.hc_perm_at(p.ptr(), C.wsg_u64(i)))
}

// Candidate returns wsg_candidate(idx) for an index idx < N, in network byte
// order.
func (p *Plan) Candidate(idx uint64) [16]byte {
	var hi, lo C.wsg_u64
	C.hc_candidate(p.ptr(), C.wsg_u64(idx), &hi, &lo)
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], uint64(hi))
	binary.BigEndian.PutUint64(a[8:], uint64(lo))
	return a
}
