// Package lab builds Tabby's testbed: simulated hosts and workloads as Linux
// network namespaces, wired the way Calico wires a node, with listeners in
// every workload and probes of real TCP, UDP, SCTP and ICMP packets between
// them. It installs no policy: the nftables dataplane and the agent are
// added on top of it, inside the host namespaces it makes.
//
// # Layout
//
// A Topology (hosts; on each, workloads and host endpoints) becomes, for a
// run with id <run>:
//
//	 tb-<run>-w-0           tb-<run>-h-node-1      tb-<run>-fab     tb-<run>-h-node-2      tb-<run>-w-3
//	┌──────────────┐      ┌──────────────────┐   ┌──────────┐   ┌──────────────────┐      ┌──────────────┐
//	│ eth0         │ veth │ cali0123456789a  │   │   br0    │   │  caliabcdef01234 │ veth │         eth0 │
//	│ 10.100.1.1/32├──────┤ (proxy ARP,      │   │ .254/24  │   │                  ├──────┤ 10.100.1.4/32│
//	│ default via  │      │  fe80::ecee:…)   │   │          │   │                  │      │  default via │
//	│ 169.254.1.1  │      │            eth0 ─┼───┤ h0    h1 ├───┼─ eth0            │      │  169.254.1.1 │
//	└──────────────┘      │  172.31.255.1/24 │   └──────────┘   │  172.31.255.2/24 │      └──────────────┘
//	                      └──────────────────┘                  └──────────────────┘
//	  workload netns  ──veth──  host netns  ──────── fabric ────────  host netns  ──veth──  workload netns
//
// Each workload has its own namespace (tb-<run>-w-<n>, n counting workloads
// across the topology) with one interface, WorkloadInterface, holding its
// IPs as /32 and /128 host addresses. Its default routes go to link-local
// gateways, as Calico's CNI plugin sets them up: GatewayIPv4 (169.254.1.1),
// answered by the host side with proxy ARP, and GatewayIPv6, the link-local
// address of HostSideMAC that every host side carries.
//
// The host side of the veth lives in the host's namespace
// (tb-<run>-h-<host>), named "cali" and 11 hex digits of SHA-1 like a
// Calico-managed pod's (CalicoInterfaceName) unless the topology names it, so
// it is exactly the interfaceName of the workload's WorkloadEndpoint. The
// host namespace forwards (IPv4 and IPv6), routes each local workload IP to
// its cali interface, and each remote workload IP via the fabric address of
// the host the workload runs on.
//
// Hosts reach each other over a fabric: a bridge in its own namespace
// (tb-<run>-fab) that every host's HostInterface plugs into. Host i (0-based,
// in topology order) has 172.31.255.i+1/24 and fd00:7ab::i+1/64 there; the
// bridge has 172.31.255.254, the hosts' IPv4 default gateway. The fabric
// namespace does not forward, so a packet for an address outside the lab is
// dropped there and never leaves the lab. These ranges exist only inside
// the lab's namespaces.
//
// A packet between workloads on different hosts is therefore forwarded by
// both host namespaces, and one between workloads on the same host by that
// host's namespace: the forward hooks of the hosts' nftables see it, as they
// see pod traffic on a Calico node. A workload probing itself never leaves
// its namespace, so AllPairs leaves those pairs out.
//
// # Why a namespace per host
//
// Tabby enforces policy with nftables on each host. Giving every simulated
// host its own network namespace gives it its own nftables ruleset,
// conntrack table, routes and sysctls, so several tabby-node agents can run
// side by side on one machine, and none of them ever touches the machine's
// own ruleset, interfaces or routes. Callers reach a host's ruleset through
// HostInfo.NetNSPath (for example nftables.WithNetNSFd), Exec or Command.
//
// # Listeners and probes
//
// Up starts, in every workload namespace, a listener on each of the
// workload's IPs for each port of the topology: TCP accepts and closes, UDP
// echoes each datagram, SCTP accepts and holds the association until the
// peer closes it. Host endpoint ports are served on the host's fabric
// addresses in the host namespace. ICMP echo is answered by the kernel.
// Sockets are created on a thread inside the namespace and keep working from
// any thread afterwards.
//
// Probe (and ProbeFromHost, ProbeAll over a bounded worker pool) sends one
// probe from a source namespace: a TCP or SCTP connect, a UDP datagram that
// must be echoed, or an ICMP echo request on a ping socket. Each is bounded
// by a short timeout (DefaultProbeTimeout). A dropped packet shows as
// ErrTimeout, a reset or port unreachable as ErrRefused; neither is
// Connected. Every lab namespace allows ping sockets
// (net.ipv4.ping_group_range) and does not rate-limit ICMP errors, so a
// burst of probes to closed or rejecting ports is refused every time instead
// of partly timing out.
//
// SCTP needs the kernel's sctp module. Up finds out whether the kernel has
// it (socket() autoloads it; Up runs `modprobe sctp` once if not); without
// it, SCTP ports are not served and SCTP probes report ErrSCTPUnsupported
// instead of a verdict (Fabric.SCTP).
//
// # Cleaning up
//
// Down closes the listeners and deletes the run's namespaces, and with them
// every interface and route, in any order of failure: Up calls it itself on
// error. A program must call Down on exit and on interrupt; Cleanup removes
// the namespaces of a run that crashed before Down, by name prefix
// (PrefixFor(runID), or NamePrefix for every run).
//
// # Implementation choices
//
// Namespaces, links, addresses and routes are made with
// github.com/vishvananda/netns and github.com/vishvananda/netlink rather than
// by running `ip`: one netlink socket per namespace, created inside it, does
// all the wiring without a process per step, returns typed errors (EEXIST,
// ENOENT) instead of text to parse, and creates each veth with its peer
// directly in the peer's namespace, so a workload's eth0 never exists, even
// for a moment, next to a host's own eth0. `ip netns exec` is used only by
// Command, to run programs in a namespace.
//
// # Requirements
//
// The package needs Linux, root (CAP_SYS_ADMIN and CAP_NET_ADMIN), the
// kernel's veth and bridge drivers and, for SCTP, its sctp module. It is the
// only Tabby package that changes kernel state, and it changes it only in
// namespaces it made, named with NamePrefix.
package lab
