package kernels

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testPlan is a valid plan of two windows.
func testPlan() *Plan {
	return &Plan{
		N: 3 << 16, RBits: 9, LMask: 1<<9 - 1, RMask: 1<<9 - 1,
		Keys: [4]uint64{1, 2, 3, 4}, Random: true, RandHi: 5, RandLo: 6,
		ShardIndex: 1, ShardCount: 3, Start: 10, End: 1 << 16, Shift: 14,
		Spans: []Span{
			{Start: 0, Hi: 0x20010db800000000, SubMask: 0xffff, SubBits: 16, HostBits: 64, MaskLo: ^uint64(0)},
			{Start: 1 << 16, Hi: 0x20010db800010000, SubMask: 0x1ffff, SubBits: 17, HostBits: 64, MaskLo: ^uint64(0)},
		},
		First: []uint32{0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1},
	}
}

func TestPlanRoundTrip(t *testing.T) {
	p := testPlan()
	enc, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(enc)%8 != 0 || len(enc) != 8*(hdrWords+spanWords*2+7) {
		t.Fatalf("%d bytes", len(enc))
	}
	q, err := ReadPlan(io.MultiReader(bytes.NewReader(enc), strings.NewReader("trailing")))
	if err != nil {
		t.Fatal(err)
	}
	enc2, err := q.MarshalBinary()
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("round trip differs: %v", err)
	}
}

// TestPlanRejects checks that Validate refuses every plan that would make
// the kernel read out of bounds or loop.
func TestPlanRejects(t *testing.T) {
	cases := map[string]func(p *Plan){
		"an empty space":               func(p *Plan) { p.N = 0 },
		"halves that do not fit N":     func(p *Plan) { p.RBits = 8 },
		"a mask that does not fit":     func(p *Plan) { p.LMask = 1<<10 - 1 },
		"no spans":                     func(p *Plan) { p.Spans = nil },
		"a first span not at 0":        func(p *Plan) { p.Spans[0].Start = 1 },
		"spans out of order":           func(p *Plan) { p.Spans[1].Start = 0 },
		"a span past N":                func(p *Plan) { p.Spans[1].Start = p.N },
		"64 subnet bits":               func(p *Plan) { p.Spans[0].SubBits, p.Spans[0].SubMask = 64, ^uint64(0) },
		"a subnet mask that disagrees": func(p *Plan) { p.Spans[0].SubMask = 7 },
		"a short window table":         func(p *Plan) { p.First = p.First[:5] },
		"a table naming no span":       func(p *Plan) { p.First[3] = 2 },
		"a table out of order":         func(p *Plan) { p.First[3] = 1 },
		"shard count 0":                func(p *Plan) { p.ShardCount = 0 },
		"shard index past count":       func(p *Plan) { p.ShardIndex = 3 },
		"start after end":              func(p *Plan) { p.Start = p.End + 1 },
		"end past the shard":           func(p *Plan) { p.End = 1<<16 + 1 },
	}
	for name, mutate := range cases {
		p := testPlan()
		mutate(p)
		if _, err := p.MarshalBinary(); !errors.Is(err, ErrPlan) {
			t.Errorf("%s: MarshalBinary: %v, want ErrPlan", name, err)
		}
	}
	enc, _ := testPlan().MarshalBinary()
	for name, b := range map[string][]byte{
		"short":         enc[:len(enc)-8],
		"bad magic":     append([]byte{'X'}, enc[1:]...),
		"odd length":    enc[:len(enc)-1],
		"wrong version": func() []byte { b := bytes.Clone(enc); b[8] = 9; return b }(),
	} {
		var p Plan
		if err := p.UnmarshalBinary(b); !errors.Is(err, ErrPlan) {
			t.Errorf("%s: UnmarshalBinary: %v, want ErrPlan", name, err)
		}
	}
	if _, err := ReadPlan(bytes.NewReader(enc[:100])); err == nil {
		t.Error("ReadPlan of a truncated header succeeded")
	}
	if _, err := ReadPlan(bytes.NewReader(enc[:len(enc)-8])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadPlan of a truncated plan: %v", err)
	}
}

func TestFrameHeader(t *testing.T) {
	for _, h := range []FrameHeader{
		{Kind: FrameHello, Count: 12, Pos: ProtocolVersion},
		{Kind: FrameData, Count: 1 << 22, Pos: 1<<64 - 5},
		{Kind: FrameEnd, Pos: 99},
		{Kind: FrameError, Count: 3},
	} {
		var b [FrameHeaderSize]byte
		h.Put(b[:])
		got, err := ParseFrameHeader(b[:])
		if err != nil || got != h {
			t.Errorf("%+v: parsed %+v, %v", h, got, err)
		}
	}
	for name, h := range map[string]FrameHeader{
		"an unknown kind":     {Kind: 7},
		"an end with a count": {Kind: FrameEnd, Count: 1},
		"too much text":       {Kind: FrameError, Count: MaxFrameText + 1},
	} {
		var b [FrameHeaderSize]byte
		h.Put(b[:])
		if _, err := ParseFrameHeader(b[:]); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: %v, want ErrFrame", name, err)
		}
	}
	if FrameData.String() != "data" || FrameKind(1).String() != "FrameKind(1)" {
		t.Error("FrameKind.String")
	}
}

func TestPTXEmbedded(t *testing.T) {
	for _, want := range []string{".entry " + KernelName + "(", ".target sm_80", ".maxntid 256, 1, 1", "release 11.8"} {
		if !strings.Contains(PTX(), want) {
			t.Errorf("embedded PTX lacks %q", want)
		}
	}
	if strings.ContainsRune(PTX(), 0) {
		t.Error("embedded PTX holds a NUL byte")
	}
}

// TestPTXUpToDate rebuilds the PTX with build.sh into a temporary directory
// and compares it with the committed one. It needs nvcc 11.8 (the release
// the committed PTX names) and skips without it; CI runs build.sh and
// git diff instead.
func TestPTXUpToDate(t *testing.T) {
	nvcc, err := exec.LookPath("nvcc")
	if err != nil {
		t.Skip("no nvcc on $PATH")
	}
	if v, err := exec.Command(nvcc, "--version").Output(); err != nil || !bytes.Contains(v, []byte("release 11.8")) {
		t.Skipf("nvcc is not release 11.8, the one the committed PTX was made with: %s", v)
	}
	dir := t.TempDir()
	cmd := exec.Command("sh", "build.sh")
	cmd.Env = append(os.Environ(), "OUT="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "widescan_gen.ptx"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != PTX() {
		t.Fatal("ptx/widescan_gen.ptx is stale: run kernels/build.sh (make kernels) and commit the result")
	}
}
