//go:build linux

package nft

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
	"github.com/tabby-project/tabby/lab"
)

// needKernel skips a test that programs a kernel unless it runs as root;
// under CI=true it fails instead.
func needKernel(t *testing.T) {
	t.Helper()
	fail := t.Skipf
	if os.Getenv("CI") == "true" {
		fail = t.Fatalf
	}
	if os.Geteuid() != 0 {
		fail("programming nftables in network namespaces needs root")
	}
}

// testbed is a lab with an engine and a Dataplane per host, fed the way
// the agent feeds them: DrainSets, then Drain, then Sync.
type testbed struct {
	t     *testing.T
	f     *lab.Fabric
	e     *engine.Engine
	hosts map[string]*testHost
	// sets is shared by every host's Input.
	sets map[string][]engine.SetMember
	// objs are the endpoints upserted, to tell their host and ports.
	objs map[v3.Key]v3.Object
	// wls maps lab workloads to their endpoint keys.
	wls      map[lab.WorkloadRef]v3.Key
	profiles map[string]Profile
	remote   map[v3.Key]EndpointPorts
}

type testHost struct {
	name string
	info lab.HostInfo
	dp   *Dataplane
	in   *Input
	ns   *os.File
}

func newRunID(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "n" + hex.EncodeToString(b)
}

// newTestbed brings the topology up, with a Dataplane (configured by cfg)
// in every host and a WorkloadEndpoint per workload (profile
// kns.<namespace>, which allows everything), and tears everything down when
// the test ends. Host endpoints are left to the tests (hostEndpoint).
func newTestbed(t *testing.T, topo *lab.Topology, cfg Config) *testbed {
	t.Helper()
	needKernel(t)
	runID := newRunID(t)
	t.Cleanup(func() {
		if err := lab.Cleanup(lab.PrefixFor(runID)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	f, err := lab.Up(context.Background(), topo, lab.Options{RunID: runID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Down(); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	tb := &testbed{
		t: t, f: f, e: engine.New(),
		hosts:    map[string]*testHost{},
		sets:     map[string][]engine.SetMember{},
		objs:     map[v3.Key]v3.Object{},
		wls:      map[lab.WorkloadRef]v3.Key{},
		profiles: map[string]Profile{},
		remote:   map[v3.Key]EndpointPorts{},
	}
	for _, h := range f.Hosts() {
		ns, err := os.Open(h.NetNSPath)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ns.Close() })
		c := cfg
		c.NetNS = int(ns.Fd())
		dp, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dp.Close() })
		tb.hosts[h.Name] = &testHost{name: h.Name, info: h, dp: dp, ns: ns, in: &Input{
			Endpoints: map[v3.Key]Endpoint{}, Profiles: tb.profiles, Sets: tb.sets, RemotePorts: tb.remote,
		}}
	}
	namespaces := map[string]bool{}
	for _, h := range topo.Hosts {
		for _, w := range h.Workloads {
			info, _ := f.Workload(w.Ref())
			wep := &v3.WorkloadEndpoint{
				ObjectMeta: metav1.ObjectMeta{Namespace: w.Namespace, Name: w.Name, Labels: w.Labels},
				Spec: v3.WorkloadEndpointSpec{
					Orchestrator:  v3.OrchestratorKubernetes,
					Node:          h.Name,
					Pod:           w.Name,
					Endpoint:      "eth0",
					InterfaceName: info.InterfaceName,
					Profiles:      []string{"kns." + w.Namespace},
				},
			}
			for _, ip := range info.IPs {
				wep.Spec.IPNetworks = append(wep.Spec.IPNetworks, netip.PrefixFrom(ip, ip.BitLen()).String())
			}
			for _, p := range w.Ports {
				if p.Name != "" {
					wep.Spec.Ports = append(wep.Spec.Ports, v3.WorkloadEndpointPort{Name: p.Name, Protocol: v3.ProtocolFromString(string(p.Protocol)), Port: p.Port})
				}
			}
			tb.wls[w.Ref()] = v3.KeyOf(wep)
			tb.upsert(wep)
			namespaces[w.Namespace] = true
		}
	}
	for ns := range namespaces {
		tb.upsert(&v3.Profile{
			ObjectMeta: metav1.ObjectMeta{Name: "kns." + ns},
			Spec: v3.ProfileSpec{
				Ingress:       []v3.Rule{{Action: v3.Allow}},
				Egress:        []v3.Rule{{Action: v3.Allow}},
				LabelsToApply: map[string]string{"pcns.projectcalico.org/name": ns},
			},
		})
		tb.profiles["kns."+ns] = Profile{Ingress: []engine.Rule{{Action: v3.Allow}}, Egress: []engine.Rule{{Action: v3.Allow}}}
	}
	return tb
}

// upsert defaults, validates and upserts objects into the engine.
func (tb *testbed) upsert(objs ...v3.Object) {
	tb.t.Helper()
	for _, o := range objs {
		v3.Default(o)
		if err := v3.Validate(o); err != nil {
			tb.t.Fatalf("invalid %s: %v", v3.KeyOf(o), err)
		}
		if err := tb.e.Upsert(o); err != nil {
			tb.t.Fatalf("upsert %s: %v", v3.KeyOf(o), err)
		}
		switch o.(type) {
		case *v3.WorkloadEndpoint, *v3.HostEndpoint:
			tb.objs[v3.KeyOf(o)] = o
		}
	}
}

func (tb *testbed) delete(keys ...v3.Key) {
	for _, k := range keys {
		tb.e.Delete(k)
	}
}

// sync feeds the engine's output to every host and applies it, returning
// what changed per host.
func (tb *testbed) sync() map[string]Changes {
	tb.t.Helper()
	for _, su := range tb.e.DrainSets() {
		if su.Deleted {
			delete(tb.sets, su.ID)
			continue
		}
		tb.sets[su.ID], _ = tb.e.SetMembers(su.ID)
	}
	for _, u := range tb.e.Drain() {
		for _, h := range tb.hosts {
			delete(h.in.Endpoints, u.Endpoint)
		}
		if u.Policy == nil {
			delete(tb.remote, u.Endpoint)
			continue
		}
		switch o := tb.objs[u.Endpoint].(type) {
		case *v3.WorkloadEndpoint:
			ep, err := WorkloadEndpointOf(o, u.Policy)
			if err != nil {
				tb.t.Fatal(err)
			}
			tb.hosts[o.Spec.Node].in.Endpoints[u.Endpoint] = ep
			tb.remote[u.Endpoint] = EndpointPorts{Addrs: ep.Addrs, Ports: ep.Ports}
		case *v3.HostEndpoint:
			ep, err := HostEndpointOf(o, u.Policy)
			if err != nil {
				tb.t.Fatal(err)
			}
			tb.hosts[o.Spec.Node].in.Endpoints[u.Endpoint] = ep
		}
	}
	out := map[string]Changes{}
	for name, h := range tb.hosts {
		ch, err := h.dp.Sync(context.Background(), h.in)
		if err != nil {
			tb.t.Fatalf("host %s: %v", name, err)
		}
		if probs := h.dp.Programmed().Problems(); len(probs) > 0 {
			tb.t.Fatalf("host %s: %v", name, probs)
		}
		out[name] = ch
	}
	return out
}

// workload returns a lab workload's info.
func (tb *testbed) workload(ns, name string) lab.WorkloadInfo {
	tb.t.Helper()
	w, ok := tb.f.Workload(lab.WorkloadRef{Namespace: ns, Name: name})
	if !ok {
		tb.t.Fatalf("no workload %s/%s", ns, name)
	}
	return w
}

// probeCase is one probe and whether it must connect.
type probeCase struct {
	from, to lab.WorkloadRef
	fam      int
	proto    lab.Protocol
	port     uint16
	want     bool
}

func (p probeCase) String() string {
	if p.proto == lab.ICMP {
		return fmt.Sprintf("%s -> %s IPv%d ICMP", p.from, p.to, p.fam)
	}
	return fmt.Sprintf("%s -> %s IPv%d %s/%d", p.from, p.to, p.fam, p.proto, p.port)
}

func addrOf(w lab.WorkloadInfo, fam int) netip.Addr {
	for _, a := range w.IPs {
		if (fam == 4) == a.Is4() {
			return a
		}
	}
	return netip.Addr{}
}

func labProto(p lab.Protocol) int {
	switch p {
	case lab.TCP:
		return protoTCP
	case lab.UDP:
		return protoUDP
	case lab.SCTP:
		return protoSCTP
	}
	return 0
}

// expect runs the probes concurrently and checks that each connects
// exactly when it should, and that the engine predicts the same.
func (tb *testbed) expect(t *testing.T, cases []probeCase) {
	t.Helper()
	specs := make([]lab.ProbeSpec, len(cases))
	for i, c := range cases {
		specs[i] = lab.ProbeSpec{From: c.from, To: addrOf(tb.workload(c.to.Namespace, c.to.Name), c.fam), Protocol: c.proto, Port: c.port}
	}
	results := tb.f.ProbeAll(context.Background(), specs)
	for i, c := range cases {
		r := results[i]
		if r.Connected != c.want {
			t.Errorf("%v: connected=%v, want %v (%v)", c, r.Connected, c.want, r.Err)
		}
		if got := tb.predict(c); got != c.want {
			t.Errorf("%v: the engine predicts allowed=%v, the test wants %v", c, got, c.want)
		}
	}
}

// predict asks the engine whether the probe is allowed.
func (tb *testbed) predict(c probeCase) bool {
	tb.t.Helper()
	src, dst := tb.workload(c.from.Namespace, c.from.Name), tb.workload(c.to.Namespace, c.to.Name)
	f := engine.Flow{
		Src:       engine.Peer{Endpoint: tb.wls[c.from], IP: addrOf(src, c.fam)},
		Dst:       engine.Peer{Endpoint: tb.wls[c.to], IP: addrOf(dst, c.fam)},
		Protocol:  labProto(c.proto),
		DstPort:   int(c.port),
		IPVersion: c.fam,
	}
	if c.proto == lab.ICMP {
		f.Protocol, f.ICMP = protoICMP, &engine.ICMP{Type: 8}
		if c.fam == 6 {
			f.Protocol, f.ICMP = protoICMPv6, &engine.ICMP{Type: 128}
		}
	}
	res, err := tb.e.Evaluate(f)
	if err != nil {
		tb.t.Fatalf("%v: evaluate: %v", c, err)
	}
	return res.Verdict == v3.Allow
}

// dump returns a host's ruleset as `nft list ruleset` prints it, for
// failure messages; empty if nft is not installed.
func (tb *testbed) dump(host string) string {
	out, err := lab.Command(context.Background(), tb.hosts[host].info.NetNS, "nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("nft list ruleset: %v: %s", err, out)
	}
	return string(out)
}

func ref(ns, name string) lab.WorkloadRef { return lab.WorkloadRef{Namespace: ns, Name: name} }

// twoHosts is the lab of the netns tests: two hosts, workloads in
// namespaces x, y and z, dual-stack, serving TCP and UDP 80 (named
// http and dns) and TCP 81, except y/b whose "http" is TCP 8080; node-1's eth0 is a host
// endpoint serving TCP 22 and UDP 53 and TCP 8022.
func twoHosts() *lab.Topology {
	ports := []lab.Port{
		{Port: 80, Protocol: lab.TCP, Name: "http"},
		{Port: 80, Protocol: lab.UDP, Name: "dns"},
		{Port: 81, Protocol: lab.TCP},
	}
	// y/b calls its port 80 "web" and serves "http" on 8080.
	alt := []lab.Port{
		{Port: 80, Protocol: lab.TCP, Name: "web"},
		{Port: 80, Protocol: lab.UDP, Name: "dns"},
		{Port: 81, Protocol: lab.TCP},
		{Port: 8080, Protocol: lab.TCP, Name: "http"},
	}
	return &lab.Topology{Hosts: []lab.Host{
		{Name: "node-1",
			HostEndpoints: []lab.HostEndpoint{{Name: "node-1-eth0", InterfaceName: "eth0", Labels: map[string]string{"role": "node"},
				Ports: []lab.Port{{Port: 22, Protocol: lab.TCP, Name: "ssh"}, {Port: 53, Protocol: lab.UDP, Name: "dns"}, {Port: 8022, Protocol: lab.TCP, Name: "admin"}}}},
			Workloads: []lab.Workload{
				{Namespace: "x", Name: "a", Labels: map[string]string{"app": "a"}, IPs: []string{"10.100.1.1", "fd00:100::1:1"}, Ports: ports},
				{Namespace: "x", Name: "b", Labels: map[string]string{"app": "b"}, IPs: []string{"10.100.1.2", "fd00:100::1:2"}, Ports: ports},
				{Namespace: "y", Name: "a", Labels: map[string]string{"app": "a"}, IPs: []string{"10.100.2.1", "fd00:100::2:1"}, Ports: ports},
			}},
		{Name: "node-2", Workloads: []lab.Workload{
			{Namespace: "y", Name: "b", Labels: map[string]string{"app": "b"}, IPs: []string{"10.100.2.2", "fd00:100::2:2"}, Ports: alt},
			{Namespace: "z", Name: "a", Labels: map[string]string{"app": "a"}, IPs: []string{"10.100.3.1", "fd00:100::3:1"}, Ports: ports},
			{Namespace: "z", Name: "b", Labels: map[string]string{"app": "b", "tier": "backend"}, IPs: []string{"10.100.3.2", "fd00:100::3:2"}, Ports: ports},
		}},
	}}
}

// hostEndpoint returns the HostEndpoint of a host's interface with the
// host's fabric addresses as expected IPs and the topology's ports of it.
func (tb *testbed) hostEndpoint(host, name, iface string, labels map[string]string, profiles ...string) *v3.HostEndpoint {
	info, _ := tb.f.Host(host)
	hep := &v3.HostEndpoint{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       v3.HostEndpointSpec{Node: host, InterfaceName: iface, Profiles: profiles},
	}
	for _, ip := range info.IPs {
		hep.Spec.ExpectedIPs = append(hep.Spec.ExpectedIPs, ip.String())
	}
	return hep
}
