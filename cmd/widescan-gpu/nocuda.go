//go:build !cuda

package main

import (
	"fmt"
	"os"
)

// main reports that this build has no CUDA support. The generator's GPU
// backend shows this as the reason it cannot use the GPU.
func main() {
	fmt.Fprintln(os.Stderr, "widescan-gpu: built without CUDA support (rebuild with go build -tags cuda)")
	os.Exit(1)
}
