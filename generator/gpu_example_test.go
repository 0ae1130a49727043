package generator_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/p2pnet/widescan/generator"
	"github.com/p2pnet/widescan/prefixes"
)

// With --backend auto, a machine that cannot run the GPU worker generates on
// the CPU, and the caller shows why.
func ExampleOpenBackend() {
	w, _ := prefixes.ParseWindow("3fff:100::/48-64", 0)
	bl, _ := prefixes.NewBlocklist(nil, []netip.Prefix{netip.MustParsePrefix("3fff::/20")})
	g, err := generator.New(generator.Config{Windows: []prefixes.Window{w}, Blocklist: bl})
	if err != nil {
		panic(err)
	}
	src, fallback, err := generator.OpenBackend(context.Background(), g, generator.BackendAuto,
		generator.GPUConfig{Worker: "/nonexistent/widescan-gpu"})
	if err != nil {
		panic(err)
	}
	if fallback != nil {
		fmt.Println("GPU backend unavailable, generating on the CPU:", fallback)
	}
	fmt.Println(src == generator.Source(g))
	// Output:
	// GPU backend unavailable, generating on the CPU: generator: no usable GPU: worker: exec: "/nonexistent/widescan-gpu": stat /nonexistent/widescan-gpu: no such file or directory
	// true
}
