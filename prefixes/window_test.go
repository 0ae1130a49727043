package prefixes

import (
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"
)

func TestParseWindow(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		maxLen int
		want   string // Window.String of the result
	}{
		{"a window in XMap notation is taken as written", "2001:db8::/32-64", 0, "2001:db8::/32-64"},
		{"a window may enumerate past the 64-bit boundary", "2001:db8::/60-68", 0, "2001:db8::/60-68"},
		{"a window may enumerate whole addresses", "2001:db8::/120-128", 0, "2001:db8::/120-128"},
		{"a window of no enumerated bits is one subnet", "2001:db8::/48-48", 0, "2001:db8::/48-48"},
		{"the whole address space is a valid window", "::/0-128", 0, "::/0-128"},
		{"a prefix enumerates /64s by default", "2001:db8::/48", 0, "2001:db8::/48-64"},
		{"a prefix enumerates /maxLen subnets when maxLen is given", "2001:db8::/48", 56, "2001:db8::/48-56"},
		{"an explicit range wins over maxLen", "2001:db8::/32-48", 56, "2001:db8::/32-48"},
		{"a prefix longer than maxLen is its own window", "2001:db8:0:1:2::/80", 0, "2001:db8:0:1:2::/80-80"},
		{"a /128 prefix is its own window", "2001:db8::1/128", 0, "2001:db8::1/128-128"},
		{"a single address is a /128-128 window", "2001:db8::1", 0, "2001:db8::1/128-128"},
		{"a single address ignores maxLen", "2001:db8::1", 48, "2001:db8::1/128-128"},
		{"surrounding whitespace is ignored", " \t2001:db8::/32-64 \r", 0, "2001:db8::/32-64"},
		{"upper-case hex is accepted and printed canonically", "2001:DB8::/32", 0, "2001:db8::/32-64"},
		{"maxLen 128 enumerates addresses", "2001:db8::/112", 128, "2001:db8::/112-128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := ParseWindow(tt.in, tt.maxLen)
			if err != nil {
				t.Fatalf("ParseWindow(%q, %d): %v", tt.in, tt.maxLen, err)
			}
			if got := w.String(); got != tt.want {
				t.Errorf("ParseWindow(%q, %d) = %s, want %s", tt.in, tt.maxLen, got, tt.want)
			}
			if err := w.Validate(); err != nil {
				t.Errorf("Validate(%s): %v", w, err)
			}
		})
	}
}

func TestParseWindowErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		maxLen  int
		wantMsg string // a phrase the error must contain
		wantIs  error  // when set, errors.Is(err, wantIs) must hold
	}{
		{"an empty target is an error", "  ", 0, "empty target", nil},
		{"an unmasked prefix is an error that names the masked one", "2001:db8::1/32", 0, "use 2001:db8::/32", nil},
		{"an unmasked window is an error", "2001:db8::1/32-64", 0, "bits set beyond /32", nil},
		{"an IPv4 prefix is not IPv6", "192.0.2.0/24", 0, "not an IPv6", ErrNotIPv6},
		{"an IPv4 address is not IPv6", "192.0.2.1", 0, "not an IPv6", ErrNotIPv6},
		{"an IPv4-mapped address is not IPv6", "::ffff:192.0.2.1", 0, "not an IPv6", ErrNotIPv6},
		{"an IPv4-mapped prefix is not IPv6", "::ffff:0:0/96", 0, "not an IPv6", ErrNotIPv6},
		{"an address with a zone is an error", "fe80::1%eth0", 0, "zone", nil},
		{"a prefix with a zone is an error", "fe80::%eth0/64", 0, "zone", nil},
		{"a window end before the prefix length is an error", "2001:db8::/48-32", 0, "outside /48..128", nil},
		{"a window end past 128 is an error", "2001:db8::/32-129", 0, "bad window end", nil},
		{"a prefix length past 128 is an error", "2001:db8::/129", 0, "bad prefix", nil},
		{"an empty window end is an error", "2001:db8::/32-", 0, "bad window end", nil},
		{"a signed window end is an error", "2001:db8::/32-+64", 0, "bad window end", nil},
		{"a window end with a leading zero is an error", "2001:db8::/32-064", 0, "bad window end", nil},
		{"two ranges are an error", "2001:db8::/32-48-64", 0, "bad window end", nil},
		{"a dash in the address is an error", "2001-db8::/32", 0, "bad prefix", nil},
		{"garbage is an error that quotes it", "example.com", 0, `"example.com"`, nil},
		{"two targets on one line are an error", "2001:db8::/32 2001:db9::/32", 0, "bad prefix", nil},
		{"maxLen past 128 is an error", "2001:db8::/32", 129, "max length", nil},
		{"a negative maxLen is an error", "2001:db8::/32", -1, "max length", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := ParseWindow(tt.in, tt.maxLen)
			if err == nil {
				t.Fatalf("ParseWindow(%q, %d) = %s, want an error", tt.in, tt.maxLen, w)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("ParseWindow(%q, %d) error %q does not contain %q", tt.in, tt.maxLen, err, tt.wantMsg)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("ParseWindow(%q, %d) error %q is not %v", tt.in, tt.maxLen, err, tt.wantIs)
			}
			if w != (Window{}) {
				t.Errorf("ParseWindow(%q, %d) returned %v with its error, want the zero Window", tt.in, tt.maxLen, w)
			}
		})
	}
}

func TestWindowSubnet(t *testing.T) {
	tests := []struct {
		name   string
		window string
		i      uint64
		want   string
	}{
		{"subnet 0 is the prefix itself", "2001:db8::/32-64", 0, "2001:db8::/64"},
		{"a /32-64 window counts in the fourth group", "2001:db8::/32-64", 5, "2001:db8:0:5::/64"},
		{"the last subnet of a /32-64 window fills the enumerated bits", "2001:db8::/32-64", 1<<32 - 1, "2001:db8:ffff:ffff::/64"},
		{"a /60-68 window straddles the 64-bit boundary", "2001:db8:0:10::/60-68", 0x1f, "2001:db8:0:11:f000::/68"},
		{"a /60-68 window's low subnet bits land past bit 64", "2001:db8:0:10::/60-68", 0x01, "2001:db8:0:10:1000::/68"},
		{"a /64-72 window counts in the high byte of the IID", "2001:db8:0:1::/64-72", 0xab, "2001:db8:0:1:ab00::/72"},
		{"a /56-64 window counts in the low byte of the fourth group", "2001:db8:0:100::/56-64", 0x2a, "2001:db8:0:12a::/64"},
		{"a /64-128 window enumerates addresses", "2001:db8::/64-128", 1, "2001:db8::1/128"},
		{"a /120-128 window enumerates the last byte", "2001:db8::/120-128", 0xff, "2001:db8::ff/128"},
		{"a /0-64 window puts the top index bit in the first bit", "::/0-64", 1 << 63, "8000::/64"},
		{"a /0-64 window puts index 1 at bit 63", "::/0-64", 1, "0:0:0:1::/64"},
		{"a /0-128 window maps index 1 to ::1", "::/0-128", 1, "::1/128"},
		{"a /0-128 window maps the largest index into the low half only", "::/0-128", math.MaxUint64, "::ffff:ffff:ffff:ffff/128"},
		{"a /0-0 window is the whole space", "::/0-0", 0, "::/0"},
		{"a /48-48 window is its one subnet", "2001:db8::/48-48", 0, "2001:db8::/48"},
		{"an index past Subnets wraps inside the window", "2001:db8::/32-64", 1<<32 + 5, "2001:db8:0:5::/64"},
		{"an index past Subnets never leaves a one-subnet window", "2001:db8::1/128-128", 7, "2001:db8::1/128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := ParseWindow(tt.window, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := netip.MustParsePrefix(tt.want)
			if got := w.Subnet(tt.i); got != want {
				t.Errorf("%s.Subnet(%#x) = %s, want %s", w, tt.i, got, want)
			}
		})
	}
}

// subnetSlow is a readable reference for Window.Subnet: it sets the
// enumerated bits of the prefix one by one, most significant first.
func subnetSlow(w Window, i uint64) netip.Prefix {
	a := w.Prefix.Addr().As16()
	for bit := w.End - 1; bit >= w.Prefix.Bits() && w.End-1-bit < 64; bit-- {
		if i>>(w.End-1-bit)&1 == 1 {
			a[bit/8] |= 0x80 >> (bit % 8)
		}
	}
	return netip.PrefixFrom(netip.AddrFrom16(a), w.End)
}

func TestWindowSubnetMatchesReference(t *testing.T) {
	r := testRand(t)
	for range 20000 {
		bits := r.IntN(129)
		end := bits + r.IntN(129-bits)
		var a [16]byte
		for j := range a {
			a[j] = byte(r.Uint32())
		}
		w := Window{Prefix: netip.PrefixFrom(netip.AddrFrom16(a), bits).Masked(), End: end}
		i := r.Uint64()
		if n, ok := w.Subnets(); ok {
			i %= n
		}
		if got, want := w.Subnet(i), subnetSlow(w, i); got != want {
			t.Fatalf("%s.Subnet(%#x) = %s, reference says %s", w, i, got, want)
		}
	}
}

func TestWindowSubnetDoesNotAllocate(t *testing.T) {
	w := Window{Prefix: netip.MustParsePrefix("2001:db8::/32"), End: 64}
	var sink netip.Prefix
	if n := testing.AllocsPerRun(100, func() { sink = w.Subnet(12345) }); n != 0 {
		t.Errorf("Subnet allocates %v times per call, want 0", n)
	}
	_ = sink
}

func TestWindowCounts(t *testing.T) {
	tests := []struct {
		name              string
		window            string
		subnetBits, hosts int
		subnets           uint64
		ok                bool
	}{
		{"a /32-64 window has 2^32 subnets and a 64-bit IID", "2001:db8::/32-64", 32, 64, 1 << 32, true},
		{"a single address has one subnet and no IID", "2001:db8::1", 0, 0, 1, true},
		{"63 enumerated bits still fit in a uint64", "::/1-64", 63, 64, 1 << 63, true},
		{"64 enumerated bits do not fit in a uint64", "::/0-64", 64, 64, 0, false},
		{"128 enumerated bits do not fit in a uint64", "::/0-128", 128, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := ParseWindow(tt.window, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := w.SubnetBits(); got != tt.subnetBits {
				t.Errorf("%s.SubnetBits() = %d, want %d", w, got, tt.subnetBits)
			}
			if got := w.HostBits(); got != tt.hosts {
				t.Errorf("%s.HostBits() = %d, want %d", w, got, tt.hosts)
			}
			if n, ok := w.Subnets(); n != tt.subnets || ok != tt.ok {
				t.Errorf("%s.Subnets() = %d, %v, want %d, %v", w, n, ok, tt.subnets, tt.ok)
			}
		})
	}
}

func TestWindowValidate(t *testing.T) {
	tests := []struct {
		name string
		w    Window
	}{
		{"the zero window is invalid", Window{}},
		{"an IPv4 window is invalid", Window{Prefix: netip.MustParsePrefix("192.0.2.0/24"), End: 32}},
		{"an unmasked window is invalid", Window{Prefix: netip.MustParsePrefix("2001:db8::1/32"), End: 64}},
		{"an end before the prefix length is invalid", Window{Prefix: netip.MustParsePrefix("2001:db8::/48"), End: 32}},
		{"an end past 128 is invalid", Window{Prefix: netip.MustParsePrefix("2001:db8::/48"), End: 129}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.w.Validate(); err == nil {
				t.Errorf("Validate(%v) = nil, want an error", tt.w)
			}
		})
	}
}
