package kernels

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// Plan word layout: the constants of widescan_gen.h (WSG_W_*, WSG_S_*).
const (
	planMagic       = 0x314e414c50475357 // "WSGPLAN1" little-endian
	planVersion     = 1
	hdrWords        = 24 // header words; 21..23 reserved
	spanWords       = 9
	planHeaderBytes = 8 * hdrWords
	maxPlanWords    = 1 << 26 // 512 MiB: far above any real plan
	maxTableEntries = 1<<20 + 1
	maxSpans        = 1 << 24
)

// Header words (WSG_W_*).
const (
	wMagic      = 0
	wVersion    = 1
	wWords      = 2
	wN          = 3
	wRB         = 4
	wLMask      = 5
	wRMask      = 6
	wKey        = 7 // 4 words
	wRandom     = 11
	wRndHi      = 12
	wRndLo      = 13
	wShardIndex = 14
	wShardCount = 15
	wStart      = 16
	wEnd        = 17
	wShift      = 18
	wNSpans     = 19
	wNFirst     = 20
)

// Span words (WSG_S_*).
const (
	sStart = iota
	sHi
	sLo
	sSubMask
	sSubBits
	sHostBits
	sOne
	sMHi
	sMLo
)

// ErrPlan is wrapped by Plan.UnmarshalBinary, ReadPlan and Plan.Validate for
// a malformed plan.
var ErrPlan = errors.New("kernels: bad plan")

// Span is one window of the index space as the kernel reads it; the fields
// are those of the generator's internal span (see generator.Generator.Candidate
// for their meaning).
type Span struct {
	// Start is the window's first index.
	Start uint64
	// Hi and Lo are the window's prefix as a 128-bit integer, a fixed IID
	// suffix included.
	Hi, Lo uint64
	// SubMask is 2^SubBits - 1; SubBits (0..63) is End - Len of the window.
	SubMask uint64
	SubBits uint64
	// HostBits is 128 - End (0..128).
	HostBits uint64
	// One is 1 for the low IID mode in a window with host bits, else 0.
	One uint64
	// MaskHi and MaskLo are the host-bit mask for the random IID mode, else 0.
	MaskHi, MaskLo uint64
}

// Plan is everything the kernel needs to generate a shard's targets: the
// permutation, the window table, the IID mode and the shard positions. It
// encodes to a flat array of little-endian 64-bit words (MarshalBinary)
// that the worker reads from its stdin and copies to the device as is; the
// layout is documented in widescan_gen.h. Build one with
// generator.Generator.Plan; a Plan is a plain value, not safe for concurrent
// mutation.
type Plan struct {
	// N is the size of the index space, 1 .. 2^64-1.
	N uint64
	// RBits is the number of bits of the Feistel network's low half (b/2);
	// LMask and RMask are the masks of the high and low halves.
	RBits        uint64
	LMask, RMask uint64
	// Keys are the round keys.
	Keys [4]uint64
	// Random is true for the random IID mode; RandHi and RandLo are its keys.
	Random         bool
	RandHi, RandLo uint64
	// ShardIndex and ShardCount select the shard (ShardCount >= 1).
	ShardIndex, ShardCount uint64
	// Start and End are the shard positions [Start, End) to generate.
	Start, End uint64
	// Shift is the window table's bucket shift: index idx lies in the spans
	// First[idx>>Shift] .. First[idx>>Shift+1].
	Shift uint64
	// Spans are the windows in index order; First is the window table.
	Spans []Span
	First []uint32
}

// Validate checks that the kernel can run p without reading out of bounds:
// the halves and masks agree with N, the spans are in order within [0, N),
// the window table covers [0, N) and each entry names the span it must, the
// shard and the positions are in range.
// Errors wrap ErrPlan.
func (p *Plan) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrPlan, fmt.Sprintf(format, a...))
	}
	if p.N == 0 {
		return bad("empty index space")
	}
	b := max(uint64(bits.Len64(p.N-1)), 2)
	if p.RBits != b/2 || p.RMask != 1<<p.RBits-1 || p.LMask != 1<<(b-p.RBits)-1 {
		return bad("Feistel halves %d bits, masks %#x %#x do not fit n=%d", p.RBits, p.LMask, p.RMask, p.N)
	}
	if len(p.Spans) == 0 || len(p.Spans) > maxSpans {
		return bad("%d spans", len(p.Spans))
	}
	for i, s := range p.Spans {
		if s.SubBits > 63 || s.SubMask != 1<<s.SubBits-1 || s.HostBits > 128 || s.One > 1 {
			return bad("span %d: subnet bits %d, mask %#x, host bits %d, one %d", i, s.SubBits, s.SubMask, s.HostBits, s.One)
		}
		if (i == 0) != (s.Start == 0) || i > 0 && s.Start <= p.Spans[i-1].Start || s.Start >= p.N {
			return bad("span %d starts at %d", i, s.Start)
		}
	}
	if p.Shift > 63 {
		return bad("table shift %d", p.Shift)
	}
	if want := (p.N-1)>>p.Shift + 2; uint64(len(p.First)) != want || want > maxTableEntries {
		return bad("window table of %d entries, want %d (at most %d)", len(p.First), want, maxTableEntries)
	}
	// First[k] must name the span holding index k << Shift, the last entry
	// the last span: then every search stays within the spans.
	i := 0
	for k, f := range p.First {
		if k == len(p.First)-1 {
			i = len(p.Spans) - 1
		} else {
			for x := uint64(k) << p.Shift; i+1 < len(p.Spans) && p.Spans[i+1].Start <= x; {
				i++
			}
		}
		if int(f) != i {
			return bad("window table entry %d names span %d, want %d", k, f, i)
		}
	}
	if p.ShardCount == 0 || p.ShardIndex >= p.ShardCount {
		return bad("shard %d of %d", p.ShardIndex, p.ShardCount)
	}
	var size uint64 // positions of the shard: p < N with p ≡ ShardIndex
	if p.ShardIndex < p.N {
		size = (p.N-p.ShardIndex-1)/p.ShardCount + 1
	}
	if p.Start > p.End || p.End > size {
		return bad("positions [%d, %d) outside the shard's %d", p.Start, p.End, size)
	}
	return nil
}

func (p *Plan) words() int {
	return hdrWords + spanWords*len(p.Spans) + (len(p.First)+1)/2
}

// MarshalBinary encodes p in the flat form widescan_gen.h reads (the
// returned slice is new and owned by the caller). It returns an error
// wrapping ErrPlan when p does not validate.
func (p *Plan) MarshalBinary() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	w := make([]uint64, p.words())
	w[wMagic], w[wVersion], w[wWords], w[wN] = planMagic, planVersion, uint64(len(w)), p.N
	w[wRB], w[wLMask], w[wRMask] = p.RBits, p.LMask, p.RMask
	copy(w[wKey:wKey+4], p.Keys[:])
	if p.Random {
		w[wRandom] = 1
	}
	w[wRndHi], w[wRndLo] = p.RandHi, p.RandLo
	w[wShardIndex], w[wShardCount] = p.ShardIndex, p.ShardCount
	w[wStart], w[wEnd], w[wShift] = p.Start, p.End, p.Shift
	w[wNSpans], w[wNFirst] = uint64(len(p.Spans)), uint64(len(p.First))
	for i, s := range p.Spans {
		o := w[hdrWords+spanWords*i:]
		o[sStart], o[sHi], o[sLo], o[sSubMask] = s.Start, s.Hi, s.Lo, s.SubMask
		o[sSubBits], o[sHostBits], o[sOne] = s.SubBits, s.HostBits, s.One
		o[sMHi], o[sMLo] = s.MaskHi, s.MaskLo
	}
	t := hdrWords + spanWords*len(p.Spans)
	for k, f := range p.First { // two little-endian uint32 per word
		w[t+k/2] |= uint64(f) << (32 * (k % 2))
	}
	out := make([]byte, 8*len(w))
	for i, x := range w {
		binary.LittleEndian.PutUint64(out[8*i:], x)
	}
	return out, nil
}

// UnmarshalBinary decodes a plan MarshalBinary wrote and validates it.
// Errors wrap ErrPlan.
func (p *Plan) UnmarshalBinary(data []byte) error {
	if len(data)%8 != 0 || len(data) < planHeaderBytes {
		return fmt.Errorf("%w: %d bytes", ErrPlan, len(data))
	}
	w := func(i int) uint64 { return binary.LittleEndian.Uint64(data[8*i:]) }
	if w(wMagic) != planMagic || w(wVersion) != planVersion {
		return fmt.Errorf("%w: magic %#x version %d, want %#x version %d", ErrPlan, w(wMagic), w(wVersion), uint64(planMagic), planVersion)
	}
	ns, nf := w(wNSpans), w(wNFirst)
	if ns > maxSpans || nf > maxTableEntries ||
		uint64(len(data)/8) != w(wWords) || w(wWords) != hdrWords+spanWords*ns+(nf+1)/2 {
		return fmt.Errorf("%w: %d words for %d spans and %d table entries", ErrPlan, len(data)/8, ns, nf)
	}
	q := Plan{
		N: w(wN), RBits: w(wRB), LMask: w(wLMask), RMask: w(wRMask),
		Random: w(wRandom) != 0, RandHi: w(wRndHi), RandLo: w(wRndLo),
		ShardIndex: w(wShardIndex), ShardCount: w(wShardCount),
		Start: w(wStart), End: w(wEnd), Shift: w(wShift),
		Spans: make([]Span, ns), First: make([]uint32, nf),
	}
	if r := w(wRandom); r > 1 {
		return fmt.Errorf("%w: random flag %d", ErrPlan, r)
	}
	for i := range q.Keys {
		q.Keys[i] = w(wKey + i)
	}
	for i := range q.Spans {
		o := hdrWords + spanWords*i
		q.Spans[i] = Span{
			Start: w(o + sStart), Hi: w(o + sHi), Lo: w(o + sLo), SubMask: w(o + sSubMask),
			SubBits: w(o + sSubBits), HostBits: w(o + sHostBits), One: w(o + sOne),
			MaskHi: w(o + sMHi), MaskLo: w(o + sMLo),
		}
	}
	t := 8 * (hdrWords + spanWords*int(ns))
	for k := range q.First {
		q.First[k] = binary.LittleEndian.Uint32(data[t+4*k:])
	}
	if nf%2 == 1 && binary.LittleEndian.Uint32(data[t+4*int(nf):]) != 0 {
		return fmt.Errorf("%w: padding not zero", ErrPlan)
	}
	if err := q.Validate(); err != nil {
		return err
	}
	*p = q
	return nil
}

// ReadPlan reads one encoded plan from r (the header first, for its length;
// nothing after the plan is read) and decodes it. Errors wrap ErrPlan, or are
// r's (io.ErrUnexpectedEOF for a short plan).
func ReadPlan(r io.Reader) (*Plan, error) {
	hdr := make([]byte, planHeaderBytes)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("read plan header: %w", err)
	}
	words := binary.LittleEndian.Uint64(hdr[8*wWords:])
	if words < hdrWords || words > maxPlanWords {
		return nil, fmt.Errorf("%w: %d words", ErrPlan, words)
	}
	data := make([]byte, 8*words)
	copy(data, hdr)
	if _, err := io.ReadFull(r, data[planHeaderBytes:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read plan: %w", err)
	}
	p := new(Plan)
	if err := p.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return p, nil
}
