//go:build linux

package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Options tune a Fabric. The zero value is ready to use.
type Options struct {
	// RunID names this run's namespaces ("tb-<RunID>-..."): 1 to 12 lower-case
	// letters and digits. Empty means a random one.
	RunID string
	// ProbeTimeout bounds each probe; zero means DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// Workers is how many probes ProbeAll runs at once; zero means
	// DefaultWorkers.
	Workers int
}

// HostInfo is what the lab built for a host.
type HostInfo struct {
	Name string
	// NetNS is the name of the host's network namespace, where its nftables
	// ruleset belongs; NetNSPath is its path under /run/netns.
	NetNS     string
	NetNSPath string
	// Interface is the host's fabric interface (HostInterface) and IPs its
	// addresses there, IPv4 then IPv6: the expected IPs of its host endpoints.
	Interface string
	IPs       []netip.Addr
}

// WorkloadInfo is what the lab built for a workload.
type WorkloadInfo struct {
	Ref  WorkloadRef
	Host string
	// NetNS is the workload's network namespace; NetNSPath its path.
	NetNS     string
	NetNSPath string
	// InterfaceName is the host side of the workload's veth, in the host's
	// namespace: the WorkloadEndpoint's interfaceName.
	InterfaceName string
	// MAC is the address of the workload's own interface, WorkloadInterface.
	MAC net.HardwareAddr
	// IPs are the workload's addresses, in topology order.
	IPs []netip.Addr
}

// Fabric is a running lab. Its methods may be called concurrently, except
// Down, which must not overlap probes.
type Fabric struct {
	runID  string
	opts   Options
	fabNS  string
	hosts  []*labHost
	wls    []*labWorkload
	hostBy map[string]*labHost
	wlBy   map[WorkloadRef]*labWorkload
	// sctpErr is nil when the kernel speaks SCTP, else wraps
	// ErrSCTPUnsupported.
	sctpErr error

	namespaces []string // created, in creation order
	closers    []io.Closer
	serving    sync.WaitGroup

	downOnce sync.Once
	downErr  error
}

type labHost struct {
	info HostInfo
	spec *Host
}

type labWorkload struct {
	info WorkloadInfo
	spec *Workload
}

var runIDPattern = regexp.MustCompile(`^[a-z0-9]{1,12}$`)

// Up builds the lab of topo: a fabric namespace with a bridge, a namespace
// per host attached to the bridge, a namespace per workload attached to its
// host by a veth, the routes between them, and listeners on every port of
// the topology. It needs root. On error everything already made is removed.
// The caller must call Down, also when the program is interrupted.
func Up(ctx context.Context, topo *Topology, opts Options) (f *Fabric, err error) {
	if err := topo.Validate(); err != nil {
		return nil, err
	}
	if opts.RunID == "" {
		b := make([]byte, 3)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("lab: pick a run id: %w", err)
		}
		opts.RunID = hex.EncodeToString(b)
	}
	if !runIDPattern.MatchString(opts.RunID) {
		return nil, fmt.Errorf("lab: run id %q: want 1 to 12 lower-case letters and digits", opts.RunID)
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = DefaultProbeTimeout
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	f = &Fabric{
		runID:  opts.RunID,
		opts:   opts,
		hostBy: map[string]*labHost{},
		wlBy:   map[WorkloadRef]*labWorkload{},
	}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("lab: up %s: %w", f.runID, err), f.Down())
			f = nil
		}
	}()
	f.plan(topo)
	if err := f.makeNamespaces(ctx); err != nil {
		return f, err
	}
	if err := f.wire(); err != nil {
		return f, err
	}
	f.sctpErr = checkSCTP(ctx, NetNSPath(f.fabNS))
	if err := f.listen(); err != nil {
		return f, err
	}
	return f, nil
}

// plan names every namespace and address; it touches nothing.
func (f *Fabric) plan(topo *Topology) {
	prefix := PrefixFor(f.runID)
	f.fabNS = prefix + "fab"
	n := 0
	for i := range topo.Hosts {
		h := &topo.Hosts[i]
		v4, v6 := hostAddrs(i)
		lh := &labHost{spec: h, info: HostInfo{
			Name:      h.Name,
			NetNS:     prefix + "h-" + h.Name,
			Interface: HostInterface,
			IPs:       []netip.Addr{v4, v6},
		}}
		lh.info.NetNSPath = NetNSPath(lh.info.NetNS)
		f.hosts = append(f.hosts, lh)
		f.hostBy[h.Name] = lh
		for j := range h.Workloads {
			w := &h.Workloads[j]
			lw := &labWorkload{spec: w, info: WorkloadInfo{
				Ref:           w.Ref(),
				Host:          h.Name,
				NetNS:         prefix + "w-" + strconv.Itoa(n),
				InterfaceName: w.Interface(),
			}}
			lw.info.NetNSPath = NetNSPath(lw.info.NetNS)
			for _, s := range w.IPs {
				lw.info.IPs = append(lw.info.IPs, netip.MustParseAddr(s))
			}
			f.wls = append(f.wls, lw)
			f.wlBy[lw.info.Ref] = lw
			n++
		}
	}
}

func (f *Fabric) makeNamespaces(ctx context.Context) error {
	type nsConf struct {
		name    string
		sysctls [][2]string
	}
	// New namespaces copy IPv4 settings from the machine's own and reset
	// IPv6 ones, so everything the lab relies on is set explicitly.
	common := [][2]string{
		{"net/ipv4/conf/all/rp_filter", "0"},
		{"net/ipv4/conf/default/rp_filter", "0"},
		{"net/ipv4/ping_group_range", "0 2147483647"},
		{"net/ipv6/conf/all/accept_dad", "0"},
		{"net/ipv6/conf/default/accept_dad", "0"},
		// No rate limit on ICMP errors, so that a burst of probes to closed
		// or rejecting ports is refused every time rather than some of them
		// timing out.
		{"net/ipv4/icmp_ratemask", "0"},
		{"net/ipv6/icmp/ratelimit", "0"},
	}
	// Kernels before 5.x have no per-namespace IPv6 ICMP rate mask; there the
	// global limit of ICMPv6 errors (1000/s, bursts of 50) stays.
	optional := [][2]string{{"net/ipv6/icmp/ratemask", "\n"}}
	router := append([][2]string{
		{"net/ipv4/ip_forward", "1"},
		{"net/ipv6/conf/all/forwarding", "1"},
	}, common...)
	endpoint := append([][2]string{
		{"net/ipv4/ip_forward", "0"},
		{"net/ipv6/conf/all/forwarding", "0"},
	}, common...)
	confs := []nsConf{{f.fabNS, endpoint}}
	for _, h := range f.hosts {
		confs = append(confs, nsConf{h.info.NetNS, router})
	}
	for _, w := range f.wls {
		confs = append(confs, nsConf{w.info.NetNS, endpoint})
	}
	for _, c := range confs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := createNetNS(c.name); err != nil {
			return err
		}
		f.namespaces = append(f.namespaces, c.name)
		if err := setSysctls(NetNSPath(c.name), c.sysctls, false); err != nil {
			return err
		}
		if err := setSysctls(NetNSPath(c.name), optional, true); err != nil {
			return err
		}
	}
	return nil
}

// setSysctls writes /proc/sys entries from inside the namespace: the net
// sysctls a thread sees are those of its own network namespace. With
// optional, entries this kernel does not have are left out.
func setSysctls(nsPath string, kvs [][2]string, optional bool) error {
	return execAt(nsPath, func() error {
		for _, kv := range kvs {
			err := os.WriteFile(filepath.Join("/proc/sys", kv[0]), []byte(kv[1]), 0o644)
			if err != nil && !(optional && errors.Is(err, fs.ErrNotExist)) {
				return fmt.Errorf("sysctl %s=%q in %s: %w", kv[0], kv[1], nsPath, err)
			}
		}
		return nil
	})
}

// nsHandles holds a netlink handle and an open fd per namespace while the
// lab is wired.
type nsHandles struct {
	nl map[string]*netlink.Handle
	fd map[string]netns.NsHandle
}

func (h *nsHandles) open(name string) error {
	path := NetNSPath(name)
	fd, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", name, err)
	}
	h.fd[name] = fd
	// The handle's socket is created inside the namespace and stays bound to
	// it, so no thread has to stay there while the lab is wired.
	return execAt(path, func() error {
		nl, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("netlink in %s: %w", name, err)
		}
		h.nl[name] = nl
		return nil
	})
}

func (h *nsHandles) close() {
	for _, nl := range h.nl {
		nl.Close()
	}
	for _, fd := range h.fd {
		fd.Close()
	}
}

// wire creates the interfaces, addresses and routes.
func (f *Fabric) wire() error {
	hs := &nsHandles{nl: map[string]*netlink.Handle{}, fd: map[string]netns.NsHandle{}}
	defer hs.close()
	for _, name := range f.namespaces {
		if err := hs.open(name); err != nil {
			return err
		}
		if err := linkUp(hs.nl[name], "lo"); err != nil {
			return fmt.Errorf("netns %s: %w", name, err)
		}
	}
	if err := f.wireFabric(hs); err != nil {
		return err
	}
	for _, w := range f.wls {
		if err := f.wireWorkload(hs, w); err != nil {
			return fmt.Errorf("workload %s: %w", w.info.Ref, err)
		}
	}
	return f.routeBetweenHosts(hs)
}

// wireFabric makes the bridge every host's HostInterface plugs into. The
// bridge's own address is the hosts' default gateway; the fabric namespace
// does not forward, so packets for addresses outside the lab die there.
func (f *Fabric) wireFabric(hs *nsHandles) error {
	fab := hs.nl[f.fabNS]
	snooping := false
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}, MulticastSnooping: &snooping}
	if err := fab.LinkAdd(br); err != nil {
		return fmt.Errorf("fabric: add bridge: %w", err)
	}
	if err := fab.AddrAdd(br, addr(fabricGateway, fabricIPv4.Bits())); err != nil {
		return fmt.Errorf("fabric: address bridge: %w", err)
	}
	if err := fab.LinkSetUp(br); err != nil {
		return fmt.Errorf("fabric: bridge up: %w", err)
	}
	for i, h := range f.hosts {
		port := "h" + strconv.Itoa(i)
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: port, MasterIndex: br.Index},
			PeerName:      HostInterface,
			PeerNamespace: netlink.NsFd(hs.fd[h.info.NetNS]),
		}
		if err := fab.LinkAdd(veth); err != nil {
			return fmt.Errorf("host %s: add fabric veth: %w", h.info.Name, err)
		}
		if err := linkUp(fab, port); err != nil {
			return fmt.Errorf("host %s: %w", h.info.Name, err)
		}
		nl := hs.nl[h.info.NetNS]
		eth, err := nl.LinkByName(HostInterface)
		if err != nil {
			return fmt.Errorf("host %s: %w", h.info.Name, err)
		}
		for _, a := range h.info.IPs {
			bits := fabricIPv4.Bits()
			if a.Is6() {
				bits = fabricIPv6.Bits()
			}
			if err := nl.AddrAdd(eth, addr(a, bits)); err != nil {
				return fmt.Errorf("host %s: address %s: %w", h.info.Name, a, err)
			}
		}
		if err := nl.LinkSetUp(eth); err != nil {
			return fmt.Errorf("host %s: %s up: %w", h.info.Name, HostInterface, err)
		}
		def := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: fabricGateway.AsSlice()}
		if err := nl.RouteAdd(def); err != nil {
			return fmt.Errorf("host %s: default route: %w", h.info.Name, err)
		}
	}
	return nil
}

// wireWorkload makes the workload's veth the way Calico's CNI plugin does:
// the host side (cali…) has no IP, MAC HostSideMAC, proxy ARP and the IPv6
// link-local gateway; the workload side (eth0) has the workload's IPs as host
// routes and default routes via the link-local gateways.
func (f *Fabric) wireWorkload(hs *nsHandles, w *labWorkload) error {
	h := f.hostBy[w.info.Host]
	hnl, wnl := hs.nl[h.info.NetNS], hs.nl[w.info.NetNS]
	mac, _ := net.ParseMAC(HostSideMAC)
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: w.info.InterfaceName, HardwareAddr: mac},
		PeerName:      WorkloadInterface,
		PeerNamespace: netlink.NsFd(hs.fd[w.info.NetNS]),
	}
	if err := hnl.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s: %w", w.info.InterfaceName, err)
	}
	cali, err := hnl.LinkByName(w.info.InterfaceName)
	if err != nil {
		return err
	}
	// proxy_delay 0: proxy ARP answers broadcast requests after a random
	// delay of up to 0.8 s otherwise, longer than a probe waits.
	if err := setSysctls(h.info.NetNSPath, [][2]string{
		{"net/ipv4/conf/" + w.info.InterfaceName + "/proxy_arp", "1"},
		{"net/ipv4/neigh/" + w.info.InterfaceName + "/proxy_delay", "0"},
		{"net/ipv4/conf/" + w.info.InterfaceName + "/rp_filter", "1"},
	}, false); err != nil {
		return err
	}
	// The kernel derives this same address from the MAC when the link comes
	// up; adding it first makes it usable at once.
	if err := hnl.AddrAdd(cali, &netlink.Addr{IPNet: prefixNet(gatewayIPv6, 64), Flags: unix.IFA_F_NODAD, Scope: int(netlink.SCOPE_LINK)}); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("address %s: %w", w.info.InterfaceName, err)
	}
	if err := hnl.LinkSetUp(cali); err != nil {
		return fmt.Errorf("%s up: %w", w.info.InterfaceName, err)
	}
	eth, err := wnl.LinkByName(WorkloadInterface)
	if err != nil {
		return err
	}
	w.info.MAC = eth.Attrs().HardwareAddr
	for _, a := range w.info.IPs {
		if err := wnl.AddrAdd(eth, addr(a, a.BitLen())); err != nil {
			return fmt.Errorf("address %s: %w", a, err)
		}
		route := &netlink.Route{LinkIndex: cali.Attrs().Index, Dst: prefixNet(a, a.BitLen()), Scope: netlink.SCOPE_LINK}
		if err := hnl.RouteAdd(route); err != nil {
			return fmt.Errorf("host route %s: %w", a, err)
		}
	}
	if err := wnl.LinkSetUp(eth); err != nil {
		return fmt.Errorf("%s up: %w", WorkloadInterface, err)
	}
	idx := eth.Attrs().Index
	var v4, v6 bool
	for _, a := range w.info.IPs {
		v4, v6 = v4 || a.Is4(), v6 || a.Is6()
	}
	if v4 {
		gw := &netlink.Route{LinkIndex: idx, Dst: prefixNet(gatewayIPv4, 32), Scope: netlink.SCOPE_LINK}
		if err := wnl.RouteAdd(gw); err != nil {
			return fmt.Errorf("route to gateway: %w", err)
		}
		if err := wnl.RouteAdd(&netlink.Route{LinkIndex: idx, Gw: gatewayIPv4.AsSlice()}); err != nil {
			return fmt.Errorf("default route: %w", err)
		}
	}
	if v6 {
		if err := wnl.RouteAdd(&netlink.Route{LinkIndex: idx, Gw: gatewayIPv6.AsSlice()}); err != nil {
			return fmt.Errorf("IPv6 default route: %w", err)
		}
	}
	return nil
}

// routeBetweenHosts gives every host a route to every remote workload IP via
// the fabric address of the workload's host, so that a packet between hosts
// is forwarded by both host namespaces.
func (f *Fabric) routeBetweenHosts(hs *nsHandles) error {
	for _, h := range f.hosts {
		nl := hs.nl[h.info.NetNS]
		eth, err := nl.LinkByName(HostInterface)
		if err != nil {
			return fmt.Errorf("host %s: %w", h.info.Name, err)
		}
		for _, w := range f.wls {
			if w.info.Host == h.info.Name {
				continue
			}
			via := f.hostBy[w.info.Host].info.IPs
			for _, a := range w.info.IPs {
				gw := via[0]
				if a.Is6() {
					gw = via[1]
				}
				r := &netlink.Route{LinkIndex: eth.Attrs().Index, Dst: prefixNet(a, a.BitLen()), Gw: gw.AsSlice()}
				if err := nl.RouteAdd(r); err != nil {
					return fmt.Errorf("host %s: route %s via %s: %w", h.info.Name, a, gw, err)
				}
			}
		}
	}
	return nil
}

func linkUp(nl *netlink.Handle, name string) error {
	l, err := nl.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %s: %w", name, err)
	}
	if err := nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("%s up: %w", name, err)
	}
	return nil
}

// addr is an interface address that needs no duplicate address detection:
// the lab assigns every address once.
func addr(a netip.Addr, bits int) *netlink.Addr {
	return &netlink.Addr{IPNet: prefixNet(a, bits), Flags: unix.IFA_F_NODAD}
}

func prefixNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, a.BitLen())}
}

// RunID returns the run's id; PrefixFor(RunID()) begins all its namespaces.
func (f *Fabric) RunID() string { return f.runID }

// FabricNetNS returns the name of the namespace holding the fabric bridge.
func (f *Fabric) FabricNetNS() string { return f.fabNS }

// Hosts returns the hosts in topology order.
func (f *Fabric) Hosts() []HostInfo {
	out := make([]HostInfo, len(f.hosts))
	for i, h := range f.hosts {
		out[i] = h.info
	}
	return out
}

// Host returns the named host, or false if the topology has none.
func (f *Fabric) Host(name string) (HostInfo, bool) {
	h, ok := f.hostBy[name]
	if !ok {
		return HostInfo{}, false
	}
	return h.info, true
}

// Workloads returns the workloads in topology order.
func (f *Fabric) Workloads() []WorkloadInfo {
	out := make([]WorkloadInfo, len(f.wls))
	for i, w := range f.wls {
		out[i] = w.info
	}
	return out
}

// Workload returns the referenced workload, or false if the topology has
// none.
func (f *Fabric) Workload(ref WorkloadRef) (WorkloadInfo, bool) {
	w, ok := f.wlBy[ref]
	if !ok {
		return WorkloadInfo{}, false
	}
	return w.info, true
}

// SCTP returns nil if the kernel supports SCTP, so that the lab serves and
// probes it, and otherwise an error wrapping ErrSCTPUnsupported.
func (f *Fabric) SCTP() error { return f.sctpErr }

// Down stops the listeners and deletes every namespace of the run, which
// removes all its interfaces and routes. It is safe to call more than once
// and returns the first call's error.
func (f *Fabric) Down() error {
	f.downOnce.Do(func() {
		var errs []error
		for _, c := range f.closers {
			errs = append(errs, c.Close())
		}
		f.serving.Wait()
		// Workloads first, then hosts, then the fabric: the reverse of Up.
		for i := len(f.namespaces) - 1; i >= 0; i-- {
			errs = append(errs, deleteNetNS(f.namespaces[i]))
		}
		f.downErr = errors.Join(errs...)
		if f.downErr != nil {
			f.downErr = fmt.Errorf("lab: down %s: %w", f.runID, f.downErr)
		}
	})
	return f.downErr
}
