package lab

import (
	"net/netip"
	"time"
)

// The lab's addressing plan. These addresses exist only inside the lab's
// network namespaces, never on the machine's own interfaces.
const (
	// NamePrefix begins the name of every network namespace the lab makes:
	// "tb-<run>-fab", "tb-<run>-h-<host>", "tb-<run>-w-<n>".
	NamePrefix = "tb-"
	// HostInterface is a host's interface to the fabric, in its netns.
	HostInterface = "eth0"
	// WorkloadInterface is a workload's interface, in its netns.
	WorkloadInterface = "eth0"
	// FabricIPv4CIDR holds the hosts' fabric addresses: host i (0-based, in
	// topology order) has .i+1, the fabric gateway has .254.
	FabricIPv4CIDR = "172.31.255.0/24"
	// FabricIPv6CIDR holds the hosts' IPv6 fabric addresses: host i has ::i+1.
	FabricIPv6CIDR = "fd00:7ab::/64"
	// GatewayIPv4 is every workload's IPv4 next hop, answered by the host side
	// with proxy ARP, as in Calico.
	GatewayIPv4 = "169.254.1.1"
	// GatewayIPv6 is every workload's IPv6 next hop: the link-local address
	// of HostSideMAC, which the host side of every workload veth carries.
	GatewayIPv6 = "fe80::ecee:eeff:feee:eeee"
	// HostSideMAC is the MAC of the host side of every workload veth, as in
	// Calico.
	HostSideMAC = "ee:ee:ee:ee:ee:ee"
	// DefaultProbeTimeout bounds a probe when Options.ProbeTimeout is zero.
	DefaultProbeTimeout = 300 * time.Millisecond
	// DefaultWorkers is the concurrency of ProbeAll when Options.Workers is
	// zero.
	DefaultWorkers = 32
)

// maxHosts keeps .254 of the fabric /24 for the gateway.
const maxHosts = 253

var (
	fabricIPv4    = netip.MustParsePrefix(FabricIPv4CIDR)
	fabricIPv6    = netip.MustParsePrefix(FabricIPv6CIDR)
	fabricGateway = netip.AddrFrom4([4]byte{172, 31, 255, 254})
	gatewayIPv4   = netip.MustParseAddr(GatewayIPv4)
	gatewayIPv6   = netip.MustParseAddr(GatewayIPv6)
)

// hostAddrs returns the fabric addresses of the host at index i.
func hostAddrs(i int) (v4, v6 netip.Addr) {
	a4 := fabricIPv4.Addr().As4()
	a4[3] = byte(i + 1)
	a16 := fabricIPv6.Addr().As16()
	a16[15] = byte(i + 1)
	return netip.AddrFrom4(a4), netip.AddrFrom16(a16)
}
