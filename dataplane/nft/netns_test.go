//go:build linux

package nft

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/lab"
)

var (
	nsAll = "all()"
	tcp   = lab.TCP
	udp   = lab.UDP
	icmp  = lab.ICMP
)

// step is a set of objects added to the baseline and the probes that must
// then connect or not.
type step struct {
	name  string
	objs  []v3.Object
	cases []probeCase
	// check, when set, runs after the probes.
	check func(t *testing.T, tb *testbed)
}

// runSteps applies each step on top of the baseline, probes, and removes
// its objects again.
func runSteps(t *testing.T, tb *testbed, steps []step) {
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			tb.upsert(s.objs...)
			tb.sync()
			defer func() {
				for i := len(s.objs) - 1; i >= 0; i-- {
					tb.delete(v3.KeyOf(s.objs[i]))
				}
				tb.sync()
			}()
			tb.expect(t, s.cases)
			if s.check != nil {
				s.check(t, tb)
			}
			if t.Failed() {
				t.Logf("node-1:\n%s\nnode-2:\n%s", tb.dump("node-1"), tb.dump("node-2"))
			}
		})
	}
}

func allowFrom(sel string, ports ...int) v3.Rule {
	r := v3.Rule{Action: v3.Allow, Protocol: proto("TCP"), Source: v3.EntityRule{Selector: sel, NamespaceSelector: nsAll}}
	for _, p := range ports {
		r.Destination.Ports = append(r.Destination.Ports, v3.SinglePort(p))
	}
	return r
}

func ingressOnly(s *v3.NetworkPolicySpec) { s.Types = []v3.PolicyType{v3.PolicyTypeIngress} }

func inTier(name string) func(*v3.GlobalNetworkPolicySpec) {
	return func(s *v3.GlobalNetworkPolicySpec) { s.Tier = name }
}

// TestWorkloadPolicyOnRealPackets programs both hosts of the lab from the
// engine and checks real TCP, UDP and ICMP packets, IPv4 and IPv6, within
// a host and between hosts, against the policy and against the engine's
// own verdict.
func TestWorkloadPolicyOnRealPackets(t *testing.T) {
	tb := newTestbed(t, twoHosts(), Config{LogGroup: 7})
	tb.sync()
	xa, xb, ya := ref("x", "a"), ref("x", "b"), ref("y", "a")
	yb, za, zb := ref("y", "b"), ref("z", "a"), ref("z", "b")
	zNS := "projectcalico.org/namespace == 'z'"
	steps := []step{
		{
			name: "with only namespace profiles every workload reaches every other",
			cases: []probeCase{
				{xa, xb, 4, tcp, 80, true}, {xa, zb, 6, tcp, 80, true}, {xa, za, 4, udp, 80, true},
				{yb, xa, 6, icmp, 0, true}, {zb, ya, 4, icmp, 0, true}, {za, zb, 6, udp, 80, true},
			},
		},
		{
			name: "an ingress policy allows TCP/80 from app=a and the end of its tier drops the rest",
			objs: []v3.Object{np("z", "web", "app == 'b'", []v3.Rule{allowFrom("app == 'a'", 80)}, nil)},
			cases: []probeCase{
				{xa, zb, 4, tcp, 80, true}, {xa, zb, 6, tcp, 80, true}, {za, zb, 4, tcp, 80, true},
				{xb, zb, 4, tcp, 80, false}, {xa, zb, 4, udp, 80, false}, {xa, zb, 6, tcp, 81, false},
				{xa, zb, 4, icmp, 0, false}, {xa, za, 4, tcp, 81, true},
			},
			check: func(t *testing.T, tb *testbed) {
				cs, err := tb.hosts["node-2"].dp.Counters(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				web := v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "z", Name: "web"}
				pc := ByPolicy(cs)[web]
				if pc.Matched.Packets == 0 || pc.Evaluated.Packets < pc.Matched.Packets {
					t.Errorf("policy z/web counted %+v: want packets matched and at least as many evaluated", pc)
				}
				var eot uint64
				for _, c := range cs {
					if c.Ref.Kind == RefEndOfTier && c.Ref.Tier == "default" {
						eot += c.Packets
					}
				}
				if eot == 0 {
					t.Error("no end-of-tier drop counted")
				}
			},
		},
		{
			name: "a Deny in an earlier tier denies and a Pass hands over to the next tier",
			objs: []v3.Object{
				tier("security", 10, v3.Deny),
				gnp("security.gate", zNS, []v3.Rule{
					{Action: v3.Deny, Source: v3.EntityRule{NamespaceSelector: "projectcalico.org/name == 'y'"}},
					{Action: v3.Pass, Source: v3.EntityRule{NamespaceSelector: "projectcalico.org/name == 'x'"}},
				}, nil, inTier("security")),
				np("z", "web", "app == 'b'", []v3.Rule{allowFrom("app == 'a'", 80)}, nil),
			},
			cases: []probeCase{
				{xa, zb, 4, tcp, 80, true}, {xa, za, 6, tcp, 80, true}, {xa, zb, 4, udp, 80, false},
				{ya, zb, 4, tcp, 80, false}, {yb, za, 6, tcp, 80, false}, {za, zb, 4, tcp, 80, false},
			},
		},
		{
			name: "a tier whose policy only logs still denies at its end",
			objs: []v3.Object{
				tier("audit", 20, v3.Deny),
				gnp("audit.log", "app == 'a' && "+zNS, []v3.Rule{{Action: v3.Log}}, nil, inTier("audit"),
					func(s *v3.GlobalNetworkPolicySpec) { s.Types = []v3.PolicyType{v3.PolicyTypeIngress} }),
			},
			cases: []probeCase{{xa, za, 4, tcp, 80, false}, {zb, za, 6, udp, 80, false}, {za, xa, 4, tcp, 80, true}},
			check: func(t *testing.T, tb *testbed) {
				cs, err := tb.hosts["node-2"].dp.Counters(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				logged := ByPolicy(cs)[v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: "audit.log"}]
				if logged.Matched.Packets == 0 {
					t.Error("the Log rule counted no packet")
				}
			},
		},
		{
			name: "named ports resolve per destination endpoint, on egress to remote peers and on ingress",
			objs: []v3.Object{
				np("x", "out", "app == 'a'", nil, []v3.Rule{{Action: v3.Allow, Protocol: proto("TCP"),
					Destination: v3.EntityRule{Selector: "app == 'b'", NamespaceSelector: nsAll, Ports: []v3.Port{v3.NamedPort("http")}}}}),
				np("z", "in", "app == 'a'", []v3.Rule{{Action: v3.Allow, Protocol: proto("TCP"),
					Destination: v3.EntityRule{Ports: []v3.Port{v3.NamedPort("http")}}}}, nil),
			},
			cases: []probeCase{
				{xa, yb, 4, tcp, 8080, true}, {xa, yb, 6, tcp, 80, false}, {xa, zb, 6, tcp, 80, true},
				{xa, xb, 4, tcp, 80, true}, {xa, xb, 4, tcp, 81, false}, {xa, za, 4, tcp, 80, false},
				{yb, za, 4, tcp, 80, true}, {yb, za, 6, tcp, 81, false},
			},
		},
		{
			name: "nets and notNets match source addresses",
			objs: []v3.Object{np("z", "nets", "app == 'a'", []v3.Rule{
				{Action: v3.Allow, Source: v3.EntityRule{Nets: []string{"10.100.1.0/24"}, NotNets: []string{"10.100.1.2/32"}}},
				{Action: v3.Allow, Source: v3.EntityRule{Nets: []string{"fd00:100::1:0/112"}, NotNets: []string{"fd00:100::1:2/128"}}},
			}, nil)},
			cases: []probeCase{
				{xa, za, 4, tcp, 80, true}, {xa, za, 6, udp, 80, true}, {xb, za, 4, tcp, 80, false},
				{xb, za, 6, tcp, 80, false}, {ya, za, 4, icmp, 0, false},
			},
		},
		{
			name: "UDP, ICMP types and IPv6-only rules",
			objs: []v3.Object{np("z", "proto", "app == 'b'", []v3.Rule{
				{Action: v3.Allow, Protocol: proto("UDP"), Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(80)}}},
				{Action: v3.Allow, Protocol: proto("ICMP"), ICMP: &v3.ICMPFields{Type: ptr(8), Code: ptr(0)}},
				{Action: v3.Allow, IPVersion: ptr(6), Protocol: proto("TCP")},
			}, nil)},
			cases: []probeCase{
				{xa, zb, 4, udp, 80, true}, {xa, zb, 6, udp, 80, true}, {xa, zb, 4, icmp, 0, true},
				{xa, zb, 6, icmp, 0, false}, {xa, zb, 4, tcp, 80, false}, {xa, zb, 6, tcp, 81, true},
			},
		},
		{
			name: "a protocol given by number and notProtocol",
			objs: []v3.Object{np("z", "num", "app == 'b'", []v3.Rule{
				{Action: v3.Deny, NotProtocol: protoNum(17)},
				{Action: v3.Allow, Protocol: protoNum(17)},
			}, nil)},
			cases: []probeCase{{xa, zb, 4, udp, 80, true}, {xa, zb, 6, tcp, 80, false}, {xa, zb, 4, icmp, 0, false}},
		},
	}
	runSteps(t, tb, steps)

	t.Run("a Log rule sends packets to the nflog group with a prefix naming tier, policy and rule", func(t *testing.T) {
		tb.upsert(np("z", "audit", "app == 'b'", []v3.Rule{{Action: v3.Log, Protocol: proto("TCP")}, {Action: v3.Allow}}, nil))
		tb.sync()
		h := tb.hosts["node-2"]
		logs := readNFLog(t, h.ns, 7)
		tb.expect(t, []probeCase{{xa, zb, 4, tcp, 80, true}})
		const want = "calico-packet: I default z/audit r0"
		select {
		case got := <-logs:
			if got != want {
				t.Errorf("nflog prefix %q, want %q", got, want)
			}
			ref, ok := h.dp.LogRef(got)
			if !ok || ref.Policy.Name != "audit" || ref.Index != 0 {
				t.Errorf("LogRef(%q) = %+v, %v", got, ref, ok)
			}
		case <-time.After(5 * time.Second):
			t.Error("no packet logged to nflog group 7")
		}
	})
}

// TestSelectorMembershipChangeUpdatesSetElementsOnly relabels and
// re-addresses members of a rule selector and checks that only set
// elements change while packets follow the new membership.
func TestSelectorMembershipChangeUpdatesSetElementsOnly(t *testing.T) {
	tb := newTestbed(t, twoHosts(), Config{})
	xa, xb, za := ref("x", "a"), ref("x", "b"), ref("z", "a")
	trusted := func(nets ...string) *v3.GlobalNetworkSet {
		return &v3.GlobalNetworkSet{ObjectMeta: meta("", "trusted", map[string]string{"kind": "trusted"}), Spec: v3.GlobalNetworkSetSpec{Nets: nets}}
	}
	tb.upsert(trusted("10.100.1.1/32"),
		gnp("from-trusted", "app == 'a' && projectcalico.org/namespace == 'z'", []v3.Rule{{Action: v3.Allow, Source: v3.EntityRule{Selector: "kind == 'trusted'"}}}, nil))
	tb.sync()
	tb.expect(t, []probeCase{{xa, za, 4, tcp, 80, true}, {xb, za, 4, tcp, 80, false}})

	t.Run("a network set gaining a net adds an element and rewrites no chain", func(t *testing.T) {
		tb.upsert(trusted("10.100.1.1/32", "10.100.1.2/32"))
		ch := tb.sync()
		if diff := cmp.Diff(Changes{ElementsAdded: 1, ElementsRemoved: 1, Messages: 2}, ch["node-2"]); diff != "" {
			t.Errorf("node-2 changes (-want +got):\n%s", diff)
		}
		if !ch["node-1"].Empty() {
			t.Errorf("node-1, where no rule uses the set, changed: %+v", ch["node-1"])
		}
		tb.expect(t, []probeCase{{xa, za, 4, tcp, 80, true}, {xb, za, 4, tcp, 80, true}})
	})
	t.Run("a workload labelled into the selector adds its addresses", func(t *testing.T) {
		tb.upsert(trusted("10.100.1.1/32"))
		tb.sync()
		tb.expect(t, []probeCase{{xb, za, 4, tcp, 80, false}, {xb, za, 6, tcp, 80, false}})
		old := tb.objs[tb.wls[xb]].(*v3.WorkloadEndpoint)
		b := &v3.WorkloadEndpoint{ObjectMeta: old.ObjectMeta, Spec: old.Spec}
		b.Labels = map[string]string{"app": "b", "kind": "trusted"}
		tb.upsert(b)
		ch := tb.sync()
		if got := ch["node-2"]; got.ChainsAdded+got.ChainsReplaced+got.ChainsRemoved != 0 || got.ElementsAdded != 2 {
			t.Errorf("node-2 changes %+v: want the two addresses of x/b added and no chain touched", got)
		}
		tb.expect(t, []probeCase{{xb, za, 4, tcp, 80, true}, {xb, za, 6, tcp, 80, true}})
	})
}

// TestDiffApplyKeepsEstablishedConnections opens a TCP connection, then
// applies a policy that denies new connections to its server, and checks
// that the connection still carries data while a new one is refused.
func TestDiffApplyKeepsEstablishedConnections(t *testing.T) {
	tb := newTestbed(t, twoHosts(), Config{})
	tb.sync()
	za, xa := tb.workload("z", "a"), tb.workload("x", "a")
	for _, fam := range []int{4, 6} {
		server := netip.AddrPortFrom(addrOf(za, fam), 9000+uint16(fam))
		echoServer(t, za.NetNS, server)
		conn := dialFrom(t, xa.NetNS, server)
		roundTrip(t, conn, "before")

		tb.upsert(np("z", "lockdown", "app == 'a'", nil, nil, ingressOnly))
		ch := tb.sync()
		if got := ch["node-2"]; got.TableCreated || got.ChainsAdded != 1 || got.ChainsReplaced != 1 {
			t.Errorf("IPv%d: node-2 changes %+v: want the policy's chain added and z/a's chain replaced", fam, got)
		}
		t.Run(fmt.Sprintf("the established IPv%d connection still carries data", fam), func(t *testing.T) {
			roundTrip(t, conn, "after")
		})
		t.Run(fmt.Sprintf("a new IPv%d connection is dropped", fam), func(t *testing.T) {
			r := tb.f.Probe(context.Background(), xa.Ref, server.Addr(), lab.TCP, server.Port(), 0)
			if r.Connected || !errors.Is(r.Err, lab.ErrTimeout) {
				t.Errorf("%v: want a timeout", r)
			}
		})
		conn.Close()
		tb.delete(v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "z", Name: "lockdown"})
		tb.sync()
	}
}

// echoServer serves TCP on addr in a namespace, echoing lines.
func echoServer(t *testing.T, netns string, addr netip.AddrPort) {
	t.Helper()
	var ln net.Listener
	err := lab.Exec(context.Background(), netns, func() error {
		var err error
		ln, err = net.Listen("tcp", addr.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
}

func dialFrom(t *testing.T, netns string, addr netip.AddrPort) net.Conn {
	t.Helper()
	var c net.Conn
	err := lab.Exec(context.Background(), netns, func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr.String(), 2*time.Second)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != msg+"\n" {
		t.Fatalf("echo %q, %v; want %q", got, err, msg)
	}
}

// hostProbe is a probe from one host's namespace to another's address.
type hostProbe struct {
	from, to string
	fam      int
	proto    lab.Protocol
	port     uint16
	// want is nil for connected, else the error the probe must end with:
	// ErrRefused when the packet left (nothing listens), ErrTimeout when it
	// was dropped.
	want error
}

func (tb *testbed) expectHosts(t *testing.T, cases []hostProbe) {
	t.Helper()
	var specs []lab.ProbeSpec
	for _, c := range cases {
		to, _ := tb.f.Host(c.to)
		addr := to.IPs[0]
		if c.fam == 6 {
			addr = to.IPs[1]
		}
		specs = append(specs, lab.ProbeSpec{FromHost: c.from, To: addr, Protocol: c.proto, Port: c.port})
	}
	for i, r := range tb.f.ProbeAll(context.Background(), specs) {
		want := cases[i].want
		switch {
		case want == nil && !r.Connected:
			t.Errorf("%v: want connected", r)
		case want != nil && (r.Connected || !errors.Is(r.Err, want)):
			t.Errorf("%v: want %v", r, want)
		}
	}
}

// TestHostEndpoints puts node-1's fabric interface under a host endpoint
// with no profile: everything to and from the host is denied but the
// failsafe ports, policy opens more, applyOnForward policy reaches
// forwarded traffic, preDNAT policy comes before the normal policy, and
// doNotTrack policy before both, never before the failsafe ports.
func TestHostEndpoints(t *testing.T) {
	tb := newTestbed(t, twoHosts(), Config{})
	node := map[string]string{"role": "node"}
	tb.upsert(tb.hostEndpoint("node-1", "node-1-eth0", "eth0", node))
	tb.sync()
	xa, za := ref("x", "a"), ref("z", "a")
	n2 := netip.MustParseAddr("172.31.255.2")
	steps := []struct {
		name  string
		objs  []v3.Object
		hosts []hostProbe
		wls   []probeCase
	}{
		{
			name: "under default deny the failsafe ports stay open, inbound and outbound, and forwarded traffic is untouched",
			hosts: []hostProbe{
				{"node-2", "node-1", 4, tcp, 22, nil},
				{"node-2", "node-1", 4, udp, 53, lab.ErrTimeout},
				{"node-2", "node-1", 4, tcp, 8022, lab.ErrTimeout},
				{"node-1", "node-2", 4, tcp, 2379, lab.ErrRefused},
				{"node-1", "node-2", 4, tcp, 9999, lab.ErrTimeout},
			},
			wls: []probeCase{{xa, za, 4, tcp, 80, true}, {za, xa, 4, tcp, 81, true}},
		},
		{
			name: "a policy selecting the host endpoint opens a port",
			objs: []v3.Object{gnp("node-admin", "role == 'node'", []v3.Rule{{Action: v3.Allow, Protocol: proto("TCP"),
				Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(8022)}}}}, nil)},
			hosts: []hostProbe{{"node-2", "node-1", 4, tcp, 8022, nil}, {"node-2", "node-1", 4, udp, 53, lab.ErrTimeout}},
		},
		{
			name: "applyOnForward policy applies to traffic forwarded through the host endpoint",
			objs: []v3.Object{gnp("node-fwd", "role == 'node'", []v3.Rule{
				{Action: v3.Deny, Protocol: proto("TCP"), Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(81)}}},
				{Action: v3.Allow, Destination: v3.EntityRule{Nets: []string{"10.100.0.0/16"}}},
			}, nil, func(s *v3.GlobalNetworkPolicySpec) { s.ApplyOnForward = true })},
			hosts: []hostProbe{{"node-2", "node-1", 4, udp, 53, lab.ErrTimeout}},
			wls:   []probeCase{{za, xa, 4, tcp, 81, false}, {za, xa, 4, tcp, 80, true}, {xa, za, 4, tcp, 81, true}},
		},
		{
			name: "preDNAT policy denies before the normal policy allows, but not the failsafe ports",
			objs: []v3.Object{
				gnp("node-admin", "role == 'node'", []v3.Rule{{Action: v3.Allow, Protocol: proto("TCP")}}, nil),
				gnp("node-pre", "role == 'node'", []v3.Rule{{Action: v3.Deny, Protocol: proto("TCP"),
					Source: v3.EntityRule{Nets: []string{netip.PrefixFrom(n2, 32).String()}}}}, nil,
					func(s *v3.GlobalNetworkPolicySpec) {
						s.PreDNAT, s.ApplyOnForward, s.Types = true, true, []v3.PolicyType{v3.PolicyTypeIngress}
					}),
			},
			hosts: []hostProbe{{"node-2", "node-1", 4, tcp, 8022, lab.ErrTimeout}, {"node-2", "node-1", 4, tcp, 22, nil}},
		},
		{
			name: "doNotTrack policy allows untracked traffic the normal policy denies, and cannot close a failsafe port",
			objs: []v3.Object{gnp("node-raw", "role == 'node'",
				[]v3.Rule{
					{Action: v3.Deny, Protocol: proto("TCP"), Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(22)}}},
					{Action: v3.Allow, Protocol: proto("UDP"), Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(53)}}},
				},
				[]v3.Rule{{Action: v3.Allow, Protocol: proto("UDP"), Source: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(53)}}}},
				func(s *v3.GlobalNetworkPolicySpec) { s.DoNotTrack, s.ApplyOnForward = true, true })},
			hosts: []hostProbe{
				{"node-2", "node-1", 4, udp, 53, nil}, {"node-2", "node-1", 4, tcp, 22, nil},
				{"node-2", "node-1", 4, tcp, 8022, lab.ErrTimeout},
			},
		},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			tb.upsert(s.objs...)
			tb.sync()
			defer func() {
				for _, o := range s.objs {
					tb.delete(v3.KeyOf(o))
				}
				tb.sync()
			}()
			tb.expectHosts(t, s.hosts)
			// The engine does not model host endpoints' forward policy
			// for workload flows, so these are checked against the
			// policy only.
			for _, c := range s.wls {
				spec := lab.ProbeSpec{From: c.from, To: addrOf(tb.workload(c.to.Namespace, c.to.Name), c.fam), Protocol: c.proto, Port: c.port}
				if r := tb.f.ProbeAll(context.Background(), []lab.ProbeSpec{spec})[0]; r.Connected != c.want {
					t.Errorf("%v: connected=%v, want %v", c, r.Connected, c.want)
				}
			}
			if t.Failed() {
				t.Logf("node-1:\n%s", tb.dump("node-1"))
			}
		})
	}
	t.Run("a host endpoint for all interfaces covers the fabric interface but not loopback", func(t *testing.T) {
		tb.delete(v3.Key{Kind: v3.KindHostEndpoint, Name: "node-1-eth0"})
		tb.upsert(tb.hostEndpoint("node-1", "node-1-all", AllInterfaces, node))
		tb.sync()
		tb.expectHosts(t, []hostProbe{
			{"node-2", "node-1", 4, tcp, 8022, lab.ErrTimeout},
			{"node-2", "node-1", 4, tcp, 22, nil},
			{"node-1", "node-1", 4, tcp, 8022, nil},
		})
		if r := tb.f.Probe(context.Background(), xa, netip.MustParseAddr("10.100.3.1"), tcp, 80, 0); !r.Connected {
			t.Errorf("%v: forwarded traffic must not be affected", r)
		}
	})
	t.Run("the failsafe rule counts the packets it let in", func(t *testing.T) {
		cs, err := tb.hosts["node-1"].dp.Counters(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Chain == chainFailsafeIn && strings.HasSuffix(c.Comment, "tcp/22") && c.Packets > 0 {
				return
			}
		}
		t.Error("failsafe-in counted no packet to TCP/22")
	})
}

// TestTableOwnership checks that the dataplane replaces a stale table of
// its own name on its first apply and removes only its table.
func TestTableOwnership(t *testing.T) {
	tb := newTestbed(t, &lab.Topology{Hosts: []lab.Host{{Name: "node-1"}}}, Config{})
	h := tb.hosts["node-1"]
	c, err := nftables.New(nftables.WithNetNSFd(int(h.ns.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	stale := c.AddTable(&nftables.Table{Name: DefaultTable, Family: nftables.TableFamilyINet})
	c.AddChain(&nftables.Chain{Name: "left-over", Table: stale})
	other := c.AddTable(&nftables.Table{Name: "other", Family: nftables.TableFamilyINet})
	c.AddChain(&nftables.Chain{Name: "theirs", Table: other})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	chains := func() []string {
		cs, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ch := range cs {
			if ch.Name == "left-over" || ch.Name == "theirs" || ch.Name == chainFilterForward {
				out = append(out, ch.Table.Name+"/"+ch.Name)
			}
		}
		return out
	}
	ch := tb.sync()["node-1"]
	t.Run("the first apply replaces a stale table of the same name", func(t *testing.T) {
		if !ch.TableCreated {
			t.Errorf("changes %+v: want the table created", ch)
		}
		want := []string{"other/theirs", "tabby/" + chainFilterForward}
		if diff := cmp.Diff(want, slices.Sorted(slices.Values(chains()))); diff != "" {
			t.Errorf("chains (-want +got):\n%s", diff)
		}
	})
	t.Run("Remove deletes the dataplane's table and nothing else", func(t *testing.T) {
		if err := h.dp.Remove(context.Background()); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"other/theirs"}, chains()); diff != "" {
			t.Errorf("chains (-want +got):\n%s", diff)
		}
		if err := h.dp.Remove(context.Background()); err != nil {
			t.Errorf("removing a removed table: %v", err)
		}
	})
	t.Run("after Remove the next sync creates the table again", func(t *testing.T) {
		if ch := tb.sync()["node-1"]; !ch.TableCreated {
			t.Errorf("changes %+v: want the table created", ch)
		}
	})
}

// TestLargeTransaction applies a ruleset of hundreds of endpoints and
// thousands of set elements in one transaction, then a one-policy change,
// in a real kernel.
func TestLargeTransaction(t *testing.T) {
	tb := newTestbed(t, &lab.Topology{Hosts: []lab.Host{{Name: "node-1"}}}, Config{})
	h := tb.hosts["node-1"]
	const endpoints, policies, members = 300, 20, 4000
	build := func(firstPort int) *Input { return largeInput(endpoints, policies, members, firstPort) }
	start := time.Now()
	ch, err := h.dp.Sync(context.Background(), build(1000))
	if err != nil {
		t.Fatal(err)
	}
	st := h.dp.Programmed().Stats()
	t.Logf("created %d chains, %d rules, %d sets, %d elements in %d messages in %v",
		st.Chains, st.Rules, st.Sets, st.Elements, ch.Messages, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	ch, err = h.dp.Sync(context.Background(), build(500))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a one-policy change: %+v in %v", ch, time.Since(start).Round(time.Millisecond))
	if ch.ChainsReplaced != 1 || ch.ChainsAdded+ch.ChainsRemoved != 0 || ch.Messages != 1+20 {
		t.Errorf("changes %+v: want one chain of 20 rules rewritten", ch)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(h.ns.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	table := &nftables.Table{Name: DefaultTable, Family: nftables.TableFamilyINet}
	elems, err := c.GetSetElements(&nftables.Set{Table: table, Name: selectorSet(4, "s:clients"), KeyType: nftables.TypeIPAddr, Interval: true})
	if err != nil {
		t.Fatal(err)
	}
	// Each address is an interval: a start and an end element.
	if len(elems) != 2*members {
		t.Errorf("the IPv4 selector set holds %d elements, want %d", len(elems), 2*members)
	}
	elems, err = c.GetSetElements(&nftables.Set{Table: table, Name: selectorSet(6, "s:clients"), KeyType: nftables.TypeIP6Addr, Interval: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(elems) != 2*members {
		t.Errorf("the IPv6 selector set holds %d elements, want %d", len(elems), 2*members)
	}
}

// TestEndOfTierDropsAreLogged runs with DropActionOverride LogAndDrop: a
// packet dropped at the end of a tier is logged to nflog, naming the tier.
func TestEndOfTierDropsAreLogged(t *testing.T) {
	tb := newTestbed(t, twoHosts(), Config{DropActionOverride: ActionLogAndDrop, LogGroup: 9})
	tb.upsert(np("z", "web", "app == 'b'", []v3.Rule{allowFrom("app == 'a'", 80)}, nil))
	tb.sync()
	h := tb.hosts["node-2"]
	logs := readNFLog(t, h.ns, 9)
	tb.expect(t, []probeCase{{ref("x", "b"), ref("z", "b"), 4, tcp, 80, false}})
	const want = "calico-packet: I default - eot"
	select {
	case got := <-logs:
		if got != want {
			t.Errorf("nflog prefix %q, want %q", got, want)
		}
		if r, ok := h.dp.LogRef(got); !ok || r.Kind != RefEndOfTier || r.Tier != "default" {
			t.Errorf("LogRef(%q) = %+v, %v; want the end of tier default", got, r, ok)
		}
	case <-time.After(5 * time.Second):
		t.Error("no end-of-tier drop logged to nflog group 9")
	}
}

// TestTakeOverKeepsHookedChains checks that a new Dataplane (a restarted
// agent) taking over a programmed table rebuilds it without ever removing
// its hooked chains. Were they deleted and re-created, the old and the new
// chains would share the hooks during the transaction, and a packet could
// cross one before the kernel's generation flip and the other after it,
// judged by neither.
func TestTakeOverKeepsHookedChains(t *testing.T) {
	tb := newTestbed(t, &lab.Topology{Hosts: []lab.Host{{Name: "node-1", Workloads: []lab.Workload{
		{Namespace: "x", Name: "a", IPs: []string{"10.100.1.1"}, Ports: []lab.Port{{Port: 80, Protocol: lab.TCP}}},
	}}}}, Config{})
	h := tb.hosts["node-1"]
	tb.sync()
	// The library does not expose chain handles; the nft tool does.
	hooked := func() map[string]string {
		out, err := exec.Command("nsenter", "--net="+h.info.NetNSPath, "nft", "-a", "list", "table", "inet", DefaultTable).CombinedOutput()
		if err != nil {
			t.Fatalf("nft list: %v\n%s", err, out)
		}
		handles := map[string]string{}
		lines := strings.Split(string(out), "\n")
		for i, l := range lines {
			f := strings.Fields(l)
			if len(f) == 7 && f[0] == "table" && f[5] == "handle" {
				// A table made anew gets a new handle; its chains' handles
				// restart from 1, so they alone would not tell.
				handles["table"] = f[6]
			}
			if len(f) == 6 && f[0] == "chain" && f[4] == "handle" && i+1 < len(lines) && strings.Contains(lines[i+1], " hook ") {
				handles[f[1]] = f[5]
			}
		}
		return handles
	}
	before := hooked()
	if len(before) < 2 {
		t.Fatalf("the first sync programmed no hooked chain: %v", before)
	}
	fresh, err := New(Config{NetNS: int(h.ns.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	ch, err := fresh.Sync(context.Background(), h.in)
	if err != nil {
		t.Fatal(err)
	}
	if !ch.TableCreated {
		t.Errorf("changes %+v: want the table rebuilt whole", ch)
	}
	if diff := cmp.Diff(before, hooked()); diff != "" {
		t.Errorf("hooked chains and their kernel handles changed (-before +after):\n%s", diff)
	}
	if got, want := fresh.Programmed().String(), h.dp.Programmed().String(); got != want {
		t.Errorf("the taken-over table differs from the original:\n%s\nwant:\n%s", got, want)
	}
}
