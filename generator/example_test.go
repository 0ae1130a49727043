package generator_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/prefixes"
)

// The order is part of the format: the GPU kernels reproduce it bit for bit.
func ExampleNewPerm() {
	p := generator.NewPerm(10, 42)
	for i := range uint64(10) {
		fmt.Print(p.At(i), " ")
	}
	fmt.Println()
	// Output:
	// 4 9 6 1 7 8 0 5 2 3
}

func ExampleGenerator_Generate() {
	// The testbed's blocklist: the built-in list with the documentation
	// prefixes lifted.
	bl, err := prefixes.NewBlocklist(nil, []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")})
	if err != nil {
		panic(err)
	}
	w, err := prefixes.ParseWindow("2001:db8::/62-64", 0)
	if err != nil {
		panic(err)
	}
	iid, err := generator.ParseIID("low:2")
	if err != nil {
		panic(err)
	}
	g, err := generator.New(generator.Config{
		Windows:   []prefixes.Window{w},
		Blocklist: bl,
		IID:       iid,
		PermSeed:  1,
		Workers:   1,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(g.Size(), "targets")

	out := make(chan *generator.Batch, 4)
	go g.Generate(context.Background(), out)
	for b := range out {
		for _, a := range b.Targets {
			fmt.Println(netip.AddrFrom16(a))
		}
		g.Put(b)
	}
	// Output:
	// 8 targets
	// 2001:db8:0:1::1
	// 2001:db8:0:3::2
	// 2001:db8:0:2::1
	// 2001:db8:0:1::2
	// 2001:db8::2
	// 2001:db8:0:3::1
	// 2001:db8:0:2::2
	// 2001:db8::1
}
