package sniffer

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"
	"time"

	"github.com/p2pnet/widescan/icmp"
)

var target2 = netip.MustParseAddr("2001:db8:1::2")

func TestGoldenFrame(t *testing.T) {
	got := frame(t, frameSpec{target: target2})
	want, _ := hex.DecodeString(goldenFrameHex)
	if !bytes.Equal(got, want) {
		t.Fatalf("frame:\n got %x\nwant %x", got, want)
	}
	d := NewDecoder(testConfig())
	r, ok := d.Decode(want, testRecv)
	wantReply := Reply{Target: target2, Responder: target2, RTT: 12345 * time.Microsecond, HopLimit: 61, Time: testRecv, Type: 129}
	if !ok || r != wantReply {
		t.Fatalf("Decode = %+v, %v; want %+v", r, ok, wantReply)
	}
	if st := d.Stats(); st != (Stats{Received: 1, Valid: 1}) {
		t.Fatalf("Stats = %+v", st)
	}
}

// goldenFrameHex is frame(frameSpec{target: 2001:db8:1::2}): an Echo Reply
// from 2001:db8:1::2 to 2001:db8:1::1, hop limit 61, to a probe sent at
// time.Unix(1700000000, 123456789) by scan 0x0102030405060708 under the key
// 000102…0f.
const goldenFrameHex = "" +
	"02000000000102000000000286dd" + // Ethernet: dst, src, IPv6
	"6000000000403a3d" + // IPv6: version 6, payload 64 bytes, next header 58, hop limit 61
	"20010db8000100000000000000000002" + // source (responder)
	"20010db8000100000000000000000001" + // destination (our probe source)
	"8100df6d" + // ICMPv6 Echo Reply, code 0, checksum
	"6b52efd8" + // identifier, sequence = mac[0:4]
	"5753434e01000000" + // magic, version 1, flags, reserved
	"0102030405060708" + // scan ID
	"17979cfe3d85cd15" + // sent (ns)
	"20010db8000100000000000000000002" + // target
	"6b52efd852bb4da01fe97c225c055c3a" // mac

func TestDecode(t *testing.T) {
	other := icmp.Key{15: 0xff}
	tests := []struct {
		name  string
		frame []byte
		want  Stats
	}{
		{"a reply with another key is invalid", frame(t, frameSpec{target: target2, key: &other}), Stats{Received: 1, Invalid: 1}},
		{"a reply with a flipped MAC bit is invalid", frame(t, frameSpec{target: target2, mutate: func(m []byte) { m[63] ^= 1 }}), Stats{Received: 1, Invalid: 1}},
		{"a reply with a changed identifier is invalid", frame(t, frameSpec{target: target2, mutate: func(m []byte) { m[4] ^= 1 }}), Stats{Received: 1, Invalid: 1}},
		{"a reply to another source is invalid", frame(t, frameSpec{target: target2, dst: netip.MustParseAddr("2001:db8:1::99")}), Stats{Received: 1, Invalid: 1}},
		{"a reply to another scan is invalid", frame(t, frameSpec{target: target2, scanID: ptr(uint64(7))}), Stats{Received: 1, Invalid: 1, OtherScan: 1}},
		{"an echo request is ignored", frame(t, frameSpec{target: target2, typ: icmp.TypeEchoRequest}), Stats{Ignored: 1}},
		{"a reply with code 1 is ignored", frame(t, frameSpec{target: target2, mutate: func(m []byte) { m[1] = 1 }}), Stats{Ignored: 1}},
		{"a ping reply is not a probe", rawFrame(t, target2, ourAddr, 64, []byte{129, 0, 0, 0, 0, 1, 0, 1, 'p', 'i', 'n', 'g'}), Stats{Received: 1, NotProbe: 1}},
		{"a reply without magic is not a probe", frame(t, frameSpec{target: target2, mutate: func(m []byte) { m[8] = 'X' }}), Stats{Received: 1, NotProbe: 1}},
		{"a neighbour advertisement is ignored", rawFrame(t, target2, ourAddr, 255, append([]byte{136, 0, 0, 0, 0x60, 0, 0, 0}, target2.AsSlice()...)), Stats{Ignored: 1}},
		{"a truncated frame is ignored", frame(t, frameSpec{target: target2})[:14+40+2], Stats{Ignored: 1}},
		{"an empty frame is ignored", nil, Stats{Ignored: 1}},
		{"an IPv4 frame is ignored", append(bytes.Clone(frame(t, frameSpec{target: target2})[:12]), 0x08, 0x00, 0x45, 0), Stats{Ignored: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(testConfig())
			if r, ok := d.Decode(tt.frame, testRecv); ok {
				t.Fatalf("Decode emitted %+v", r)
			}
			if st := d.Stats(); st != tt.want {
				t.Fatalf("Stats = %+v, want %+v", st, tt.want)
			}
		})
	}
}

func TestDecodeResponderDiffers(t *testing.T) {
	d := NewDecoder(testConfig())
	resp := netip.MustParseAddr("2001:db8:1::ffff")
	r, ok := d.Decode(frame(t, frameSpec{target: target2, responder: resp, hopLimit: 250}), testRecv)
	if !ok || r.Target != target2 || r.Responder != resp || r.HopLimit != 250 {
		t.Fatalf("Decode = %+v, %v", r, ok)
	}
}

func TestDecodeDuplicates(t *testing.T) {
	d := NewDecoder(testConfig())
	t3 := netip.MustParseAddr("2001:db8:1::3")
	f2, f3 := frame(t, frameSpec{target: target2}), frame(t, frameSpec{target: t3})
	var emitted []netip.Addr
	for _, f := range [][]byte{f2, f2, f3, f2, f3} {
		if r, ok := d.Decode(f, testRecv); ok {
			emitted = append(emitted, r.Target)
		}
	}
	if len(emitted) != 2 || emitted[0] != target2 || emitted[1] != t3 {
		t.Fatalf("emitted %v, want [%v %v]", emitted, target2, t3)
	}
	// A reply from another responder for the same target is a duplicate too.
	if r, ok := d.Decode(frame(t, frameSpec{target: t3, responder: netip.MustParseAddr("2001:db8:1::aa")}), testRecv); ok {
		t.Fatalf("emitted %+v", r)
	}
	if st := d.Stats(); st != (Stats{Received: 6, Valid: 2, Duplicate: 4}) {
		t.Fatalf("Stats = %+v", st)
	}
}

// TestDecodeVLAN checks that a frame with an 802.1Q tag still decodes.
func TestDecodeVLAN(t *testing.T) {
	f := frame(t, frameSpec{target: target2})
	tagged := append(bytes.Clone(f[:12]), 0x81, 0x00, 0x00, 0x07)
	tagged = append(tagged, f[12:]...)
	d := NewDecoder(testConfig())
	if r, ok := d.Decode(tagged, testRecv); !ok || r.Target != target2 {
		t.Fatalf("Decode = %+v, %v", r, ok)
	}
}

func TestDecodeAllocs(t *testing.T) {
	d := NewDecoder(testConfig())
	f := frame(t, frameSpec{target: target2})
	d.Decode(f, testRecv) // first sight: inserts into the dedup map
	if n := testing.AllocsPerRun(1000, func() { d.Decode(f, testRecv) }); n != 0 {
		t.Errorf("Decode of a duplicate valid frame: %v allocs, want 0", n)
	}
	forged := frame(t, frameSpec{target: target2, mutate: func(m []byte) { m[63] ^= 1 }})
	if n := testing.AllocsPerRun(1000, func() { d.Decode(forged, testRecv) }); n != 0 {
		t.Errorf("Decode of a forged frame: %v allocs, want 0", n)
	}
	// New targets: allocation only when the dedup map grows, amortised to
	// well under one per frame.
	frames := make([][]byte, 4096)
	for i := range frames {
		a := target2.As16()
		a[14], a[15] = byte(i>>8), byte(i)
		frames[i] = frame(t, frameSpec{target: netip.AddrFrom16(a).Next()})
	}
	d = NewDecoder(testConfig())
	i := 0
	if n := testing.AllocsPerRun(len(frames)-1, func() { d.Decode(frames[i], testRecv); i++ }); n > 0.05 {
		t.Errorf("Decode of new valid frames: %v allocs per frame, want amortised < 0.05", n)
	}
}

func BenchmarkDecode(b *testing.B) {
	d := NewDecoder(testConfig())
	f := frame(b, frameSpec{target: target2})
	b.ReportAllocs()
	for b.Loop() {
		d.Decode(f, testRecv)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

func FuzzDecode(f *testing.F) {
	seed := frame(f, frameSpec{target: target2})
	f.Add(seed)
	f.Add(seed[:60])
	f.Add(frame(f, frameSpec{target: target2, typ: icmp.TypeEchoRequest}))
	f.Add(rawFrame(f, target2, ourAddr, 64, []byte{129, 0, 0, 0}))
	f.Add(rawFrame(f, target2, ourAddr, 64, []byte{1, 4, 0, 0, 0, 0, 0, 0}))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 128))
	for typ := uint8(1); typ <= 4; typ++ {
		f.Add(errorFrame(f, typ, 0, 1280, probePacket(f, testKey, target2)))
	}
	f.Add(errorFrame(f, 1, 0, 0, probePacket(f, testKey, target2)[:60]))
	f.Add(beaconFrame(f, peerAddr, 0, card(f, cardSpec{key: peerKeyA})))
	f.Add(beaconFrame(f, peerAddr, icmp.FlagAnswer, card(f, cardSpec{key: peerKeyA, endorsed: true})))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(peerConfig())
		r, ok := d.Decode(data, testRecv)
		st := d.Stats()
		if st.Received+st.Ignored+st.Beacons != 1 || st.Received != st.Valid+st.Duplicate+st.Invalid+st.NotProbe+st.AnswerEchoes || st.ErrorsValid > st.Errors || st.ErrorsValid > st.Valid ||
			st.Beacons != st.Peers+st.PeerDuplicate+st.Malformed+st.Forged+st.Expired+st.WrongNetwork+st.Replayed+st.Self+st.Untrusted+st.VerifyLimited {
			t.Fatalf("inconsistent Stats %+v", st)
		}
		if ok != (st.Valid == 1) || (ok && !r.Target.Is6()) {
			t.Fatalf("Decode = %+v, %v with Stats %+v", r, ok, st)
		}
	})
}
