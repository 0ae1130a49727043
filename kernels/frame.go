package kernels

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// The worker protocol. The parent (the generator's GPU backend) starts
// cmd/widescan-gpu and writes one encoded Plan to its stdin. The worker
// answers on its stdout with frames, each a 16-byte FrameHeader and a body:
//
//	Hello  Count bytes of text (the device: name, compute capability,
//	       driver), Pos = ProtocolVersion. Sent once, after the device, the
//	       module and the buffers are ready and before any data.
//	Data   Count targets of 16 bytes (IPv6 addresses in network byte order)
//	       for the shard positions [Pos, Pos+Count), in order, blocked
//	       candidates included. Frames follow each other without gaps.
//	End    no body; Pos = Plan.End. The worker exits 0 after it.
//	Error  Count bytes of text: why the worker stopped. It exits non-zero.
//
// Anything else on stdout before Hello (gorgonia.org/cu prints its cuInit
// failure to stdout and exits 1) is the reason the worker could not start;
// stderr carries diagnostics.

// ProtocolVersion is the version of the frame protocol, sent in the Hello
// frame's Pos.
const ProtocolVersion = 1

// FrameHeaderSize is the size of a FrameHeader on the wire, in bytes.
const FrameHeaderSize = 16

// MaxFrameText is the most bytes of text a Hello or Error frame carries.
const MaxFrameText = 1 << 16

// FrameKind says what a frame holds.
type FrameKind uint32

// Frame kinds: four ASCII letters, little-endian.
const (
	FrameHello FrameKind = 'W' | 'S'<<8 | 'G'<<16 | 'H'<<24 // "WSGH"
	FrameData  FrameKind = 'W' | 'S'<<8 | 'G'<<16 | 'D'<<24 // "WSGD"
	FrameEnd   FrameKind = 'W' | 'S'<<8 | 'G'<<16 | 'E'<<24 // "WSGE"
	FrameError FrameKind = 'W' | 'S'<<8 | 'G'<<16 | 'X'<<24 // "WSGX"
)

// String returns "hello", "data", "end", "error", or the number.
func (k FrameKind) String() string {
	switch k {
	case FrameHello:
		return "hello"
	case FrameData:
		return "data"
	case FrameEnd:
		return "end"
	case FrameError:
		return "error"
	}
	return "FrameKind(" + strconv.FormatUint(uint64(k), 16) + ")"
}

// ErrFrame is wrapped by ParseFrameHeader for bytes that are no frame
// header.
var ErrFrame = errors.New("kernels: bad frame")

// FrameHeader is the header of a frame: Kind, Count and Pos as
// little-endian uint32, uint32 and uint64.
type FrameHeader struct {
	Kind FrameKind
	// Count is the number of targets of a Data frame, or of text bytes.
	Count uint32
	// Pos is the first shard position of a Data frame, the end position of
	// an End frame, the protocol version of a Hello frame.
	Pos uint64
}

// Put writes h to b[:FrameHeaderSize]. It panics if b is shorter.
func (h FrameHeader) Put(b []byte) {
	_ = b[FrameHeaderSize-1]
	binary.LittleEndian.PutUint32(b, uint32(h.Kind))
	binary.LittleEndian.PutUint32(b[4:], h.Count)
	binary.LittleEndian.PutUint64(b[8:], h.Pos)
}

// ParseFrameHeader decodes the header in b[:FrameHeaderSize]. It returns an
// error wrapping ErrFrame when b is short, the kind unknown, or a text frame
// longer than MaxFrameText.
func ParseFrameHeader(b []byte) (FrameHeader, error) {
	if len(b) < FrameHeaderSize {
		return FrameHeader{}, fmt.Errorf("%w: %d bytes", ErrFrame, len(b))
	}
	h := FrameHeader{
		Kind:  FrameKind(binary.LittleEndian.Uint32(b)),
		Count: binary.LittleEndian.Uint32(b[4:]),
		Pos:   binary.LittleEndian.Uint64(b[8:]),
	}
	switch h.Kind {
	case FrameData:
	case FrameEnd:
		if h.Count != 0 {
			return h, fmt.Errorf("%w: end frame with count %d", ErrFrame, h.Count)
		}
	case FrameHello, FrameError:
		if h.Count > MaxFrameText {
			return h, fmt.Errorf("%w: %s frame of %d bytes of text", ErrFrame, h.Kind, h.Count)
		}
	default:
		return h, fmt.Errorf("%w: kind %#x", ErrFrame, uint32(h.Kind))
	}
	return h, nil
}
