package icmp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/dchest/siphash"
	xicmp "golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"

	"github.com/p2pnet/widescan/internal/testutil"
)

func goldenKey() Key {
	var k Key
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

func goldenProbe() Probe {
	return Probe{
		ScanID: 0x0102030405060708,
		Sent:   time.Unix(1700000000, 123456789),
		Target: netip.MustParseAddr("2001:db8::1"),
		Source: netip.MustParseAddr("2001:db8::53"),
	}
}

// goldenHex is the probe documented in doc.go.
const goldenHex = "" +
	"80000000e4b6dbf2" + // type, code, checksum, identifier, sequence
	"5753434e" + "01" + "00" + "0000" + // magic, version, flags, reserved
	"0102030405060708" + // scan ID
	"17979cfe3d85cd15" + // sent (ns)
	"20010db8000000000000000000000001" + // target
	"e4b6dbf219e596d8642c469e355faa2e" // mac

func TestGoldenProbe(t *testing.T) {
	want, _ := hex.DecodeString(goldenHex)
	got := AppendEchoRequest(nil, goldenKey(), goldenProbe())
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendEchoRequest:\n got %x\nwant %x", got, want)
	}
	if len(got) != EchoLen || len(got)-8 != PayloadLen {
		t.Fatalf("length %d, want %d", len(got), EchoLen)
	}

	// x/net/icmp reads it as an Echo Request with the MAC in id and seq.
	m, err := xicmp.ParseMessage(58, got)
	if err != nil {
		t.Fatalf("x/net/icmp ParseMessage: %v", err)
	}
	echo, ok := m.Body.(*xicmp.Echo)
	if m.Type != ipv6.ICMPTypeEchoRequest || m.Code != 0 || !ok {
		t.Fatalf("x/net/icmp parsed type %v code %d body %T", m.Type, m.Code, m.Body)
	}
	if echo.ID != 0xe4b6 || echo.Seq != 0xdbf2 || !bytes.Equal(echo.Data, want[8:]) {
		t.Fatalf("x/net/icmp echo id %#x seq %#x data %x", echo.ID, echo.Seq, echo.Data)
	}
	// And marshals the same bytes back (checksum 0 without a pseudo-header).
	back, err := (&xicmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: echo}).Marshal(nil)
	if err != nil || !bytes.Equal(back, want) {
		t.Fatalf("x/net/icmp Marshal = %x, %v; want %x", back, err, want)
	}
	// Checksum agrees with x/net/icmp's pseudo-header checksum.
	p := goldenProbe()
	withSum, err := (&xicmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: echo}).Marshal(xicmp.IPv6PseudoHeader(p.Source.AsSlice(), p.Target.AsSlice()))
	if err != nil {
		t.Fatal(err)
	}
	if c := Checksum(p.Source, p.Target, got); c != binary.BigEndian.Uint16(withSum[2:]) || c != 0xceb4 {
		t.Fatalf("Checksum = %#04x, x/net/icmp %#04x, doc 0xceb4", c, binary.BigEndian.Uint16(withSum[2:]))
	}

	// The reply to it validates.
	reply := bytes.Clone(got)
	reply[0] = TypeEchoReply
	pr, err := goldenKey().Check(uint16(echo.ID), uint16(echo.Seq), reply[8:], p.Source)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if pr.ScanID != p.ScanID || !pr.Sent.Equal(p.Sent) || pr.Target != p.Target || pr.Source != p.Source {
		t.Fatalf("Check = %+v, want %+v", pr, p)
	}
}

// referenceEcho is a slow, readable encoder built on x/net/icmp's Marshal,
// the oracle for AppendEchoRequest.
func referenceEcho(t *testing.T, k Key, p Probe) []byte {
	var data bytes.Buffer
	data.WriteString("WSCN")
	data.Write([]byte{Version, 0, 0, 0})
	binary.Write(&data, binary.BigEndian, p.ScanID)
	binary.Write(&data, binary.BigEndian, p.Sent.UnixNano())
	data.Write(p.Target.AsSlice())
	in := append([]byte{Version}, data.Bytes()[8:24]...)
	in = append(in, p.Target.AsSlice()...)
	in = append(in, p.Source.AsSlice()...)
	h0, h1 := siphash.Hash128(binary.LittleEndian.Uint64(k[:8]), binary.LittleEndian.Uint64(k[8:]), in)
	mac := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, h0), h1)
	data.Write(mac)
	msg := xicmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &xicmp.Echo{
		ID:   int(binary.BigEndian.Uint16(mac[0:])),
		Seq:  int(binary.BigEndian.Uint16(mac[2:])),
		Data: data.Bytes(),
	}}
	b, err := msg.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomProbe(r interface {
	Uint64() uint64
	Int64() int64
}) Probe {
	var t, s [16]byte
	binary.BigEndian.PutUint64(t[:], r.Uint64())
	binary.BigEndian.PutUint64(t[8:], r.Uint64())
	binary.BigEndian.PutUint64(s[:], r.Uint64())
	binary.BigEndian.PutUint64(s[8:], r.Uint64())
	return Probe{ScanID: r.Uint64(), Sent: time.Unix(0, r.Int64()), Target: netip.AddrFrom16(t), Source: netip.AddrFrom16(s)}
}

func TestAppendEchoRequestMatchesReference(t *testing.T) {
	r := testutil.Rand(t)
	prefix := []byte("prefix")
	for range 1000 {
		var k Key
		binary.LittleEndian.PutUint64(k[:], r.Uint64())
		binary.LittleEndian.PutUint64(k[8:], r.Uint64())
		p := randomProbe(r)
		got := AppendEchoRequest(bytes.Clone(prefix), k, p)
		if !bytes.HasPrefix(got, prefix) {
			t.Fatalf("AppendEchoRequest clobbered the prefix: %x", got)
		}
		if want := referenceEcho(t, k, p); !bytes.Equal(got[len(prefix):], want) {
			t.Fatalf("probe %+v key %v:\n got %x\nwant %x", p, k, got[len(prefix):], want)
		}
		pr, err := k.Check(binary.BigEndian.Uint16(got[len(prefix)+4:]), binary.BigEndian.Uint16(got[len(prefix)+6:]), got[len(prefix)+8:], p.Source)
		if err != nil || pr.ScanID != p.ScanID || pr.Sent.UnixNano() != p.Sent.UnixNano() || pr.Target != p.Target {
			t.Fatalf("round trip of %+v: %+v, %v", p, pr, err)
		}
	}
}

// echoReply returns the id, seq and payload of the reply to p.
func echoReply(k Key, p Probe) (id, seq uint16, payload []byte) {
	b := AppendEchoRequest(nil, k, p)
	return binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:]), b[8:]
}

func TestCheckRejects(t *testing.T) {
	k, p := goldenKey(), goldenProbe()
	id, seq, pl := echoReply(k, p)
	otherKey := k
	otherKey[15] ^= 1
	ping := []byte(strings.Repeat("\x10\x11\x12\x13\x14\x15\x16\x17", 7)) // iputils ping-like, 56 bytes
	tests := []struct {
		name    string
		key     Key
		id, seq uint16
		payload func([]byte) []byte
		source  netip.Addr
		want    error
	}{
		{"a valid reply passes", k, id, seq, nil, p.Source, nil},
		{"flags other than the beacon bit and reserved are ignored", k, id, seq, func(b []byte) []byte { b[5], b[6], b[7] = 0xfe, 1, 2; return b }, p.Source, nil},
		{"the beacon flag without a card is not a probe", k, id, seq, func(b []byte) []byte { b[5] |= FlagBeacon; return b }, p.Source, ErrNotProbe},
		{"another key is a bad MAC", otherKey, id, seq, nil, p.Source, ErrBadMAC},
		{"another source is a bad MAC", k, id, seq, nil, netip.MustParseAddr("2001:db8::54"), ErrBadMAC},
		{"a changed identifier is a bad MAC", k, id ^ 1, seq, nil, p.Source, ErrBadMAC},
		{"a changed sequence is a bad MAC", k, id, seq + 1, nil, p.Source, ErrBadMAC},
		{"a changed scan ID is a bad MAC", k, id, seq, func(b []byte) []byte { b[15] ^= 1; return b }, p.Source, ErrBadMAC},
		{"a changed time is a bad MAC", k, id, seq, func(b []byte) []byte { b[23] ^= 1; return b }, p.Source, ErrBadMAC},
		{"a changed target is a bad MAC", k, id, seq, func(b []byte) []byte { b[39] ^= 1; return b }, p.Source, ErrBadMAC},
		{"a changed MAC is a bad MAC", k, id, seq, func(b []byte) []byte { b[55] ^= 0x80; return b }, p.Source, ErrBadMAC},
		{"no magic is not a probe", k, id, seq, func(b []byte) []byte { b[0] = 'w'; return b }, p.Source, ErrNotProbe},
		{"version 2 is not a probe", k, id, seq, func(b []byte) []byte { b[4] = 2; return b }, p.Source, ErrNotProbe},
		{"a short payload is not a probe", k, id, seq, func(b []byte) []byte { return b[:PayloadLen-1] }, p.Source, ErrNotProbe},
		{"a long payload is not a probe", k, id, seq, func(b []byte) []byte { return append(b, 0) }, p.Source, ErrNotProbe},
		{"an empty payload is not a probe", k, id, seq, func([]byte) []byte { return nil }, p.Source, ErrNotProbe},
		{"a ping payload is not a probe", k, 1, 1, func([]byte) []byte { return ping }, p.Source, ErrNotProbe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(pl)
			if tt.payload != nil {
				b = tt.payload(b)
			}
			_, err := tt.key.Check(tt.id, tt.seq, b, tt.source)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheckRejectsEveryBitFlip(t *testing.T) {
	k, p := goldenKey(), goldenProbe()
	id, seq, pl := echoReply(k, p)
	for i := range pl {
		for bit := range 8 {
			b := bytes.Clone(pl)
			b[i] ^= 1 << bit
			_, err := k.Check(id, seq, b, p.Source)
			switch {
			case i < 5 || i == 5 && bit == 0: // magic, version, the beacon flag (no card follows)
				if !errors.Is(err, ErrNotProbe) {
					t.Fatalf("byte %d bit %d: %v, want ErrNotProbe", i, bit, err)
				}
			case i < 8: // flags, reserved
				if err != nil {
					t.Fatalf("byte %d bit %d: %v, want nil", i, bit, err)
				}
			default:
				if !errors.Is(err, ErrBadMAC) {
					t.Fatalf("byte %d bit %d: %v, want ErrBadMAC", i, bit, err)
				}
			}
		}
	}
}

func TestCheckRejectsRandomForgeries(t *testing.T) {
	r := testutil.Rand(t)
	k, src := goldenKey(), goldenProbe().Source
	b := make([]byte, PayloadLen)
	for i := range 10000 {
		for j := 0; j < PayloadLen; j += 8 {
			binary.LittleEndian.PutUint64(b[j:], r.Uint64())
		}
		copy(b, Magic[:])
		b[offVersion] = Version
		b[offFlags] &^= FlagBeacon // a 56-byte payload has no card
		id, seq := uint16(r.Uint32()), uint16(r.Uint32())
		if i%2 == 0 { // forger copies its MAC guess into id and seq
			id, seq = binary.BigEndian.Uint16(b[offMAC:]), binary.BigEndian.Uint16(b[offMAC+2:])
		}
		if _, err := k.Check(id, seq, b, src); !errors.Is(err, ErrBadMAC) {
			t.Fatalf("forgery %d (%x, id %#x seq %#x): %v, want ErrBadMAC", i, b, id, seq, err)
		}
	}
}

func TestAllocs(t *testing.T) {
	k, p := goldenKey(), goldenProbe()
	buf := make([]byte, 0, EchoLen)
	if n := testing.AllocsPerRun(1000, func() { buf = AppendEchoRequest(buf[:0], k, p) }); n != 0 {
		t.Errorf("AppendEchoRequest: %v allocs per run, want 0", n)
	}
	id, seq, pl := echoReply(k, p)
	if n := testing.AllocsPerRun(1000, func() { _, _ = k.Check(id, seq, pl, p.Source) }); n != 0 {
		t.Errorf("Check (valid): %v allocs per run, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { _, _ = k.Check(id^1, seq, pl, p.Source) }); n != 0 {
		t.Errorf("Check (forged): %v allocs per run, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = Checksum(p.Source, p.Target, buf) }); n != 0 {
		t.Errorf("Checksum: %v allocs per run, want 0", n)
	}
}

func TestChecksumMatchesXNet(t *testing.T) {
	r := testutil.Rand(t)
	for n := range 80 {
		p := randomProbe(r)
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		msg := xicmp.Message{Type: ipv6.ICMPTypeEchoReply, Body: &xicmp.Echo{ID: 7, Seq: 9, Data: data}}
		b, err := msg.Marshal(xicmp.IPv6PseudoHeader(p.Source.AsSlice(), p.Target.AsSlice()))
		if err != nil {
			t.Fatal(err)
		}
		want := binary.BigEndian.Uint16(b[2:])
		b[2], b[3] = 0xaa, 0x55 // Checksum must ignore the field
		if got := Checksum(p.Source, p.Target, b); got != want {
			t.Fatalf("len %d: Checksum = %#04x, x/net/icmp %#04x", len(b), got, want)
		}
	}
}

func TestKey(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if k == (Key{}) {
		t.Fatal("NewKey returned the zero key")
	}
	back, err := ParseKey(k.String())
	if err != nil || back != k {
		t.Fatalf("ParseKey(%q) = %v, %v", k.String(), back, err)
	}
	if got := goldenKey().String(); got != "000102030405060708090a0b0c0d0e0f" {
		t.Fatalf("String = %q", got)
	}
	if back, err := ParseKey("000102030405060708090A0B0C0D0E0F"); err != nil || back != goldenKey() {
		t.Fatalf("upper case: %v, %v", back, err)
	}
	for _, bad := range []string{"", "00", "000102030405060708090a0b0c0d0e0", "000102030405060708090a0b0c0d0e0f00", "zz0102030405060708090a0b0c0d0e0f"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q): no error", bad)
		}
	}
}

func BenchmarkAppendEchoRequest(b *testing.B) {
	k, p := goldenKey(), goldenProbe()
	buf := make([]byte, 0, EchoLen)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEchoRequest(buf[:0], k, p)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "probes/s")
}

func BenchmarkCheck(b *testing.B) {
	k, p := goldenKey(), goldenProbe()
	id, seq, pl := echoReply(k, p)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Check(id, seq, pl, p.Source); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "replies/s")
}
