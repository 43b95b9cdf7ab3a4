package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// ErrNoInterfaceForIPs is returned by the default InterfaceForIPs when no
// interface holds any of a host endpoint's expected IPs.
var ErrNoInterfaceForIPs = errors.New("agent: no interface holds the host endpoint's expected IPs")

// interfaceLookup returns the default Config.InterfaceForIPs: it lists the
// addresses of the network namespace nsFD (0: the agent's own) over
// netlink and returns the interface of the first one in addrs. It is asked
// whenever such an endpoint is programmed.
func interfaceLookup(nsFD int) func(context.Context, []netip.Addr) (string, error) {
	return func(ctx context.Context, addrs []netip.Addr) (string, error) {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		var h *netlink.Handle
		var err error
		if nsFD == 0 {
			h, err = netlink.NewHandle()
		} else {
			h, err = netlink.NewHandleAt(netns.NsHandle(nsFD))
		}
		if err != nil {
			return "", fmt.Errorf("open netlink: %w", err)
		}
		defer h.Close()
		have, err := h.AddrList(nil, netlink.FAMILY_ALL)
		if err != nil {
			return "", fmt.Errorf("list addresses: %w", err)
		}
		for _, want := range addrs {
			for _, a := range have {
				got, ok := netip.AddrFromSlice(a.IP)
				if !ok || got.Unmap() != want.Unmap() {
					continue
				}
				link, err := h.LinkByIndex(a.LinkIndex)
				if err != nil {
					return "", fmt.Errorf("interface of %s: %w", want, err)
				}
				return link.Attrs().Name, nil
			}
		}
		return "", fmt.Errorf("%w: %v", ErrNoInterfaceForIPs, addrs)
	}
}
