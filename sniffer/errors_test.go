package sniffer

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/p2pnet/widescan/icmp"
	"github.com/p2pnet/widescan/internal/testutil"
)

var routerAddr = netip.MustParseAddr("3fff:0:1::1")

// probePacket returns our probe to target as the IPv6 packet a router quotes
// (IPv6 header + Echo Request with its checksum), with key.
func probePacket(t testing.TB, key icmp.Key, target netip.Addr) []byte {
	t.Helper()
	f, err := icmp.AppendFrame(nil, icmp.SenderConfig{Source: ourAddr, Key: key, ScanID: testScanID}, peerMAC, ourMAC,
		icmp.Probe{ScanID: testScanID, Sent: testSent, Target: target})
	if err != nil {
		t.Fatal(err)
	}
	return f[icmp.EthernetHeaderLen:]
}

// errorFrame wraps quoted (an invoking packet) in an ICMPv6 error of type
// typ and code with the 32-bit field info, sent from the router to us.
func errorFrame(t testing.TB, typ, code uint8, info uint32, quoted []byte) []byte {
	t.Helper()
	msg := make([]byte, 8, 8+len(quoted))
	msg[0], msg[1] = typ, code
	binary.BigEndian.PutUint32(msg[4:], info)
	msg = append(msg, quoted...)
	c := icmp.Checksum(routerAddr, ourAddr, msg)
	binary.BigEndian.PutUint16(msg[2:], c)
	return rawFrame(t, routerAddr, ourAddr, 64, msg)
}

// goldenTimeExceeded is errorFrame(3, 0, 0, probePacket(testKey, target2)):
// a Time Exceeded (hop limit exceeded in transit) from 3fff:0:1::1 quoting
// the probe to 2001:db8:1::2 sent at testSent under the golden key.
const goldenTimeExceeded = `
02 00 00 00 00 01 02 00 00 00 00 02 86 dd 60 00
00 00 00 70 3a 40 3f ff 00 00 00 01 00 00 00 00
00 00 00 00 00 01 20 01 0d b8 00 01 00 00 00 00
00 00 00 00 00 01 03 00 f4 92 00 00 00 00 60 00
00 00 00 40 3a 40 20 01 0d b8 00 01 00 00 00 00
00 00 00 00 00 01 20 01 0d b8 00 01 00 00 00 00
00 00 00 00 00 02 80 00 e0 6d 6b 52 ef d8 57 53
43 4e 01 00 00 00 01 02 03 04 05 06 07 08 17 97
9c fe 3d 85 cd 15 20 01 0d b8 00 01 00 00 00 00
00 00 00 00 00 02 6b 52 ef d8 52 bb 4d a0 1f e9
7c 22 5c 05 5c 3a`

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoldenTimeExceeded(t *testing.T) {
	got := errorFrame(t, 3, 0, 0, probePacket(t, testKey, target2))
	if want := unhex(t, goldenTimeExceeded); string(got) != string(want) {
		t.Fatalf("frame:\n%s\nwant:\n%s", hex.Dump(got), hex.Dump(want))
	}
	// Both checksums agree with the slow reference (the quoted one was
	// computed by the packet path's incremental code).
	outer, inner := got[54:], got[54+8+40:]
	for _, c := range []struct {
		src, dst netip.Addr
		msg      []byte
	}{{routerAddr, ourAddr, outer}, {ourAddr, target2, inner}} {
		if want := icmp.Checksum(c.src, c.dst, c.msg); binary.BigEndian.Uint16(c.msg[2:]) != want {
			t.Errorf("checksum %04x, want %04x", binary.BigEndian.Uint16(c.msg[2:]), want)
		}
	}
	r, ok := NewDecoder(testConfig()).Decode(got, testRecv)
	if !ok || r.Type != 3 || r.Code != 0 || r.Target != target2 || r.Responder != routerAddr || r.HopLimit != 64 {
		t.Fatalf("decoded %+v, %v", r, ok)
	}
}

// TestDecodeICMPv6Errors decodes each error type quoting a probe: each is a
// hit whose Responder is the router, with the error's type, code, field and
// hop limit, and whose Target and RTT come from the quoted probe.
func TestDecodeICMPv6Errors(t *testing.T) {
	tests := []struct {
		name       string
		typ, code  uint8
		info       uint32
		wantType   uint8
		wantErrors uint64
	}{
		{"destination unreachable, no route", 1, 0, 0, 1, 1},
		{"destination unreachable, address unreachable", 1, 3, 0, 1, 1},
		{"packet too big carries the MTU", 2, 0, 1280, 2, 1},
		{"time exceeded in transit", 3, 0, 0, 3, 1},
		{"parameter problem carries the pointer", 4, 0, 6, 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(testConfig())
			f := errorFrame(t, tt.typ, tt.code, tt.info, probePacket(t, testKey, target2))
			r, ok := d.Decode(f, testRecv)
			if !ok {
				t.Fatalf("not a hit; Stats %+v", d.Stats())
			}
			want := Reply{Target: target2, Responder: routerAddr, RTT: testRecv.Sub(testSent), HopLimit: 64, Time: testRecv,
				Type: tt.wantType, Code: tt.code, Info: tt.info}
			if r != want {
				t.Fatalf("reply %+v, want %+v", r, want)
			}
			if st := d.Stats(); st.Errors != 1 || st.ErrorsValid != 1 || st.Valid != 1 || st.Received != 1 {
				t.Errorf("Stats %+v", st)
			}
			if _, ok := d.Decode(f, testRecv); ok {
				t.Error("a repeated error was reported twice")
			}
		})
	}
}

// TestDecodeICMPv6ErrorsRejectsWhatIsNotOurs: errors quoting other keys,
// other scans, other destinations, truncated or foreign packets are never
// hits.
func TestDecodeICMPv6ErrorsRejectsWhatIsNotOurs(t *testing.T) {
	other := icmp.Key{15}
	good := probePacket(t, testKey, target2)
	mut := func(f func(p []byte)) []byte {
		p := append([]byte(nil), good...)
		f(p)
		return p
	}
	tests := []struct {
		name   string
		quoted []byte
		want   Stats
	}{
		{"another key", probePacket(t, other, target2), Stats{Received: 1, Errors: 1, Invalid: 1}},
		{"a rewritten destination", mut(func(p []byte) { p[39] ^= 1 }), Stats{Received: 1, Errors: 1, Invalid: 1}},
		{"a rewritten source", mut(func(p []byte) { p[23] ^= 1 }), Stats{Received: 1, Errors: 1, Invalid: 1}},
		{"a flipped MAC bit", mut(func(p []byte) { p[len(p)-1] ^= 1 }), Stats{Received: 1, Errors: 1, Invalid: 1}},
		{"a truncated probe", good[:len(good)-1], Stats{Received: 1, Errors: 1, NotProbe: 1}},
		{"an echo reply quoted", mut(func(p []byte) { p[40] = 129 }), Stats{Received: 1, Errors: 1, NotProbe: 1}},
		{"UDP quoted", mut(func(p []byte) { p[6] = 17 }), Stats{Received: 1, Errors: 1, NotProbe: 1}},
		{"nothing quoted", nil, Stats{Received: 1, Errors: 1, NotProbe: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(testConfig())
			if r, ok := d.Decode(errorFrame(t, 1, 0, 0, tt.quoted), testRecv); ok {
				t.Fatalf("hit %+v", r)
			}
			if st := d.Stats(); st != tt.want {
				t.Errorf("Stats %+v, want %+v", st, tt.want)
			}
		})
	}
}

// TestMillionForgedRepliesAreRejected: 10^6 Echo Replies and errors whose
// MAC bytes are random (a blind forger) are all rejected.
func TestMillionForgedRepliesAreRejected(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 10_000
	}
	rng := testutil.Rand(t)
	d := NewDecoder(testConfig())
	reply := frame(t, frameSpec{target: target2})
	te := errorFrame(t, 3, 0, 0, probePacket(t, testKey, target2))
	// MAC positions: identifier and sequence, and the payload's last 16
	// bytes; in the error, those of the quoted probe (checksums are not
	// checked by the decoder, so they need no fixing).
	forge := func(f []byte, echo int) {
		binary.BigEndian.PutUint32(f[echo+4:], rng.Uint32())
		binary.BigEndian.PutUint64(f[echo+8+40:], rng.Uint64())
		binary.BigEndian.PutUint64(f[echo+8+48:], rng.Uint64())
	}
	for i := range n {
		var f []byte
		if i%2 == 0 {
			f = reply
			forge(f, 14+40)
		} else {
			f = te
			forge(f, 14+40+8+40)
		}
		if r, ok := d.Decode(f, testRecv); ok {
			t.Fatalf("forgery %d accepted: %+v", i, r)
		}
	}
	if st := d.Stats(); st.Invalid != uint64(n) || st.Valid != 0 {
		t.Fatalf("Stats %+v, want %d invalid", st, n)
	}
}
