package testbed

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// State describes what exists of a testbed, as read back from the kernel; Status returns
// it. (It cannot share the function's name in Go.)
type State struct {
	// Name is the testbed's namespace prefix.
	Name string
	// Namespaces lists the four namespaces (scanner, router, planted, AnyIP), in that order.
	Namespaces []Namespace
	// Planted is the number of addresses planted on lo of the planted namespace (::1 is not
	// counted). Zero when that namespace is absent.
	Planted int
	// AnyIP are the local (aliased) routes of the AnyIP namespace, ::1 and the testbed's own
	// link addresses left out.
	AnyIP []netip.Prefix
	// Routes are the router's IPv6 routes, one per entry as `ip -6 route show` prints them.
	Routes []string
}

// Namespace is one namespace of a testbed and whether it exists.
type Namespace struct {
	Name   string
	Exists bool
}

// Up reports whether all four namespaces exist.
func (s State) Up() bool {
	for _, n := range s.Namespaces {
		if !n.Exists {
			return false
		}
	}
	return len(s.Namespaces) == 4
}

// Down reports whether none of the namespaces exist.
func (s State) Down() bool {
	for _, n := range s.Namespaces {
		if n.Exists {
			return false
		}
	}
	return true
}

// String formats s for the command line, one fact per line.
func (s State) String() string {
	var b strings.Builder
	state := "partial"
	switch {
	case s.Up():
		state = "up"
	case s.Down():
		state = "down"
	}
	fmt.Fprintf(&b, "testbed %s: %s\n", s.Name, state)
	for i, n := range s.Namespaces {
		ex := "absent"
		if n.Exists {
			ex = "present"
		}
		fmt.Fprintf(&b, "  %-24s %s", n.Name, ex)
		switch {
		case i == 0 && n.Exists:
			fmt.Fprintf(&b, "  (scanner: %s %s)", ScanIface, ScannerAddr)
		case i == 2 && n.Exists:
			fmt.Fprintf(&b, "  (%d planted)", s.Planted)
		case i == 3 && n.Exists:
			fmt.Fprintf(&b, "  (AnyIP %d: %s)", len(s.AnyIP), joinPrefixes(s.AnyIP))
		}
		b.WriteByte('\n')
	}
	if len(s.Routes) > 0 {
		b.WriteString("  router routes:\n")
		for _, r := range s.Routes {
			fmt.Fprintf(&b, "    %s\n", r)
		}
	}
	return b.String()
}

func joinPrefixes(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "none"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}

// Status reads back the testbed called name ("" means DefaultName): which namespaces exist,
// how many addresses are planted, the AnyIP routes and the router's routes. An absent
// testbed is not an error: its Status reports every namespace absent.
func Status(ctx context.Context, name string) (State, error) {
	if name == "" {
		name = DefaultName
	}
	if err := checkName(name); err != nil {
		return State{}, err
	}
	scan, rtr, resp1, resp2 := Namespaces(name)
	st := State{Name: name}
	for _, ns := range []string{scan, rtr, resp1, resp2} {
		st.Namespaces = append(st.Namespaces, Namespace{Name: ns, Exists: exists(ns)})
	}
	if st.Namespaces[2].Exists {
		out, err := ip(ctx, nil, "-6", "-n", resp1, "-o", "addr", "show", "dev", "lo")
		if err != nil {
			return st, fmt.Errorf("testbed %s status: %w", name, err)
		}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			for i := 0; i+1 < len(f); i++ {
				if f[i] == "inet6" && !strings.HasPrefix(f[i+1], "::1/") {
					st.Planted++
				}
			}
		}
	}
	if st.Namespaces[3].Exists {
		out, err := ip(ctx, nil, "-6", "-n", resp2, "route", "show", "table", "local", "dev", "lo")
		if err != nil {
			return st, fmt.Errorf("testbed %s status: %w", name, err)
		}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "local" {
				continue
			}
			p, err := netip.ParsePrefix(f[1])
			if err != nil {
				a, aerr := netip.ParseAddr(f[1])
				if aerr != nil {
					continue
				}
				p = netip.PrefixFrom(a, 128)
			}
			if p.Addr().IsLoopback() || p.Addr().IsLinkLocalUnicast() || p.Overlaps(Infra) {
				continue
			}
			st.AnyIP = append(st.AnyIP, p)
		}
	}
	if st.Namespaces[1].Exists {
		out, err := ip(ctx, nil, "-6", "-n", rtr, "route", "show")
		if err != nil {
			return st, fmt.Errorf("testbed %s status: %w", name, err)
		}
		for _, line := range strings.Split(out, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				st.Routes = append(st.Routes, line)
			}
		}
	}
	return st, nil
}
