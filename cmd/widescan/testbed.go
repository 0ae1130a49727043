package main

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/spf13/cobra"

	"github.com/p2pnet/widescan/internal/testbed"
)

func newTestbedCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "testbed",
		Short: "A sealed network-namespace testbed (2001:db8::/32 and 3fff::/20 only)",
		Long: `The testbed joins four network namespaces with veth pairs: NAME-scan (the
scanner, interface scan0, 3fff:0:1::2), NAME-rtr (a router), NAME-resp1 (planted
hosts, each address on lo) and NAME-resp2 (AnyIP prefixes, where every address
answers). Hosts answer through the kernel's own ICMPv6 stack, with its rate
limits off. Run a scan inside it with

  ip netns exec NAME-scan widescan scan -i scan0 --unblock 2001:db8::/32 --unblock 3fff::/20 ...

Needs root.`,
	}
	cmd.PersistentFlags().StringVar(&name, "name", "ws", "namespace name prefix")

	var seeds string
	var plant, anyip []string
	up := &cobra.Command{
		Use:   "up",
		Short: "Build the testbed (rebuilding it if it exists)",
		Example: `  widescan testbed up --seeds testdata/hitlist-seeds-6graph-5k.txt
  widescan testbed up --plant 2001:db8:1::1 --anyip 3fff:100::/48`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := testbed.Config{Name: name}
			if seeds != "" {
				f, err := os.Open(seeds)
				if err != nil {
					return err
				}
				real, err := testbed.LoadSeeds(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", seeds, err)
				}
				seen := map[netip.Addr]bool{}
				for _, a := range real {
					if r := testbed.Rebase(a); !seen[r] {
						seen[r] = true
						cfg.Planted = append(cfg.Planted, r)
					}
				}
			}
			for _, s := range plant {
				a, err := netip.ParseAddr(s)
				if err != nil {
					return fmt.Errorf("--plant %q: not an address", s)
				}
				cfg.Planted = append(cfg.Planted, a)
			}
			for _, s := range anyip {
				p, err := netip.ParsePrefix(s)
				if err != nil {
					return fmt.Errorf("--anyip %q: not a prefix", s)
				}
				cfg.AnyIP = append(cfg.AnyIP, p)
			}
			tb, err := testbed.Up(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			fmt.Printf("testbed %s up: scanner %s on %s in namespace %s, %d planted hosts, AnyIP %v\n",
				tb.Name, tb.ScannerAddr, tb.ScanIface, tb.ScannerNS, len(tb.Planted), tb.AnyIP)
			return nil
		},
	}
	up.Flags().StringVar(&seeds, "seeds", "", "plant the addresses of this seed `FILE`, rebased under 2001:db8::/32 (bits 32-127 kept)")
	up.Flags().StringArrayVar(&plant, "plant", nil, "plant this `ADDRESS` (inside 2001:db8::/32 or 3fff::/20; repeatable)")
	up.Flags().StringArrayVar(&anyip, "anyip", []string{"3fff:100::/48"}, "answer for every address of this `PREFIX` (repeatable)")

	down := &cobra.Command{
		Use:   "down",
		Short: "Remove the testbed's namespaces",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := testbed.Down(cmd.Context(), name); err != nil {
				return err
			}
			fmt.Printf("testbed %s down\n", name)
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show which of the testbed's namespaces exist",
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := testbed.Status(cmd.Context(), name)
			if err != nil {
				return err
			}
			fmt.Println(st)
			return nil
		},
	}
	cmd.AddCommand(up, down, status)
	return cmd
}
