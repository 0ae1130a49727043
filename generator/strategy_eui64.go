package generator

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// MACRange is an inclusive range of IEEE 802 MAC addresses (EUI-48), each
// held as the integer of its six octets in network byte order (the first
// octet in bits 40 to 47, the OUI in bits 24 to 47): From <= To < 2^48.
// It is a small comparable value.
type MACRange struct {
	From, To uint64
}

// Len returns the number of MAC addresses in r, To - From + 1.
func (r MACRange) Len() uint64 { return r.To - r.From + 1 }

// String returns r in the form the eui64 IID mode reads: "OUI" (three
// octets, "00:1b:21") when r is one whole OUI, "MAC/BITS" when it is an
// aligned block of 2^(48-BITS) addresses, and "FROM-TO" otherwise.
func (r MACRange) String() string {
	n := r.Len()
	if n&(n-1) == 0 && r.From&(n-1) == 0 {
		b := 48 - bits.TrailingZeros64(n)
		if b == 24 {
			return formatMAC(r.From)[:8]
		}
		return formatMAC(r.From) + "/" + strconv.Itoa(b)
	}
	return formatMAC(r.From) + "-" + formatMAC(r.To)
}

// Vendor is an entry of the built-in OUI list: a vendor, the key the eui64
// IID mode accepts for it, and its OUIs.
type Vendor struct {
	// Key is the lower-case name eui64 accepts ("eui64:intel").
	Key string
	// Name is the organisation as the IEEE registry lists it.
	Name string
	// OUIs are the vendor's 24-bit organizationally unique identifiers
	// (the first three octets of a MAC address) in the list.
	OUIs []uint32
	// Note says why the entry is on the list.
	Note string
}

// vendors is the built-in OUI list. The assignments are those of the IEEE
// Registration Authority's MA-L (OUI) registry,
// https://standards-oui.ieee.org/oui/oui.txt, for a handful of vendors whose
// interfaces commonly form their IPv6 addresses by SLAAC with modified
// EUI-64 (servers, NICs, hypervisors, routers, single-board computers),
// except qemu (52:54:00), which is not an IEEE assignment but the locally
// administered prefix QEMU and libvirt give virtual NICs by default. It is
// deliberately small: the point is a useful default, not coverage.
var vendors = []Vendor{
	{"intel", "Intel Corporate", []uint32{0x001b21, 0x001517, 0x90e2ba, 0xa0369f, 0x3cfdfe}, "server and desktop NICs (82576, 82599, I350, X540, X710)"},
	{"supermicro", "Super Micro Computer, Inc.", []uint32{0x002590, 0x0cc47a, 0xac1f6b}, "server onboard NICs and BMCs"},
	{"mellanox", "Mellanox Technologies, Inc.", []uint32{0x0002c9}, "data-centre NICs"},
	{"realtek", "Realtek Semiconductor Corp.", []uint32{0x00e04c}, "onboard NICs of desktops and small servers"},
	{"vmware", "VMware, Inc.", []uint32{0x005056, 0x000c29, 0x000569}, "virtual NICs"},
	{"virtualbox", "PCS Systemtechnik GmbH", []uint32{0x080027}, "VirtualBox virtual NICs"},
	{"hyperv", "Microsoft Corporation", []uint32{0x00155d}, "Hyper-V virtual NICs"},
	{"xen", "Xensource, Inc.", []uint32{0x00163e}, "Xen virtual NICs"},
	{"qemu", "QEMU (locally administered, not an IEEE assignment)", []uint32{0x525400}, "QEMU/KVM and libvirt default virtual NICs"},
	{"raspberrypi", "Raspberry Pi Foundation / Raspberry Pi Trading Ltd", []uint32{0xb827eb, 0xdca632, 0xe45f01}, "single-board computers"},
	{"cisco", "Cisco Systems, Inc", []uint32{0x00000c}, "routers and switches"},
	{"juniper", "Juniper Networks", []uint32{0x000585}, "routers"},
	{"mikrotik", "Routerboard.com", []uint32{0x000c42, 0x4c5e0c}, "MikroTik routers"},
	{"ubiquiti", "Ubiquiti Inc", []uint32{0xf09fc2, 0x24a43c, 0x44d9e7}, "routers and access points"},
	{"apple", "Apple, Inc.", []uint32{0x000393}, "computers"},
}

// Vendors returns the built-in OUI list that the eui64 IID mode uses when
// given no MAC ranges, and whose keys it accepts. The slice is a copy; it is
// safe for concurrent use.
func Vendors() []Vendor {
	out := make([]Vendor, len(vendors))
	for i, v := range vendors {
		v.OUIs = slices.Clone(v.OUIs)
		out[i] = v
	}
	return out
}

// builtinMACs packs the MAC ranges of every OUI of the built-in list.
var builtinMACs = func() string {
	var rs []MACRange
	for _, v := range vendors {
		for _, o := range v.OUIs {
			rs = append(rs, ouiRange(o))
		}
	}
	return packMACs(mergeMACs(rs))
}()

// ouiRange returns the 2^24 MAC addresses of an OUI.
func ouiRange(oui uint32) MACRange {
	return MACRange{uint64(oui) << 24, uint64(oui)<<24 | (1<<24 - 1)}
}

// mergeMACs sorts rs and merges overlapping and adjacent ranges, so that
// every MAC address is enumerated once.
func mergeMACs(rs []MACRange) []MACRange {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b MACRange) int {
		switch {
		case a.From < b.From:
			return -1
		case a.From > b.From:
			return 1
		}
		return 0
	})
	out := rs[:0]
	for _, r := range rs {
		if k := len(out) - 1; k >= 0 && r.From <= out[k].To+1 {
			out[k].To = max(out[k].To, r.To)
			continue
		}
		out = append(out, r)
	}
	return out
}

// packMACs encodes ranges as 12 bytes each (From and To, 6 bytes each, big
// endian), the comparable form IID holds.
func packMACs(rs []MACRange) string {
	b := make([]byte, 0, 12*len(rs))
	for _, r := range rs {
		var x [16]byte
		binary.BigEndian.PutUint64(x[:8], r.From)
		binary.BigEndian.PutUint64(x[8:], r.To)
		b = append(append(b, x[2:8]...), x[10:]...)
	}
	return string(b)
}

// unpackMACs decodes packMACs.
func unpackMACs(s string) []MACRange {
	rs := make([]MACRange, len(s)/12)
	for i := range rs {
		rs[i] = MACRange{uint48(s[12*i:]), uint48(s[12*i+6:])}
	}
	return rs
}

func uint48(s string) uint64 {
	var v uint64
	for i := range 6 {
		v = v<<8 | uint64(s[i])
	}
	return v
}

// formatMAC writes a 48-bit MAC as six lower-case octets, "00:1b:21:00:00:01".
func formatMAC(m uint64) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 17)
	for i := range 6 {
		o := byte(m >> (40 - 8*uint(i)))
		b[3*i], b[3*i+1] = hex[o>>4], hex[o&15]
		if i < 5 {
			b[3*i+2] = ':'
		}
	}
	return string(b)
}

// parseMAC parses n colon-separated octets of two hex digits each (n = 3 for
// an OUI, 6 for a MAC) into an integer.
func parseMAC(s string, n int) (uint64, bool) {
	if len(s) != 3*n-1 {
		return 0, false
	}
	var v uint64
	for i := range n {
		if i > 0 && s[3*i-1] != ':' {
			return 0, false
		}
		o, err := strconv.ParseUint(s[3*i:3*i+2], 16, 8)
		if err != nil {
			return 0, false
		}
		v = v<<8 | o
	}
	return v, true
}

// parseMACRanges parses the argument of the eui64 IID mode: comma-separated
// items, each a vendor key of the built-in list ("intel"), an OUI
// ("00:1b:21"), an aligned block "MAC/BITS" (BITS 0..48, no bit set past
// BITS) or an inclusive range "FROM-TO" of MAC addresses.
func parseMACRanges(arg string) ([]MACRange, error) {
	var rs []MACRange
	for item := range strings.SplitSeq(arg, ",") {
		item = strings.TrimSpace(item)
		if i := slices.IndexFunc(vendors, func(v Vendor) bool { return v.Key == item }); i >= 0 {
			for _, o := range vendors[i].OUIs {
				rs = append(rs, ouiRange(o))
			}
			continue
		}
		if from, to, ok := strings.Cut(item, "-"); ok {
			f, ok1 := parseMAC(from, 6)
			t, ok2 := parseMAC(to, 6)
			if !ok1 || !ok2 || f > t {
				return nil, fmt.Errorf("MAC range %q: want FROM-TO, two MAC addresses such as 00:1b:21:00:00:00, FROM <= TO", item)
			}
			rs = append(rs, MACRange{f, t})
			continue
		}
		if mac, b, ok := strings.Cut(item, "/"); ok {
			m, ok1 := parseMAC(mac, 6)
			n, err := strconv.ParseUint(b, 10, 8)
			if !ok1 || err != nil || n > 48 {
				return nil, fmt.Errorf("MAC block %q: want MAC/BITS, BITS from 0 to 48", item)
			}
			size := uint64(1) << (48 - n)
			if m&(size-1) != 0 {
				return nil, fmt.Errorf("MAC block %q has bits set past /%d", item, n)
			}
			rs = append(rs, MACRange{m, m + size - 1})
			continue
		}
		o, ok := parseMAC(item, 3)
		if !ok {
			return nil, fmt.Errorf("%q: want a vendor key, an OUI (00:1b:21), MAC/BITS or FROM-TO", item)
		}
		rs = append(rs, ouiRange(uint32(o)))
	}
	return mergeMACs(rs), nil
}

// euiTable maps the IID number t of the eui64 mode to its interface
// identifier: the t-th MAC address of the merged ranges, in address order,
// made into a modified EUI-64.
type euiTable struct {
	from  []uint64 // first MAC of each range
	start []uint64 // IID number of each range's first MAC
	n     uint64   // MAC addresses in all
}

func newEUITable(rs []MACRange) *euiTable {
	e := &euiTable{}
	for _, r := range rs {
		e.from = append(e.from, r.From)
		e.start = append(e.start, e.n)
		e.n += r.Len()
	}
	return e
}

// at returns the modified EUI-64 of MAC number t < n (RFC 4291 Appendix A):
// the OUI with the universal/local bit (0x02 of the first octet) inverted,
// then ff:fe, then the three NIC-specific octets.
func (e *euiTable) at(t uint64) uint64 {
	i, j := 0, len(e.start)
	for j-i > 1 {
		m := int(uint(i+j) >> 1)
		if e.start[m] <= t {
			i = m
		} else {
			j = m
		}
	}
	return eui64(e.from[i] + t - e.start[i])
}

// eui64 returns the modified EUI-64 interface identifier of a 48-bit MAC.
func eui64(mac uint64) uint64 {
	return (mac>>24^0x020000)<<40 | 0xfffe<<24 | mac&0xffffff
}
