package generator

import (
	"errors"
	"fmt"

	"github.com/p2pnet/widescan/kernels"
)

// ErrGPUUnsupported is wrapped by Generator.Plan (and so by StartGPU, next to
// ErrNoGPU) for a scan the GPU kernel cannot generate: the kernel does
// windows with the low, fixed and random IID modes; eui64 IIDs, patterns and
// target lists are generated on the CPU.
var ErrGPUUnsupported = errors.New("generator: not supported by the GPU kernel")

// Plan returns what the GPU kernel needs to generate this generator's
// targets: the permutation, the window table, the IID mode, the shard and
// the positions [Config.Start, End()). The kernel (kernels/widescan_gen.h)
// computes from it the same candidates as Generate, blocked ones included:
// the blocklist stays on the host (see GPU). The returned plan is new and
// owned by the caller. It returns an error wrapping ErrGPUUnsupported for a
// scan the kernel cannot generate.
func (g *Generator) Plan() (*kernels.Plan, error) {
	switch g.iid.Mode {
	case IIDLow, IIDFixed, IIDRandom:
	default:
		return nil, fmt.Errorf("%s IIDs: %w", g.iid.Mode, ErrGPUUnsupported)
	}
	if len(g.segs) > 0 || len(g.spans) == 0 {
		return nil, fmt.Errorf("patterns and target lists: %w", ErrGPUUnsupported)
	}
	p := &kernels.Plan{
		N:          g.n,
		RBits:      uint64(g.perm.rb),
		LMask:      g.perm.lmask,
		RMask:      g.perm.rmask,
		Keys:       g.perm.key,
		Random:     g.random,
		RandHi:     g.rndHi,
		RandLo:     g.rndLo,
		ShardIndex: g.shardIndex,
		ShardCount: g.shardCount,
		Start:      g.start,
		End:        g.end,
		Shift:      uint64(g.shift),
		Spans:      make([]kernels.Span, len(g.spans)),
		First:      append([]uint32(nil), g.first...),
	}
	for i, s := range g.spans {
		p.Spans[i] = kernels.Span{
			Start: s.start, Hi: s.hi, Lo: s.lo,
			SubMask: s.subMask, SubBits: uint64(s.subBits), HostBits: uint64(s.hostBits),
			One: s.one, MaskHi: s.mhi, MaskLo: s.mlo,
		}
	}
	return p, nil
}

// planBytes returns the encoded Plan; errors wrap ErrGPUUnsupported or
// kernels.ErrPlan.
func (g *Generator) planBytes() ([]byte, error) {
	p, err := g.Plan()
	if err != nil {
		return nil, err
	}
	return p.MarshalBinary()
}
