package icmp_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/p2pnet/widescan/icmp"
)

func Example() {
	key, _ := icmp.ParseKey("000102030405060708090a0b0c0d0e0f")
	src := netip.MustParseAddr("2001:db8::53")
	probe := icmp.Probe{ScanID: 7, Sent: time.Unix(1700000000, 0), Target: netip.MustParseAddr("2001:db8::1"), Source: src}

	msg := icmp.AppendEchoRequest(make([]byte, 0, icmp.EchoLen), key, probe)

	// The target answers with an Echo Reply carrying the same id, seq and data.
	id, seq := binary.BigEndian.Uint16(msg[4:]), binary.BigEndian.Uint16(msg[6:])
	got, err := key.Check(id, seq, msg[8:], src)
	fmt.Println(len(msg), got.ScanID, got.Target, err)

	_, err = key.Check(id, seq, msg[8:], netip.MustParseAddr("2001:db8::99"))
	fmt.Println(err)
	// Output:
	// 64 7 2001:db8::1 <nil>
	// icmp: bad probe MAC
}
