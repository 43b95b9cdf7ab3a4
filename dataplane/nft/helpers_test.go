package nft

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
)

func ptr[T any](v T) *T { return &v }

func proto(s string) *v3.Protocol { p := v3.ProtocolFromString(s); return &p }

func protoNum(n int) *v3.Protocol { p := v3.ProtocolFromInt(n); return &p }

func meta(ns, name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}
}

// pod is a workload endpoint on node-1 with the namespace profile.
func pod(ns, name, iface string, ips []string, labels map[string]string, ports ...v3.WorkloadEndpointPort) *v3.WorkloadEndpoint {
	return &v3.WorkloadEndpoint{
		ObjectMeta: meta(ns, name, labels),
		Spec: v3.WorkloadEndpointSpec{
			Orchestrator:  v3.OrchestratorKubernetes,
			Node:          "node-1",
			Pod:           name,
			Endpoint:      "eth0",
			InterfaceName: iface,
			IPNetworks:    ips,
			Profiles:      []string{"kns." + ns},
			Ports:         ports,
		},
	}
}

func nsProfile(ns string) *v3.Profile {
	return &v3.Profile{
		ObjectMeta: meta("", "kns."+ns, nil),
		Spec: v3.ProfileSpec{
			Ingress:       []v3.Rule{{Action: v3.Allow}},
			Egress:        []v3.Rule{{Action: v3.Allow}},
			LabelsToApply: map[string]string{"pcns.projectcalico.org/name": ns},
		},
	}
}

func np(ns, name, selector string, ingress, egress []v3.Rule, mods ...func(*v3.NetworkPolicySpec)) *v3.NetworkPolicy {
	p := &v3.NetworkPolicy{ObjectMeta: meta(ns, name, nil), Spec: v3.NetworkPolicySpec{Selector: selector, Ingress: ingress, Egress: egress}}
	for _, m := range mods {
		m(&p.Spec)
	}
	return p
}

func gnp(name, selector string, ingress, egress []v3.Rule, mods ...func(*v3.GlobalNetworkPolicySpec)) *v3.GlobalNetworkPolicy {
	p := &v3.GlobalNetworkPolicy{ObjectMeta: meta("", name, nil), Spec: v3.GlobalNetworkPolicySpec{Selector: selector, Ingress: ingress, Egress: egress}}
	for _, m := range mods {
		m(&p.Spec)
	}
	return p
}

func tier(name string, order float64, defaultAction v3.Action) *v3.Tier {
	return &v3.Tier{ObjectMeta: meta("", name, nil), Spec: v3.TierSpec{Order: &order, DefaultAction: &defaultAction}}
}

// compileProfile compiles a profile's rules with the engine, through a
// global policy holding the same rules (the engine does not export its
// compiled profiles).
func compileProfile(t *testing.T, p *v3.Profile) Profile {
	t.Helper()
	e := engine.New()
	pol := &v3.GlobalNetworkPolicy{ObjectMeta: meta("", "profile", nil), Spec: v3.GlobalNetworkPolicySpec{
		Selector: "all()", Ingress: p.Spec.Ingress, Egress: p.Spec.Egress,
		Types: []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress},
	}}
	if err := e.Upsert(pol); err != nil {
		t.Fatal(err)
	}
	c, _ := e.Policy(v3.KeyOf(pol))
	return Profile{Ingress: c.IngressRules, Egress: c.EgressRules}
}

// scenario feeds objects to an engine and builds the Input of node-1, as
// the agent would.
type scenario struct {
	t  *testing.T
	e  *engine.Engine
	in *Input
	// ifaces gives host endpoints without an interfaceName their
	// interface, as the agent would from their expected IPs.
	objs map[v3.Key]v3.Object
}

func newScenario(t *testing.T, objs ...v3.Object) *scenario {
	t.Helper()
	s := &scenario{t: t, e: engine.New(), objs: map[v3.Key]v3.Object{}, in: &Input{
		Endpoints: map[v3.Key]Endpoint{}, Profiles: map[string]Profile{},
		Sets: map[string][]engine.SetMember{}, RemotePorts: map[v3.Key]EndpointPorts{},
	}}
	s.upsert(objs...)
	return s
}

func (s *scenario) upsert(objs ...v3.Object) *scenario {
	s.t.Helper()
	for _, o := range objs {
		v3.Default(o)
		if err := v3.Validate(o); err != nil {
			s.t.Fatalf("invalid %s: %v", v3.KeyOf(o), err)
		}
		if err := s.e.Upsert(o); err != nil {
			s.t.Fatalf("upsert %s: %v", v3.KeyOf(o), err)
		}
		switch o := o.(type) {
		case *v3.WorkloadEndpoint, *v3.HostEndpoint:
			s.objs[v3.KeyOf(o)] = o
		case *v3.Profile:
			s.in.Profiles[o.Name] = compileProfile(s.t, o)
		}
	}
	return s
}

func (s *scenario) delete(k v3.Key) *scenario {
	s.e.Delete(k)
	if k.Kind == v3.KindProfile {
		delete(s.in.Profiles, k.Name)
	}
	return s
}

// input drains the engine into the Input: sets, then the endpoints of
// node-1 (those of other nodes give RemotePorts).
func (s *scenario) input() *Input {
	s.t.Helper()
	for _, su := range s.e.DrainSets() {
		if su.Deleted {
			delete(s.in.Sets, su.ID)
			continue
		}
		s.in.Sets[su.ID], _ = s.e.SetMembers(su.ID)
	}
	for _, u := range s.e.Drain() {
		delete(s.in.Endpoints, u.Endpoint)
		delete(s.in.RemotePorts, u.Endpoint)
		if u.Policy == nil {
			continue
		}
		switch o := s.objs[u.Endpoint].(type) {
		case *v3.WorkloadEndpoint:
			ep, err := WorkloadEndpointOf(o, u.Policy)
			if err != nil {
				s.t.Fatal(err)
			}
			if o.Spec.Node != "node-1" {
				s.in.RemotePorts[u.Endpoint] = EndpointPorts{Addrs: ep.Addrs, Ports: ep.Ports}
				continue
			}
			s.in.Endpoints[u.Endpoint] = ep
		case *v3.HostEndpoint:
			ep, err := HostEndpointOf(o, u.Policy)
			if err != nil {
				s.t.Fatal(err)
			}
			s.in.Endpoints[u.Endpoint] = ep
		}
	}
	return s.in
}

// render drains the engine and renders node-1's model.
func (s *scenario) render(cfg Config) *Model {
	s.t.Helper()
	m, err := Render(cfg, s.input())
	if err != nil {
		s.t.Fatal(err)
	}
	if p := m.Problems(); len(p) > 0 {
		s.t.Fatalf("problems: %v", p)
	}
	return m
}

func hasLine(lines []string, sub string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, sub) })
}

// largeInput is a node of endpoints all selected by the same policies of
// ten rules each, whose source is one selector of many members at
// addresses that never merge; the first policy's ports start at
// firstPort, the others' at 1000+100*i.
func largeInput(endpoints, policies, members, firstPort int) *Input {
	in := &Input{Endpoints: map[v3.Key]Endpoint{}, Sets: map[string][]engine.SetMember{}}
	var set []engine.SetMember
	for i := range members {
		n := 2 * i
		a := netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
		b := netip.AddrFrom16([16]byte{0xfd, 0, 13: byte(n >> 16), 14: byte(n >> 8), 15: byte(n)})
		set = append(set, engine.SetMember{Key: v3.Key{Kind: v3.KindWorkloadEndpoint, Namespace: "far", Name: fmt.Sprint(i)},
			Nets: []netip.Prefix{netip.PrefixFrom(a, 32), netip.PrefixFrom(b, 128)}})
	}
	in.Sets["s:clients"] = set
	var refs []engine.PolicyRef
	for i := range policies {
		port := 1000 + 100*i
		if i == 0 {
			port = firstPort
		}
		key := v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "x", Name: fmt.Sprintf("p%d", i)}
		var rules []engine.Rule
		for j := range 10 {
			rules = append(rules, engine.Rule{Index: j, Action: v3.Allow, Protocol: protoTCP,
				Source:      engine.Entity{Selector: "clients", SelectorSet: "s:clients"},
				Destination: engine.Entity{Ports: []engine.PortRange{{Min: port + j, Max: port + j}}}})
		}
		refs = append(refs, engine.PolicyRef{Key: key, Policy: &engine.Policy{Key: key, Tier: "default", Ingress: true, IngressRules: rules}})
	}
	for i := range endpoints {
		key := v3.Key{Kind: v3.KindWorkloadEndpoint, Namespace: "x", Name: fmt.Sprint(i)}
		in.Endpoints[key] = Endpoint{Key: key, Interface: fmt.Sprintf("cali%011d", i),
			Policy: &engine.EndpointPolicy{Endpoint: key, Ingress: []engine.TierPolicies{{Tier: "default", DefaultAction: v3.Deny, Policies: refs}}}}
	}
	return in
}
