//go:build linux

package lab

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// crashRunEnv makes the test binary a lab run that crashes: it brings a lab
// up and exits without Down.
const crashRunEnv = "TABBY_LAB_CRASH_RUN"

func TestMain(m *testing.M) {
	if id := os.Getenv(crashRunEnv); id != "" {
		os.Exit(crashRun(id))
	}
	os.Exit(m.Run())
}

func crashRun(id string) int {
	topo, err := readTopology("testdata/two-hosts.yaml")
	if err == nil {
		_, err = Up(context.Background(), topo, Options{RunID: id})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return 0
}

func readTopology(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseTopology(data)
}

// needLab skips the test unless the machine can run the lab (root, and
// network namespaces can be made); under CI=true it fails instead.
func needLab(t *testing.T) {
	t.Helper()
	fail := t.Skipf
	if os.Getenv("CI") == "true" {
		fail = t.Fatalf
	}
	if os.Geteuid() != 0 {
		fail("the lab needs root")
	}
	name := PrefixFor(newRunID(t)) + "check"
	if err := createNetNS(name); err != nil {
		fail("cannot make a network namespace: %v", err)
	}
	if err := deleteNetNS(name); err != nil {
		t.Fatal(err)
	}
}

func newRunID(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "t" + hex.EncodeToString(b)
}

// up brings the topology up for the test and tears it down after it, also
// if the test fails half way.
func up(t *testing.T, topo *Topology, opts Options) *Fabric {
	t.Helper()
	if opts.RunID == "" {
		opts.RunID = newRunID(t)
	}
	t.Cleanup(func() {
		if err := Cleanup(PrefixFor(opts.RunID)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	start := time.Now()
	f, err := Up(context.Background(), topo, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Down(); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	t.Logf("lab %s up in %v", f.RunID(), time.Since(start).Round(time.Millisecond))
	return f
}

func twoHosts(t *testing.T) *Topology {
	t.Helper()
	topo, err := readTopology("testdata/two-hosts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func TestFabricConnectsEveryPair(t *testing.T) {
	needLab(t)
	f := up(t, twoHosts(t), Options{})
	if err := f.SCTP(); err != nil {
		t.Logf("SCTP: %v", err)
	}

	specs := f.AllPairs()
	start := time.Now()
	results := f.ProbeAll(context.Background(), specs)
	t.Logf("%d probes in %v", len(results), time.Since(start).Round(time.Millisecond))

	hostOf := map[netip.Addr]string{}
	for _, w := range f.Workloads() {
		for _, ip := range w.IPs {
			hostOf[ip] = w.Host
		}
	}
	tests := []struct {
		name      string
		proto     Protocol
		v6        bool
		crossHost bool
	}{
		{"every pair on the same host connects over TCP/IPv4", TCP, false, false},
		{"every pair across hosts connects over TCP/IPv4", TCP, false, true},
		{"every pair on the same host connects over TCP/IPv6", TCP, true, false},
		{"every pair across hosts connects over TCP/IPv6", TCP, true, true},
		{"every pair on the same host gets its UDP/IPv4 echo", UDP, false, false},
		{"every pair across hosts gets its UDP/IPv4 echo", UDP, false, true},
		{"every pair on the same host gets its UDP/IPv6 echo", UDP, true, false},
		{"every pair across hosts gets its UDP/IPv6 echo", UDP, true, true},
		{"every pair on the same host gets its ICMP echo", ICMP, false, false},
		{"every pair across hosts gets its ICMP echo", ICMP, false, true},
		{"every pair on the same host gets its ICMPv6 echo", ICMP, true, false},
		{"every pair across hosts gets its ICMPv6 echo", ICMP, true, true},
		{"every pair on the same host connects over SCTP/IPv4", SCTP, false, false},
		{"every pair across hosts connects over SCTP/IPv4", SCTP, false, true},
		{"every pair on the same host connects over SCTP/IPv6", SCTP, true, false},
		{"every pair across hosts connects over SCTP/IPv6", SCTP, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n int
			for _, r := range results {
				from, _ := f.Workload(r.From)
				if r.Protocol != tt.proto || r.To.Is6() != tt.v6 || (from.Host != hostOf[r.To]) != tt.crossHost {
					continue
				}
				n++
				switch {
				case tt.proto == SCTP && f.SCTP() != nil:
					if r.Connected || !errors.Is(r.Err, ErrSCTPUnsupported) {
						t.Errorf("%v: want ErrSCTPUnsupported on a kernel without SCTP", r)
					}
				case !r.Connected:
					t.Errorf("%v", r)
				}
			}
			// 6 workloads, 3 per host: 6×2 ordered pairs on the same host,
			// 6×3 across; one probe per pair for ICMP and UDP, two for TCP
			// (ports 80 and 81), one for SCTP.
			want := map[bool]int{false: 12, true: 18}[tt.crossHost]
			if tt.proto == TCP {
				want *= 2
			}
			if n != want {
				t.Errorf("%d probes, want %d", n, want)
			}
			if tt.proto == SCTP && f.SCTP() != nil {
				t.Skipf("probes report %v, as they must on this kernel; connectivity untested", f.SCTP())
			}
		})
	}
}

func TestFabricIsWiredLikeCalico(t *testing.T) {
	needLab(t)
	f := up(t, twoHosts(t), Options{})
	ctx := context.Background()

	t.Run("each workload's host side is a cali veth with Calico's MAC in its host's namespace", func(t *testing.T) {
		for _, w := range f.Workloads() {
			h, _ := f.Host(w.Host)
			var got netlink.Link
			err := Exec(ctx, h.NetNS, func() error {
				var err error
				got, err = netlink.LinkByName(w.InterfaceName)
				return err
			})
			if err != nil {
				t.Errorf("%s: %v", w.Ref, err)
				continue
			}
			if got.Type() != "veth" || got.Attrs().HardwareAddr.String() != HostSideMAC {
				t.Errorf("%s: %s is a %s with MAC %s, want a veth with %s", w.Ref, w.InterfaceName, got.Type(), got.Attrs().HardwareAddr, HostSideMAC)
			}
		}
	})

	t.Run("each workload has its IPs as host addresses on eth0 and default routes via the link-local gateways", func(t *testing.T) {
		for _, w := range f.Workloads() {
			var addrs []string
			var gws []string
			err := Exec(ctx, w.NetNS, func() error {
				eth, err := netlink.LinkByName(WorkloadInterface)
				if err != nil {
					return err
				}
				as, err := netlink.AddrList(eth, netlink.FAMILY_ALL)
				if err != nil {
					return err
				}
				for _, a := range as {
					if !a.IP.IsLinkLocalUnicast() {
						addrs = append(addrs, a.IPNet.String())
					}
				}
				rs, err := netlink.RouteList(eth, netlink.FAMILY_ALL)
				if err != nil {
					return err
				}
				for _, r := range rs {
					if r.Dst == nil || r.Dst.IP.IsUnspecified() {
						gws = append(gws, r.Gw.String())
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %v", w.Ref, err)
			}
			var want []string
			for _, ip := range w.IPs {
				want = append(want, netip.PrefixFrom(ip, ip.BitLen()).String())
			}
			if diff := cmp.Diff(want, addrs); diff != "" {
				t.Errorf("%s addresses (-want +got):\n%s", w.Ref, diff)
			}
			if diff := cmp.Diff([]string{GatewayIPv4, GatewayIPv6}, gws); diff != "" {
				t.Errorf("%s default gateways (-want +got):\n%s", w.Ref, diff)
			}
		}
	})

	// A probe's packets are counted by the IP forwarding counter of each host
	// namespace that routes them, where the hosts' nftables forward hooks
	// will see them.
	forwarded := func(t *testing.T) map[string]int {
		t.Helper()
		out := map[string]int{}
		for _, h := range f.Hosts() {
			if err := Exec(ctx, h.NetNS, func() error {
				n, err := forwardedDatagrams()
				out[h.Name] = n
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	ws := f.Workloads()
	tests := []struct {
		name     string
		from, to WorkloadInfo
		// want is how many packets (at least) each host forwards for one TCP
		// connect and close: SYN, SYN-ACK, ACK, FIN and ACK both ways.
		want map[string]int
	}{
		{"traffic between hosts is forwarded by both host namespaces", ws[0], ws[4], map[string]int{"node-1": 5, "node-2": 5}},
		{"traffic within a host is forwarded by that host's namespace only", ws[3], ws[5], map[string]int{"node-1": 0, "node-2": 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := forwarded(t)
			if r := f.Probe(ctx, tt.from.Ref, tt.to.IPs[0], TCP, 80, time.Second); !r.Connected {
				t.Fatal(r)
			}
			// The closing handshake may still be in flight after the probe
			// returns.
			deadline := time.Now().Add(time.Second)
			for {
				after := forwarded(t)
				var short []string
				for host, want := range tt.want {
					got := after[host] - before[host]
					switch {
					case want == 0 && got != 0:
						short = append(short, fmt.Sprintf("%s forwarded %d packets, want none", host, got))
					case got < want:
						short = append(short, fmt.Sprintf("%s forwarded %d packets, want at least %d", host, got, want))
					}
				}
				if len(short) == 0 {
					return
				}
				if time.Now().After(deadline) {
					t.Fatal(strings.Join(short, "; "))
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}

	t.Run("a workload reaches the host endpoint ports of another host, and a host reaches a workload", func(t *testing.T) {
		h1, _ := f.Host("node-1")
		for _, ip := range h1.IPs {
			for _, p := range []Port{{Port: 22, Protocol: TCP}, {Port: 53, Protocol: UDP}} {
				if r := f.Probe(ctx, ws[4].Ref, ip, p.Protocol, p.Port, 0); !r.Connected {
					t.Error(r)
				}
			}
		}
		for _, ip := range ws[5].IPs {
			if r := f.ProbeFromHost(ctx, "node-1", ip, UDP, 80, 0); !r.Connected {
				t.Error(r)
			}
		}
	})

	t.Run("Command runs a program in a host's namespace", func(t *testing.T) {
		h2, _ := f.Host("node-2")
		out, err := Command(ctx, h2.NetNS, "ip", "-o", "link", "show").CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		for _, w := range ws {
			if got, want := strings.Contains(string(out), w.InterfaceName+"@"), w.Host == "node-2"; got != want {
				t.Errorf("%s in node-2's links: %v, want %v:\n%s", w.InterfaceName, got, want, out)
			}
		}
	})
}

// forwardedDatagrams reads Ip ForwDatagrams of the calling thread's network
// namespace (/proc/self would be the main thread's).
func forwardedDatagrams() (int, error) {
	file, err := os.Open("/proc/thread-self/net/snmp")
	if err != nil {
		return 0, err
	}
	defer file.Close()
	var header []string
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "Ip:" {
			continue
		}
		if header == nil {
			header = fields
			continue
		}
		for i, name := range header {
			if name == "ForwDatagrams" && i < len(fields) {
				return strconv.Atoi(fields[i])
			}
		}
	}
	return 0, fmt.Errorf("no Ip ForwDatagrams in snmp: %v", sc.Err())
}

func TestProbeWithoutAnswerIsNotConnected(t *testing.T) {
	needLab(t)
	topo := &Topology{Hosts: []Host{
		{Name: "node-1", Workloads: []Workload{{Namespace: "x", Name: "a", IPs: []string{"10.100.1.1", "fd00:100::1"}, Ports: []Port{{Port: 80, Protocol: TCP}, {Port: 80, Protocol: UDP}}}}},
		{Name: "node-2", Workloads: []Workload{
			{Namespace: "x", Name: "b", IPs: []string{"10.100.1.2", "fd00:100::2"}, Ports: []Port{{Port: 80, Protocol: TCP}, {Port: 80, Protocol: UDP}}},
			{Namespace: "x", Name: "c", IPs: []string{"10.100.1.3"}, Ports: []Port{{Port: 80, Protocol: TCP}, {Port: 80, Protocol: UDP}}},
		}},
	}}
	// A refusal must come before the timeout even when the first packet waits
	// for neighbour resolution on a machine loaded by parallel test packages.
	const timeout = time.Second
	f := up(t, topo, Options{ProbeTimeout: timeout})
	ctx := context.Background()
	a := WorkloadRef{"x", "a"}
	b, _ := f.Workload(WorkloadRef{"x", "b"})
	c, _ := f.Workload(WorkloadRef{"x", "c"})

	// Drop everything for x/c in node-2's namespace, as a DROP rule in its
	// forward hook would.
	h2, _ := f.Host("node-2")
	err := Exec(ctx, h2.NetNS, func() error {
		return netlink.RouteReplace(&netlink.Route{Dst: &net.IPNet{IP: c.IPs[0].AsSlice(), Mask: net.CIDRMask(32, 32)}, Type: unix.RTN_BLACKHOLE})
	})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		from  WorkloadRef
		to    netip.Addr
		proto Protocol
		port  uint16
		want  error
		// fast: the answer (a reset or port unreachable) comes well before
		// the timeout.
		fast bool
	}{
		{"a TCP probe to a port with no listener is refused", a, b.IPs[0], TCP, 9, ErrRefused, true},
		{"a TCP/IPv6 probe to a port with no listener is refused", a, b.IPs[1], TCP, 9, ErrRefused, true},
		{"a UDP probe to a port with no listener is refused", a, b.IPs[0], UDP, 9, ErrRefused, true},
		{"a UDP/IPv6 probe to a port with no listener is refused", a, b.IPs[1], UDP, 9, ErrRefused, true},
		{"a TCP probe whose packets are dropped times out", a, c.IPs[0], TCP, 80, ErrTimeout, false},
		{"a UDP probe whose packets are dropped times out", a, c.IPs[0], UDP, 80, ErrTimeout, false},
		{"an ICMP probe whose packets are dropped times out", a, c.IPs[0], ICMP, 0, ErrTimeout, false},
		{"a probe from an unknown workload reports an unknown source", WorkloadRef{"x", "zz"}, b.IPs[0], TCP, 80, ErrUnknownSource, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.Probe(ctx, tt.from, tt.to, tt.proto, tt.port, 0)
			if r.Connected || !errors.Is(r.Err, tt.want) {
				t.Fatalf("%v: want not connected with %v", r, tt.want)
			}
			// Generous slack: the race detector on a loaded machine delays
			// the wake-up after the deadline.
			if r.Elapsed > timeout+250*time.Millisecond {
				t.Errorf("%v: took longer than the timeout %v", r, timeout)
			}
			if tt.fast && r.Elapsed >= timeout {
				t.Errorf("%v: a refusal should come before the timeout %v", r, timeout)
			}
			if !tt.fast && r.Elapsed < timeout*9/10 {
				t.Errorf("%v: gave up before the timeout %v", r, timeout)
			}
		})
	}

	t.Run("a burst of probes to closed ports is refused every time, beyond the kernel's default ICMP rate limits", func(t *testing.T) {
		var specs []ProbeSpec
		for port := range uint16(60) {
			for _, ip := range b.IPs {
				specs = append(specs, ProbeSpec{From: a, To: ip, Protocol: UDP, Port: 1000 + port})
			}
		}
		for _, r := range f.ProbeAll(ctx, specs) {
			if r.Connected || !errors.Is(r.Err, ErrRefused) {
				t.Errorf("%v: want refused", r)
			}
		}
	})

	t.Run("the same probes connect once nothing drops them", func(t *testing.T) {
		for _, p := range []Protocol{TCP, UDP} {
			if r := f.Probe(ctx, a, b.IPs[0], p, 80, 0); !r.Connected {
				t.Error(r)
			}
		}
	})
}

func TestUpRejectsAnInvalidTopology(t *testing.T) {
	topo := &Topology{Hosts: []Host{{Name: "node-1", Workloads: []Workload{{Namespace: "x", Name: "a", IPs: []string{"bogus"}}}}}}
	f, err := Up(context.Background(), topo, Options{RunID: newRunID(t)})
	if !errors.Is(err, ErrInvalidTopology) || f != nil {
		t.Fatalf("Up() = %v, %v; want nil, ErrInvalidTopology", f, err)
	}
}

func TestUpFailingHalfWayRemovesWhatItMade(t *testing.T) {
	needLab(t)
	id := newRunID(t)
	prefix := PrefixFor(id)
	// Another owner's namespace under the name of the third workload: Up
	// makes the fabric, the hosts and two workloads, then fails.
	taken := prefix + "w-2"
	t.Cleanup(func() { Cleanup(prefix) })
	if err := createNetNS(taken); err != nil {
		t.Fatal(err)
	}
	f, err := Up(context.Background(), twoHosts(t), Options{RunID: id})
	if !errors.Is(err, fs.ErrExist) || f != nil {
		t.Fatalf("Up() = %v, %v; want nil and an error saying %s exists", f, err, taken)
	}
	if got := netnsFiles(t, prefix); !cmp.Equal([]string{taken}, got) {
		t.Errorf("namespaces after the failed Up: %v, want only the one it did not make, %s", got, taken)
	}
}

func TestDownRemovesEveryNamespace(t *testing.T) {
	needLab(t)
	f := up(t, twoHosts(t), Options{})
	prefix := PrefixFor(f.RunID())

	want := []string{f.FabricNetNS()}
	for _, h := range f.Hosts() {
		want = append(want, h.NetNS)
	}
	for _, w := range f.Workloads() {
		want = append(want, w.NetNS)
	}
	if got := netnsFiles(t, prefix); len(got) != 1+2+6 || !cmp.Equal(slices.Sorted(slices.Values(want)), got) {
		t.Fatalf("namespaces in /run/netns before Down: %v, want the fabric, 2 hosts and 6 workloads %v", got, slices.Sorted(slices.Values(want)))
	}
	if err := f.Down(); err != nil {
		t.Fatal(err)
	}
	if got := netnsFiles(t, prefix); len(got) != 0 {
		t.Errorf("namespaces left after Down: %v", got)
	}
	if err := f.Down(); err != nil {
		t.Errorf("second Down: %v", err)
	}
}

func TestCleanupRemovesLeftoversOfACrashedRun(t *testing.T) {
	needLab(t)
	id := newRunID(t)
	prefix := PrefixFor(id)
	other := PrefixFor(newRunID(t)) + "keep"
	t.Cleanup(func() {
		deleteNetNS(other)
		Cleanup(prefix)
	})
	if err := createNetNS(other); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashRunEnv+"="+id)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("crashing run: %v\n%s", err, out)
	}
	if got := netnsFiles(t, prefix); len(got) != 1+2+6 {
		t.Fatalf("the crashed run left %v, want its 9 namespaces", got)
	}
	if err := Cleanup(prefix); err != nil {
		t.Fatal(err)
	}
	if got := netnsFiles(t, prefix); len(got) != 0 {
		t.Errorf("namespaces left after Cleanup: %v", got)
	}
	if got := netnsFiles(t, other); len(got) != 1 {
		t.Errorf("Cleanup(%q) removed another run's namespace %s", prefix, other)
	}
}

func TestCleanupRefusesForeignPrefixes(t *testing.T) {
	for _, prefix := range []string{"", "cni-", "t-"} {
		t.Run(fmt.Sprintf("prefix %q is refused", prefix), func(t *testing.T) {
			if err := Cleanup(prefix); !errors.Is(err, ErrPrefix) {
				t.Errorf("Cleanup(%q) = %v, want ErrPrefix", prefix, err)
			}
		})
	}
}

// netnsFiles lists /run/netns directly rather than through ListNetNS.
func netnsFiles(t *testing.T, prefix string) []string {
	t.Helper()
	entries, err := os.ReadDir(netnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}
