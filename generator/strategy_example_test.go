package generator_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/prefixes"
)

func ExampleParseStrategy() {
	for _, s := range []string{"eui64:00:1b:21:00:00:00/46", "pattern:2a00:1::*:1", "list:targets.txt"} {
		st, err := generator.ParseStrategy(s)
		if err != nil {
			panic(err)
		}
		fmt.Println(st.Kind, st)
	}
	// Output:
	// iid eui64:00:1b:21:00:00:00/46
	// pattern pattern:2a00:1::*:1
	// list list:targets.txt
}

// Windows with eui64 IIDs, a pattern and a list share one permuted index
// space; here the targets are sorted to show what it holds.
func ExampleConfig_strategies() {
	w, err := prefixes.ParseWindow("2a00::/64", 0)
	if err != nil {
		panic(err)
	}
	iid, err := generator.ParseIID("eui64:00:1b:21:00:00:00/47")
	if err != nil {
		panic(err)
	}
	pat, err := generator.ParsePattern("2a00:1::1:*")
	if err != nil {
		panic(err)
	}
	list, err := generator.ReadTargetList(strings.NewReader("2a00:2::1\n2a00:2::1\n::1 # blocked\n"), "list")
	if err != nil {
		panic(err)
	}
	g, err := generator.New(generator.Config{Windows: []prefixes.Window{w}, IID: iid, List: list,
		Patterns: []generator.Pattern{pat}, PermSeed: 1, Workers: 1})
	if err != nil {
		panic(err)
	}
	out := make(chan *generator.Batch, 4)
	go g.Generate(context.Background(), out)
	var all []netip.Addr
	for b := range out {
		for _, a := range b.Targets {
			all = append(all, netip.AddrFrom16(a))
		}
		g.Put(b)
	}
	slices.SortFunc(all, netip.Addr.Compare)
	fmt.Println(g.Size(), "targets:", all[:2], "…", all[len(all)-3:])
	// Output:
	// 19 targets: [2a00::21b:21ff:fe00:0 2a00::21b:21ff:fe00:1] … [2a00:1::1:e 2a00:1::1:f 2a00:2::1]
}
