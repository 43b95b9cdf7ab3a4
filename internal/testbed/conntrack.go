//go:build linux

package testbed

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// matchAll is a conntrack filter that matches every entry.
type matchAll struct{}

func (matchAll) MatchConntrackFlow(*netlink.ConntrackFlow) bool { return true }

// FlushConntrack forgets every connection the hosts' conntrack tables
// track (IPv4 and IPv6), so that the next probes are judged as new
// connections by the rules in force, not let through as established ones:
// a UDP probe that happens to reuse the source port of an earlier allowed
// one would otherwise be accepted by the conntrack fast path, as Calico
// accepts established flows after a policy change.
func (l *Lab) FlushConntrack() error {
	for _, h := range l.fabric.Hosts() {
		ns, err := netns.GetFromPath(h.NetNSPath)
		if err != nil {
			return fmt.Errorf("testbed: flush conntrack of host %s: %w", h.Name, err)
		}
		nl, err := netlink.NewHandleAt(ns)
		ns.Close()
		if err != nil {
			return fmt.Errorf("testbed: flush conntrack of host %s: %w", h.Name, err)
		}
		for _, family := range []netlink.InetFamily{netlink.FAMILY_V4, netlink.FAMILY_V6} {
			if _, err := nl.ConntrackDeleteFilters(netlink.ConntrackTable, family, matchAll{}); err != nil {
				nl.Close()
				return fmt.Errorf("testbed: flush conntrack of host %s: %w", h.Name, err)
			}
		}
		nl.Close()
	}
	return nil
}
