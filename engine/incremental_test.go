package engine

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// gen makes random resources over a small universe of keys and label
// values, so that random sequences keep hitting the same selectors,
// addresses and names.
type gen struct{ r *rand.Rand }

func (g gen) pick(xs ...string) string { return xs[g.r.Intn(len(xs))] }

func (g gen) labels(vocab map[string][]string) map[string]string {
	out := map[string]string{}
	for _, k := range slices.Sorted(mapKeys(vocab)) {
		if g.r.Intn(3) > 0 {
			vs := vocab[k]
			out[k] = vs[g.r.Intn(len(vs))]
		}
	}
	return out
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

var (
	endpointVocab = map[string][]string{"app": {"a", "b", "c"}, "tier": {"fe", "be"}, "ver": {"1", "2"}}
	hostVocab     = map[string][]string{"role": {"node", "edge"}, "app": {"a"}}
	setVocab      = map[string][]string{"role": {"ext", "partner"}, "app": {"c"}}
	selectorVocab = []string{"", "all()", "app == 'a'", "app in {'a', 'b'}", "has(tier)", "!has(app)",
		"tier == 'fe' && ver == '1'", "app == 'c' || role == 'node'", "role == 'node'", "role in {'ext', 'partner'}",
		"ver != '2'"}
	nsSelectorVocab = []string{"", "", "all()", "env == 'prod'", "team == 'b'", "has(env)"}
	namespaces      = []string{"n1", "n2", "n3"}
)

func (g gen) order() *float64 {
	switch g.r.Intn(5) {
	case 0:
		return nil
	case 1:
		return ptr(1.0)
	case 2, 3:
		return ptr(10.0)
	}
	return ptr(100.0)
}

func (g gen) entity(global bool) v3.EntityRule {
	var er v3.EntityRule
	if g.r.Intn(2) == 0 {
		er.Selector = g.pick(selectorVocab...)
	}
	er.NamespaceSelector = g.pick(nsSelectorVocab...)
	if g.r.Intn(4) == 0 {
		er.NamespaceSelector = "global()"
	}
	if g.r.Intn(5) == 0 {
		er.NotSelector = g.pick(selectorVocab[1:]...)
	}
	if g.r.Intn(4) == 0 {
		er.Nets = []string{g.pick("10.0.0.0/8", "10.0.1.0/24", "203.0.113.0/24", "192.168.0.0/16")}
	}
	if g.r.Intn(6) == 0 {
		er.NotNets = []string{g.pick("10.0.2.0/24", "192.168.0.2/32")}
	}
	if g.r.Intn(3) == 0 {
		er.Ports = []v3.Port{g.port()}
	}
	if g.r.Intn(8) == 0 {
		er.NotPorts = []v3.Port{g.port()}
	}
	if g.r.Intn(6) == 0 {
		er.ServiceAccounts = &v3.ServiceAccountMatch{Names: []string{g.pick("s1", "s2")}}
		if g.r.Intn(2) == 0 {
			er.ServiceAccounts.Selector = "role == 'x'"
		}
	}
	return er
}

func (g gen) port() v3.Port {
	switch g.r.Intn(3) {
	case 0:
		return v3.SinglePort(80)
	case 1:
		return v3.PortRange(8000, 9000)
	}
	return v3.NamedPort("http")
}

func (g gen) rules(global bool) []v3.Rule {
	var out []v3.Rule
	for range g.r.Intn(4) {
		r := v3.Rule{Action: v3.Action(g.pick("Allow", "Allow", "Deny", "Log", "Pass"))}
		if g.r.Intn(2) == 0 {
			r.Protocol = proto(g.pick("TCP", "UDP"))
		}
		if g.r.Intn(8) == 0 {
			r.NotProtocol = proto("UDP")
		}
		if g.r.Intn(8) == 0 {
			r.IPVersion = ptr(4)
		}
		r.Source = g.entity(global)
		r.Destination = g.entity(global)
		out = append(out, r)
	}
	return out
}

func (g gen) types() []v3.PolicyType {
	switch g.r.Intn(4) {
	case 0:
		return nil
	case 1:
		return ingressOnly
	case 2:
		return egressOnly
	}
	return []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress}
}

func (g gen) tierName() string { return g.pick("", "default", "t1", "t2", "t-missing", "kube-admin") }

// object returns a random version of the resource with key k.
func (g gen) object(k v3.Key) v3.Object {
	m := meta(k.Namespace, k.Name, nil)
	switch k.Kind {
	case v3.KindProfile:
		p := &v3.Profile{ObjectMeta: m}
		switch {
		case len(k.Name) > 4 && k.Name[:4] == "kns.":
			p.Spec.LabelsToApply = map[string]string{namespaceLabelPrefix + v3.LabelName: k.Name[4:]}
			for lk, lv := range g.labels(map[string][]string{"env": {"prod", "dev"}, "team": {"a", "b"}}) {
				p.Spec.LabelsToApply[namespaceLabelPrefix+lk] = lv
			}
		case len(k.Name) > 4 && k.Name[:4] == "ksa.":
			p.Spec.LabelsToApply = map[string]string{serviceAccountLabelPrefix + "role": g.pick("x", "y")}
		default:
			p.Spec.LabelsToApply = g.labels(map[string][]string{"app": {"a", "c"}, "extra": {"1"}})
		}
		p.Spec.Ingress, p.Spec.Egress = g.rules(true), g.rules(true)
		if g.r.Intn(2) == 0 {
			p.Spec.Ingress = append(p.Spec.Ingress, v3.Rule{Action: v3.Allow})
		}
		return p
	case v3.KindWorkloadEndpoint:
		m.Labels = g.labels(endpointVocab)
		w := &v3.WorkloadEndpoint{ObjectMeta: m, Spec: v3.WorkloadEndpointSpec{
			Orchestrator: g.pick("k8s", ""),
			IPNetworks:   []string{fmt.Sprintf("10.0.%d.%d/32", g.r.Intn(3), g.r.Intn(4))},
			Profiles:     []string{"kns." + k.Namespace},
		}}
		if g.r.Intn(3) == 0 {
			sa := g.pick("s1", "s2")
			w.Spec.ServiceAccountName = sa
			w.Spec.Profiles = append(w.Spec.Profiles, "ksa."+k.Namespace+"."+sa)
		}
		if g.r.Intn(3) == 0 {
			w.Spec.Profiles = append(w.Spec.Profiles, g.pick("p-labels", "p-other"))
		}
		if g.r.Intn(2) == 0 {
			w.Spec.Ports = []v3.WorkloadEndpointPort{{Name: "http", Protocol: v3.ProtocolFromString("TCP"), Port: uint16(g.pick2(80, 8080))}}
		}
		return w
	case v3.KindHostEndpoint:
		m.Labels = g.labels(hostVocab)
		h := &v3.HostEndpoint{ObjectMeta: m, Spec: v3.HostEndpointSpec{
			Node: "n", InterfaceName: "eth0", ExpectedIPs: []string{fmt.Sprintf("192.168.0.%d", g.r.Intn(3))}}}
		if g.r.Intn(2) == 0 {
			h.Spec.Profiles = []string{"p-other"}
		}
		return h
	case v3.KindNetworkSet:
		m.Labels = g.labels(setVocab)
		return &v3.NetworkSet{ObjectMeta: m, Spec: v3.NetworkSetSpec{Nets: []string{g.pick("10.0.1.0/24", "10.0.0.0/16", "203.0.113.0/24")}}}
	case v3.KindGlobalNetworkSet:
		m.Labels = g.labels(setVocab)
		return &v3.GlobalNetworkSet{ObjectMeta: m, Spec: v3.GlobalNetworkSetSpec{Nets: []string{g.pick("10.0.2.0/24", "192.168.0.0/24", "203.0.113.0/24"), "198.51.100.1"}}}
	case v3.KindTier:
		var order *float64
		if g.r.Intn(4) > 0 {
			order = ptr(float64(g.pick2(10, 100, 2e6)))
		}
		return tier(k.Name, order, v3.Action(g.pick("Deny", "Pass")))
	case v3.KindNetworkPolicy:
		return &v3.NetworkPolicy{ObjectMeta: m, Spec: v3.NetworkPolicySpec{
			Tier: g.tierName(), Order: g.order(), Selector: g.pick(selectorVocab...), Types: g.types(),
			Ingress: g.rules(false), Egress: g.rules(false), ServiceAccountSelector: g.pick("", "", "role == 'x'")}}
	case v3.KindStagedNetworkPolicy:
		if g.r.Intn(3) == 0 {
			return &v3.StagedNetworkPolicy{ObjectMeta: m, Spec: v3.StagedNetworkPolicySpec{StagedAction: v3.StagedActionDelete, Tier: g.tierName()}}
		}
		return &v3.StagedNetworkPolicy{ObjectMeta: m, Spec: v3.StagedNetworkPolicySpec{
			StagedAction: v3.StagedAction(g.pick("", "Set")), Tier: g.tierName(), Order: g.order(),
			Selector: g.pick(selectorVocab...), Types: g.types(), Ingress: g.rules(false), Egress: g.rules(false)}}
	case v3.KindGlobalNetworkPolicy:
		s := v3.GlobalNetworkPolicySpec{Tier: g.tierName(), Order: g.order(), Selector: g.pick(selectorVocab...),
			NamespaceSelector: g.pick(nsSelectorVocab...), ServiceAccountSelector: g.pick("", "", "role == 'y'", "all()"),
			Types: g.types(), Ingress: g.rules(true), Egress: g.rules(true), ApplyOnForward: g.r.Intn(3) == 0}
		switch g.r.Intn(6) {
		case 0:
			s.DoNotTrack, s.ApplyOnForward = true, true
		case 1:
			s.PreDNAT, s.ApplyOnForward, s.Types, s.Egress = true, true, ingressOnly, nil
		}
		return &v3.GlobalNetworkPolicy{ObjectMeta: m, Spec: s}
	case v3.KindStagedGlobalNetworkPolicy:
		if g.r.Intn(3) == 0 {
			return &v3.StagedGlobalNetworkPolicy{ObjectMeta: m, Spec: v3.StagedGlobalNetworkPolicySpec{StagedAction: v3.StagedActionDelete}}
		}
		return &v3.StagedGlobalNetworkPolicy{ObjectMeta: m, Spec: v3.StagedGlobalNetworkPolicySpec{
			Tier: g.tierName(), Order: g.order(), Selector: g.pick(selectorVocab...),
			NamespaceSelector: g.pick(nsSelectorVocab...), Types: g.types(), Ingress: g.rules(true), Egress: g.rules(true)}}
	}
	panic("no generator for " + k.Kind)
}

func (g gen) pick2(xs ...float64) float64 { return xs[g.r.Intn(len(xs))] }

// universe is every key the random sequences touch.
func universe() []v3.Key {
	var keys []v3.Key
	add := func(kind, ns, name string) { keys = append(keys, v3.Key{Kind: kind, Namespace: ns, Name: name}) }
	for _, ns := range namespaces {
		add(v3.KindProfile, "", "kns."+ns)
		add(v3.KindProfile, "", "ksa."+ns+".s1")
		add(v3.KindNetworkSet, ns, "set")
		for i := range 3 {
			add(v3.KindWorkloadEndpoint, ns, fmt.Sprintf("w%d", i))
		}
		add(v3.KindNetworkPolicy, ns, "p0")
		add(v3.KindNetworkPolicy, ns, "p1")
		add(v3.KindStagedNetworkPolicy, ns, "p0")
	}
	add(v3.KindWorkloadEndpoint, "n4", "orphan")
	add(v3.KindProfile, "", "p-labels")
	add(v3.KindProfile, "", "p-other")
	for i := range 3 {
		add(v3.KindHostEndpoint, "", fmt.Sprintf("h%d", i))
		add(v3.KindGlobalNetworkPolicy, "", fmt.Sprintf("g%d", i))
	}
	add(v3.KindStagedGlobalNetworkPolicy, "", "g0")
	add(v3.KindStagedGlobalNetworkPolicy, "", "g9")
	add(v3.KindGlobalNetworkSet, "", "gs0")
	add(v3.KindGlobalNetworkSet, "", "gs1")
	for _, t := range []string{"t1", "t2", "default", "kube-admin"} {
		add(v3.KindTier, "", t)
	}
	return keys
}

// TestIncrementalMatchesScratch applies random sequences of upserts and
// deletes and checks that the incrementally maintained engine answers
// exactly as engines built from scratch from the final resources, fed in
// sorted and in reversed order (Calico's order-permutation test), and that
// the updates drained along the way add up to the final state.
func TestIncrementalMatchesScratch(t *testing.T) {
	seeds, steps := 12, 250
	if testing.Short() {
		seeds = 3
	}
	keys := universe()
	for seed := range seeds {
		t.Run(fmt.Sprintf("random sequence %d ends where a fresh engine starts", seed), func(t *testing.T) {
			g := gen{rand.New(rand.NewSource(int64(seed)))}
			e := New()
			final := map[v3.Key]v3.Object{}
			mirror := map[v3.Key]*EndpointPolicy{}
			drain := func() {
				for _, u := range e.Drain() {
					if u.Policy == nil {
						if _, ok := mirror[u.Endpoint]; !ok {
							t.Errorf("removal of %s, which was never reported", u.Endpoint)
						}
						delete(mirror, u.Endpoint)
					} else {
						mirror[u.Endpoint] = u.Policy
					}
				}
			}
			for range steps {
				k := keys[g.r.Intn(len(keys))]
				if g.r.Intn(4) == 0 {
					e.Delete(k)
					delete(final, k)
				} else {
					o := g.object(k)
					if err := e.Upsert(o); err != nil {
						t.Fatalf("upsert %s: %v", k, err)
					}
					final[k] = o
				}
				if g.r.Intn(5) == 0 {
					drain()
				}
			}
			drain()
			checkInvariants(t, e)

			objs := make([]v3.Object, 0, len(final))
			for _, o := range final {
				objs = append(objs, o)
			}
			v3.SortObjects(objs)
			sorted := newEngine(t, objs...)
			slices.Reverse(objs)
			reversed := newEngine(t, objs...)
			for name, scratch := range map[string]*Engine{"sorted": sorted, "reversed": reversed} {
				checkInvariants(t, scratch)
				compareEngines(t, name, e, scratch, keys)
			}
			for _, k := range e.Endpoints() {
				want, _ := e.PoliciesFor(k)
				if diff := cmp.Diff(want, mirror[k], ignoreCompiled); diff != "" {
					t.Errorf("drained state of %s differs (-want +drained):\n%s", k, diff)
				}
				delete(mirror, k)
			}
			for k := range mirror {
				t.Errorf("drained state holds %s, which no longer exists", k)
			}
		})
	}
}

func compareEngines(t *testing.T, name string, got, want *Engine, keys []v3.Key) {
	t.Helper()
	if diff := cmp.Diff(want.Endpoints(), got.Endpoints()); diff != "" {
		t.Fatalf("%s: endpoints (-scratch +incremental):\n%s", name, diff)
	}
	for _, ep := range want.Endpoints() {
		w, _ := want.PoliciesFor(ep)
		g, _ := got.PoliciesFor(ep)
		if diff := cmp.Diff(w, g, ignoreCompiled); diff != "" {
			t.Errorf("%s: policies for %s (-scratch +incremental):\n%s", name, ep, diff)
		}
	}
	for _, k := range keys {
		if diff := cmp.Diff(want.SelectedBy(k), got.SelectedBy(k)); diff != "" {
			t.Errorf("%s: selected by %s (-scratch +incremental):\n%s", name, k, diff)
		}
		p, ok := want.Policy(k)
		if !ok {
			continue
		}
		for dir, rules := range map[Direction][]Rule{Ingress: p.IngressRules, Egress: p.EgressRules} {
			for i := range rules {
				w, werr := want.RulePeers(k, dir, i)
				g, gerr := got.RulePeers(k, dir, i)
				if diff := cmp.Diff(w, g, ignoreCompiled); diff != "" || (werr == nil) != (gerr == nil) {
					t.Errorf("%s: peers of %s %s rule %d (-scratch +incremental):\n%s", name, k, dir, i, diff)
				}
			}
		}
	}
	if diff := cmp.Diff(slices.Sorted(mapKeys(want.sets)), slices.Sorted(mapKeys(got.sets))); diff != "" {
		t.Errorf("%s: sets (-scratch +incremental):\n%s", name, diff)
	}
	for id := range want.sets {
		w, _ := want.SetMembers(id)
		g, _ := got.SetMembers(id)
		if diff := cmp.Diff(w, g, ignoreCompiled); diff != "" {
			t.Errorf("%s: members of set %s (-scratch +incremental):\n%s", name, id, diff)
		}
	}
	var peers []Peer
	for _, ep := range want.Endpoints() {
		peers = append(peers, Peer{Endpoint: ep})
	}
	peers = append(peers, ipPeer("203.0.113.7"), ipPeer("198.51.100.1"), ipPeer("10.0.1.3"), ipPeer("8.8.8.8"))
	for _, src := range peers {
		for _, dst := range peers {
			for _, f := range []Flow{tcpFlow(src, dst, 80), {Src: src, Dst: dst, Protocol: 17, SrcPort: 8080, DstPort: 8080}} {
				w, werr := want.EvaluateWithTrace(f)
				g, gerr := got.EvaluateWithTrace(f)
				if werr != nil || gerr != nil {
					t.Fatalf("%s: evaluate %v: %v / %v", name, f, werr, gerr)
				}
				if diff := cmp.Diff(w, g); diff != "" {
					t.Errorf("%s: evaluation of %v (-scratch +incremental):\n%s", name, f, diff)
				}
			}
		}
	}
}
