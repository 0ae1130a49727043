//go:build linux

// Package nl asks the kernel's routing and neighbour tables, over rtnetlink
// (RFC 3549; linux/rtnetlink.h), for what a link-layer sender needs: the
// route to a destination (outgoing interface, next hop, preferred source) and
// the link-layer address of the next hop. It opens one short-lived netlink
// socket per call, in the calling thread's network namespace, and keeps no
// state. Functions are safe for concurrent use.
package nl

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrNoNeighbor is returned (wrapped) by Neighbor when the kernel's
// neighbour table has no usable entry for the address.
var ErrNoNeighbor = errors.New("nl: no neighbour entry")

// Route is the kernel's answer to "ip -6 route get DST".
type Route struct {
	// IfIndex is the outgoing interface.
	IfIndex int
	// Gateway is the next hop; the zero Addr when DST is on-link.
	Gateway netip.Addr
	// Source is the preferred source address (RTA_PREFSRC); the zero Addr
	// when the kernel gave none.
	Source netip.Addr
	// Local reports a route of type local (RTN_LOCAL): DST is an address of
	// this namespace, and packets to it are delivered here.
	Local bool
}

// RouteTo asks the kernel for the route to dst (RTM_GETROUTE), as
// "ip -6 route get dst" does. It sends nothing on the network. Errors: the
// kernel's (ENETUNREACH for no route, EACCES for a prohibit route, …).
func RouteTo(dst netip.Addr) (Route, error) {
	if !dst.Is6() {
		return Route{}, fmt.Errorf("nl: route to %v: not IPv6", dst)
	}
	a := dst.As16()
	var req [unix.SizeofRtMsg + 4 + 16]byte
	req[0] = unix.AF_INET6 // rtm_family
	req[1] = 128           // rtm_dst_len
	attr(req[unix.SizeofRtMsg:], unix.RTA_DST, a[:])
	msgs, err := request(unix.RTM_GETROUTE, unix.NLM_F_REQUEST, req[:])
	if err != nil {
		return Route{}, fmt.Errorf("nl: route to %v: %w", dst, err)
	}
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
			continue
		}
		attrs := parseAttrs(m.Data[unix.SizeofRtMsg:])
		r := Route{Local: m.Data[7] == unix.RTN_LOCAL} // rtm_type
		for _, at := range attrs {
			switch at.Attr.Type {
			case unix.RTA_OIF:
				if len(at.Value) >= 4 {
					r.IfIndex = int(binary.NativeEndian.Uint32(at.Value))
				}
			case unix.RTA_GATEWAY:
				r.Gateway, _ = netip.AddrFromSlice(at.Value)
			case unix.RTA_PREFSRC:
				r.Source, _ = netip.AddrFromSlice(at.Value)
			}
		}
		if r.IfIndex == 0 {
			return Route{}, fmt.Errorf("nl: route to %v: no outgoing interface", dst)
		}
		return r, nil
	}
	return Route{}, fmt.Errorf("nl: route to %v: no answer", dst)
}

// WaitLocal waits until the kernel of the calling thread's network namespace
// delivers packets to each of addrs locally (RouteTo reports Local), polling
// every 5 ms. The kernel installs an address's local route from its DAD work
// item, after "ip addr add" has returned, even for an address added with
// nodad; until then packets to it are routed but never delivered. It returns
// an error naming the addresses still not local when ctx is done.
func WaitLocal(ctx context.Context, addrs ...netip.Addr) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		var missing []netip.Addr
		for _, a := range addrs {
			if r, err := RouteTo(a); err != nil || !r.Local {
				missing = append(missing, a)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		addrs = missing
		select {
		case <-ctx.Done():
			return fmt.Errorf("nl: no local route for %v: %w", missing, ctx.Err())
		case <-t.C:
		}
	}
}

// usable are the neighbour states whose link-layer address can be used.
const usable = unix.NUD_REACHABLE | unix.NUD_STALE | unix.NUD_DELAY | unix.NUD_PROBE | unix.NUD_PERMANENT | unix.NUD_NOARP

// Neighbor returns the link-layer address of addr on interface ifindex from
// the kernel's neighbour table (an RTM_GETNEIGH dump, as "ip -6 neigh"),
// taking entries that are reachable, stale, delayed, probing, permanent or
// noarp. It sends nothing on the network. Errors: ErrNoNeighbor (wrapped)
// when there is no such entry, or it is incomplete or failed.
func Neighbor(ifindex int, addr netip.Addr) (net.HardwareAddr, error) {
	var req [unix.SizeofNdMsg]byte
	req[0] = unix.AF_INET6
	binary.NativeEndian.PutUint32(req[4:], uint32(ifindex))
	msgs, err := request(unix.RTM_GETNEIGH, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, req[:])
	if err != nil {
		return nil, fmt.Errorf("nl: neighbour %v: %w", addr, err)
	}
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWNEIGH || len(m.Data) < unix.SizeofNdMsg {
			continue
		}
		nd := (*unix.NdMsg)(unsafe.Pointer(&m.Data[0]))
		if int(nd.Ifindex) != ifindex || nd.State&usable == 0 {
			continue
		}
		attrs := parseAttrs(m.Data[unix.SizeofNdMsg:])
		var dst netip.Addr
		var ll net.HardwareAddr
		for _, at := range attrs {
			switch at.Attr.Type {
			case unix.NDA_DST:
				dst, _ = netip.AddrFromSlice(at.Value)
			case unix.NDA_LLADDR:
				ll = append(net.HardwareAddr(nil), at.Value...)
			}
		}
		if dst == addr.Unmap() && len(ll) > 0 {
			return ll, nil
		}
	}
	return nil, fmt.Errorf("%w for %v on interface %d", ErrNoNeighbor, addr, ifindex)
}

// Solicit asks the kernel to resolve addr on interface ifindex (an
// RTM_NEWNEIGH with NTF_USE, as "ip neigh replace … use" would: the kernel
// sends its own Neighbor Solicitation, RFC 4861 §7.2), then polls the table
// until the entry is usable or ctx is done. It returns what Neighbor
// returns last.
func Solicit(ctx context.Context, ifindex int, addr netip.Addr) (net.HardwareAddr, error) {
	if ll, err := Neighbor(ifindex, addr); err == nil {
		return ll, nil
	}
	a := addr.As16()
	var req [unix.SizeofNdMsg + 4 + 16]byte
	req[0] = unix.AF_INET6
	binary.NativeEndian.PutUint32(req[4:], uint32(ifindex))
	binary.NativeEndian.PutUint16(req[8:], unix.NUD_NONE) // ndm_state
	req[10] = unix.NTF_USE                                // ndm_flags
	attr(req[unix.SizeofNdMsg:], unix.NDA_DST, a[:])
	if _, err := request(unix.RTM_NEWNEIGH, unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_REPLACE, req[:]); err != nil {
		return nil, fmt.Errorf("nl: solicit %v: %w", addr, err)
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		ll, err := Neighbor(ifindex, addr)
		if err == nil {
			return ll, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-t.C:
		}
	}
}

// rtattr is one route attribute.
type rtattr struct {
	Attr  struct{ Type uint16 }
	Value []byte
}

// parseAttrs splits b into route attributes (struct rtattr, 4-byte
// aligned), stopping at the first malformed one.
func parseAttrs(b []byte) []rtattr {
	var out []rtattr
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		if l < 4 || l > len(b) {
			break
		}
		var a rtattr
		a.Attr.Type = binary.NativeEndian.Uint16(b[2:4])
		a.Value = b[4:l]
		out = append(out, a)
		b = b[min(len(b), (l+3)&^3):]
	}
	return out
}

// attr writes a route attribute (struct rtattr and value) into b.
func attr(b []byte, typ uint16, val []byte) {
	binary.NativeEndian.PutUint16(b[0:], uint16(4+len(val)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[4:], val)
}

// request sends one netlink request and collects the answer: the messages
// up to NLMSG_DONE for a dump, the one reply otherwise, or the ACK.
func request(typ uint16, flags uint16, body []byte) ([]syscall.NetlinkMessage, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	tv := unix.Timeval{Sec: 2}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	const seq = 1
	msg := make([]byte, unix.NLMSG_HDRLEN+len(body))
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], flags)
	binary.NativeEndian.PutUint32(msg[8:], seq)
	copy(msg[unix.NLMSG_HDRLEN:], body)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send: %w", err)
	}
	var out []syscall.NetlinkMessage
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("netlink parse: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
						return nil, unix.Errno(-e)
					}
				}
				return out, nil // an ACK
			}
			m.Data = append([]byte(nil), m.Data...)
			out = append(out, m)
			if flags&unix.NLM_F_DUMP != unix.NLM_F_DUMP && flags&unix.NLM_F_ACK == 0 {
				return out, nil
			}
		}
	}
}
