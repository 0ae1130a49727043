package prefixes_test

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/p2pnet/widescan/prefixes"
)

func ExampleParseWindow() {
	for _, s := range []string{"2001:db8::/32-64", "2001:db8::/48", "2001:db8::1", "2001:db8::1/32"} {
		w, err := prefixes.ParseWindow(s, 0)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		n, _ := w.Subnets()
		fmt.Printf("%s: %d subnets, first %s, last %s\n", w, n, w.Subnet(0), w.Subnet(n-1))
	}
	// Output:
	// 2001:db8::/32-64: 4294967296 subnets, first 2001:db8::/64, last 2001:db8:ffff:ffff::/64
	// 2001:db8::/48-64: 65536 subnets, first 2001:db8::/64, last 2001:db8:0:ffff::/64
	// 2001:db8::1/128-128: 1 subnets, first 2001:db8::1/128, last 2001:db8::1/128
	// error: prefix 2001:db8::1/32 has bits set beyond /32 (use 2001:db8::/32)
}

func ExampleParseTargets() {
	list := `# lab targets
2001:db8::/32-48   # every /48
2001:db8:1::/56    # /64s by default
2001:db8::1
192.0.2.0/24
`
	ws, err := prefixes.ParseTargets(strings.NewReader(list), "targets.txt", 0)
	fmt.Println(ws, err)
	// Output:
	// [] targets.txt:5: 192.0.2.0/24: not an IPv6 prefix
}

func ExampleBlocklist_Subtract() {
	// Lift the documentation prefix as the testbed does, and opt one /48
	// and one host out.
	b, err := prefixes.NewBlocklist(
		[]netip.Prefix{netip.MustParsePrefix("2001:db8:8000::/33"), netip.MustParsePrefix("2001:db8:0:1::1/128")},
		[]netip.Prefix{netip.MustParsePrefix("2001:db8::/32")},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	ws := []prefixes.Window{
		{Prefix: netip.MustParsePrefix("2001:db8::/32"), End: 64},
		{Prefix: netip.MustParsePrefix("fe80::/64"), End: 128}, // link-local: dropped
	}
	kept, partial, err := b.Subtract(ws)
	fmt.Println(kept, partial, err)
	// Output:
	// [2001:db8::/33-64] [2001:db8:0:1::1/128] <nil>
}

func ExampleReader() {
	const dump = `% RIPE database dump excerpt

inet6num:       2001:db8::/32
netname:        EXAMPLE-NET
country:        NL
status:         ALLOCATED-BY-RIR
source:         RIPE

route6:         2001:db8::/32
origin:         AS64496
source:         RIPE

inet6num:       2001:db8::1/48
status:         ASSIGNED PA
`
	r, err := prefixes.NewReader(strings.NewReader(dump), "ripe.db", prefixes.FormatAuto)
	if err != nil {
		fmt.Println(err)
		return
	}
	for rec, err := range r.All() {
		if err != nil {
			fmt.Println("skipped:", err)
			continue
		}
		fmt.Println(rec.Class, rec.Prefix, rec.Country, rec.Status, rec.Origin)
	}
	fmt.Printf("%+v\n", r.Counts())
	// Output:
	// inet6num 2001:db8::/32 NL ALLOCATED-BY-RIR 0
	// route6 2001:db8::/32   64496
	// skipped: ripe.db:13: inet6num: bad prefix 2001:db8::1/48: bits set beyond /48
	// {Lines:14 Records:2 Malformed:1 Ignored:0}
}

func ExampleMostSpecific() {
	ps := []netip.Prefix{
		netip.MustParsePrefix("2001:db8::/32"),   // allocation
		netip.MustParsePrefix("2001:db8:1::/48"), // assignment inside it
		netip.MustParsePrefix("3fff::/20"),
	}
	fmt.Println(prefixes.MostSpecific(ps))
	// Output:
	// [2001:db8:1::/48 3fff::/20]
}
