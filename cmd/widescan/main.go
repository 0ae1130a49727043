// Command widescan is the CLI of the widescan IPv6 discovery engine.
//
//	widescan scan [flags] [TARGET...]   probe targets with ICMPv6 Echo Requests, report live hosts
//	widescan alias [flags] PREFIX...    the 16-probe aliased-prefix test
//	widescan prefixes [flags] FILE...   registry and routing files to a filtered target list
//	widescan listen [flags]             report other widescan instances (peers) without scanning
//	widescan identity [KEY]             print our public key, or endorse KEY as an authority
//	widescan tga generate|eval          seed-driven target generation and its offline evaluation
//	widescan bench [flags]              target generation speed, CPU and GPU
//	widescan testbed up|down|status     a sealed network-namespace testbed for trying it out
//
// It is the only place in the module that logs and exits; everything else is
// in the library packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// errInterrupted marks a run stopped by a signal: its partial results were
// written, and the exit code is 130 as for a shell's SIGINT.
var errInterrupted = errors.New("interrupted")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:           "widescan",
		Short:         "High-throughput IPv6 discovery: generate targets, probe them with ICMPv6, report live hosts",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newScanCmd(), newAliasCmd(), newListenCmd(), newIdentityCmd(), newPrefixesCmd(), newTGACmd(), newBenchCmd(), newTestbedCmd())
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
	case errors.Is(err, errInterrupted):
		fmt.Fprintln(os.Stderr, "widescan: interrupted; partial results written")
		os.Exit(130)
	default:
		// Library errors already name their package; say "widescan:" once.
		fmt.Fprintln(os.Stderr, "widescan:", strings.TrimPrefix(err.Error(), "widescan: "))
		os.Exit(1)
	}
}
