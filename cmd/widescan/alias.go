package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/p2pnet/widescan/prefixes"
	"github.com/p2pnet/widescan/widescan"
)

// aliasFlags are the flags of "widescan alias".
type aliasFlags struct {
	prefixFiles []string
	iface       string
	sourceIP    string
	unblock     []string
	rate        float64
	cooldown    time.Duration
	probes      int
	seed        uint64
	json        bool
}

// defaultAliasCooldown is the alias command's --cooldown: 16 probes per
// prefix need less waiting than a scan's DefaultCooldown.
const defaultAliasCooldown = 2 * time.Second

func newAliasCmd() *cobra.Command {
	var f aliasFlags
	cmd := &cobra.Command{
		Use:   "alias [flags] PREFIX...",
		Short: "Test prefixes for aliasing: does every address answer?",
		Long: `Alias runs the IPv6 Hitlist's aliased-prefix test (Gasser et al., "Clusters
in the Expanse", IMC 2018) on each PREFIX: it probes 16 pseudo-random
addresses, one in each subprefix one nybble longer (for a /64, the 16 /68s),
with ICMPv6 Echo Requests; if all 16 answer, the prefix is aliased (one host or
middlebox answers for every address) and hits inside it show no live host.

It writes one line per prefix, "PREFIX ANSWERED/16 aliased|not-aliased", or
with --json one JSON object per line: {"prefix","answered","probes","aliased"}.
All prefixes are probed in one scan. Prefixes of up to /124 can be tested.
Needs root or CAP_NET_RAW.`,
		Example: `  widescan alias -i eth0 2001:db8:1:2::/64 2001:db8:3::/48
  widescan alias --json -p candidates.txt`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAlias(cmd.Context(), f, args, os.Stdout)
		},
	}
	f.bind(cmd.Flags())
	return cmd
}

// bind defines the alias flags on fl, stored in f.
func (f *aliasFlags) bind(fl *pflag.FlagSet) {
	fl.StringArrayVarP(&f.prefixFiles, "prefix-file", "p", nil, "also test the prefixes in `FILE`, one per line, # comments (repeatable)")
	fl.StringVarP(&f.iface, "interface", "i", "", "interface to send and capture on (default: the route's)")
	fl.StringVar(&f.sourceIP, "source-ip", "", "probe source address (default: the route's)")
	fl.StringArrayVar(&f.unblock, "unblock", nil, "lift `PREFIX` from the built-in blocklist; it must lie inside it (repeatable)")
	fl.Float64VarP(&f.rate, "rate", "r", widescan.DefaultRate, "probe rate in probes/s; 0 sends as fast as possible")
	fl.DurationVar(&f.cooldown, "cooldown", defaultAliasCooldown, "keep listening this long after the last probe")
	fl.IntVarP(&f.probes, "probes", "P", 1, "probes per address (1 to 64), against loss")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the probed addresses; 0 draws one at random")
	fl.BoolVar(&f.json, "json", false, "write JSON lines")
}

// config turns the flags and arguments into the prefixes to test and the
// scan configuration.
func (f aliasFlags) config(args []string) ([]netip.Prefix, widescan.Config, error) {
	var cfg widescan.Config
	var ps []netip.Prefix
	for i, a := range args {
		p, err := netip.ParsePrefix(a)
		if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() || p.Masked() != p {
			return nil, cfg, fmt.Errorf("prefix argument %d %q: want a masked IPv6 prefix such as 2001:db8::/64", i+1, a)
		}
		ps = append(ps, p)
	}
	for _, path := range f.prefixFiles {
		more, err := prefixes.ParsePrefixFile(path)
		if err != nil {
			return nil, cfg, err
		}
		ps = append(ps, more...)
	}
	if len(ps) == 0 {
		return nil, cfg, errors.New("no prefixes: give PREFIX arguments or --prefix-file")
	}
	for _, p := range ps {
		if p.Bits() > widescan.MaxAliasBits {
			return nil, cfg, fmt.Errorf("prefix %s: longer than /%d, it has no 16 next-nybble subprefixes", p, widescan.MaxAliasBits)
		}
	}
	for _, u := range f.unblock {
		p, err := netip.ParsePrefix(u)
		if err != nil {
			return nil, cfg, fmt.Errorf("--unblock %q: not a prefix", u)
		}
		cfg.Unblock = append(cfg.Unblock, p)
	}
	switch {
	case f.rate < 0:
		return nil, cfg, fmt.Errorf("--rate %g: negative", f.rate)
	case f.rate == 0:
		cfg.Rate = widescan.RateUnlimited
	default:
		cfg.Rate = f.rate
	}
	switch {
	case f.cooldown < 0:
		return nil, cfg, fmt.Errorf("--cooldown %s: negative", f.cooldown)
	case f.cooldown == 0:
		cfg.Cooldown = widescan.NoCooldown
	default:
		cfg.Cooldown = f.cooldown
	}
	if f.probes < 1 || f.probes > widescan.MaxProbes {
		return nil, cfg, fmt.Errorf("--probes %d: want 1 to %d", f.probes, widescan.MaxProbes)
	}
	cfg.Probes = f.probes
	cfg.Interface = f.iface
	if f.sourceIP != "" {
		a, err := netip.ParseAddr(f.sourceIP)
		if err != nil || !a.Is6() || a.Is4In6() {
			return nil, cfg, fmt.Errorf("--source-ip %q: not an IPv6 address", f.sourceIP)
		}
		cfg.SourceIP = a
	}
	cfg.PermSeed = f.seed
	return ps, cfg, nil
}

// aliasJSON is one line of "widescan alias --json".
type aliasJSON struct {
	Prefix   string `json:"prefix"`
	Answered int    `json:"answered"`
	Probes   int    `json:"probes"`
	Aliased  bool   `json:"aliased"`
}

// writeAliasResults writes one line per result, text or JSON.
func writeAliasResults(w io.Writer, res []widescan.AliasResult, asJSON bool) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, r := range res {
		if asJSON {
			if err := enc.Encode(aliasJSON{r.Prefix.String(), r.Answered, widescan.AliasProbes, r.Aliased}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintln(bw, r.String())
	}
	return bw.Flush()
}

func runAlias(ctx context.Context, f aliasFlags, args []string, out io.Writer) error {
	ps, cfg, err := f.config(args)
	if err != nil {
		return err
	}
	res, st, runErr := widescan.DetectAliases(ctx, cfg, ps)
	if runErr != nil && (res == nil || st.Sent == 0) {
		return runErr
	}
	if err := writeAliasResults(out, res, f.json); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if runErr != nil && ctx.Err() != nil {
		return errInterrupted
	}
	return runErr
}
