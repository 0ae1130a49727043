package widescan_test

import (
	"fmt"
	"net/netip"

	"github.com/p2pnet/widescan/widescan"
)

// The alias test probes one address in each of the 16 subprefixes one nybble
// longer than the prefix: here the 16 /68s of a /64, whose fifth nybble of
// the IID runs from 0 to f.
func ExampleAliasTargets() {
	ts, err := widescan.AliasTargets(netip.MustParsePrefix("2001:db8:1:2::/64"), 42)
	if err != nil {
		panic(err)
	}
	for _, a := range ts[:3] {
		fmt.Println(netip.PrefixFrom(a, 68).Masked())
	}
	fmt.Println("...")
	fmt.Println(netip.PrefixFrom(ts[15], 68).Masked())
	// Output:
	// 2001:db8:1:2::/68
	// 2001:db8:1:2:1000::/68
	// 2001:db8:1:2:2000::/68
	// ...
	// 2001:db8:1:2:f000::/68
}
