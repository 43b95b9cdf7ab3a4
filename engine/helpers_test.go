package engine

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/selector"
)

func ptr[T any](v T) *T { return &v }

func proto(name string) *v3.Protocol { p := v3.ProtocolFromString(name); return &p }

func meta(ns, name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}
}

func wepKey(ns, name string) v3.Key {
	return v3.Key{Kind: v3.KindWorkloadEndpoint, Namespace: ns, Name: name}
}

func hepKey(name string) v3.Key { return v3.Key{Kind: v3.KindHostEndpoint, Name: name} }

func npKey(ns, name string) v3.Key {
	return v3.Key{Kind: v3.KindNetworkPolicy, Namespace: ns, Name: name}
}

func gnpKey(name string) v3.Key { return v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: name} }

// nsProfile is the profile Calico makes for a Kubernetes namespace.
func nsProfile(ns string, labels map[string]string) *v3.Profile {
	apply := map[string]string{namespaceLabelPrefix + v3.LabelName: ns}
	for k, v := range labels {
		apply[namespaceLabelPrefix+k] = v
	}
	return &v3.Profile{
		ObjectMeta: meta("", namespaceProfilePrefix+ns, nil),
		Spec: v3.ProfileSpec{
			Ingress:       []v3.Rule{{Action: v3.Allow}},
			Egress:        []v3.Rule{{Action: v3.Allow}},
			LabelsToApply: apply,
		},
	}
}

// saProfile is the profile Calico makes for a Kubernetes service account.
func saProfile(ns, sa string, labels map[string]string) *v3.Profile {
	apply := map[string]string{serviceAccountLabelPrefix + v3.LabelName: sa}
	for k, v := range labels {
		apply[serviceAccountLabelPrefix+k] = v
	}
	return &v3.Profile{
		ObjectMeta: meta("", "ksa."+ns+"."+sa, nil),
		Spec:       v3.ProfileSpec{LabelsToApply: apply},
	}
}

// pod is a Kubernetes pod's workload endpoint, with its namespace profile.
func pod(ns, name, ip string, labels map[string]string, mods ...func(*v3.WorkloadEndpoint)) *v3.WorkloadEndpoint {
	w := &v3.WorkloadEndpoint{
		ObjectMeta: meta(ns, name, labels),
		Spec: v3.WorkloadEndpointSpec{
			Orchestrator:  v3.OrchestratorKubernetes,
			Node:          "node1",
			Pod:           name,
			Endpoint:      "eth0",
			IPNetworks:    []string{ip + "/32"},
			Profiles:      []string{namespaceProfilePrefix + ns},
			InterfaceName: "cali" + name,
		},
	}
	for _, m := range mods {
		m(w)
	}
	return w
}

func withPort(name, protocol string, port uint16) func(*v3.WorkloadEndpoint) {
	return func(w *v3.WorkloadEndpoint) {
		w.Spec.Ports = append(w.Spec.Ports, v3.WorkloadEndpointPort{Name: name, Protocol: v3.ProtocolFromString(protocol), Port: port})
	}
}

func withSA(sa string) func(*v3.WorkloadEndpoint) {
	return func(w *v3.WorkloadEndpoint) {
		w.Spec.ServiceAccountName = sa
		w.Spec.Profiles = append(w.Spec.Profiles, "ksa."+w.Namespace+"."+sa)
	}
}

func withProfiles(p ...string) func(*v3.WorkloadEndpoint) {
	return func(w *v3.WorkloadEndpoint) { w.Spec.Profiles = p }
}

func hep(name, ip string, labels map[string]string, profiles ...string) *v3.HostEndpoint {
	return &v3.HostEndpoint{
		ObjectMeta: meta("", name, labels),
		Spec:       v3.HostEndpointSpec{Node: "node1", InterfaceName: "eth0", ExpectedIPs: []string{ip}, Profiles: profiles},
	}
}

func np(ns, name string, spec v3.NetworkPolicySpec) *v3.NetworkPolicy {
	return &v3.NetworkPolicy{ObjectMeta: meta(ns, name, nil), Spec: spec}
}

func gnp(name string, spec v3.GlobalNetworkPolicySpec) *v3.GlobalNetworkPolicy {
	return &v3.GlobalNetworkPolicy{ObjectMeta: meta("", name, nil), Spec: spec}
}

func tier(name string, order *float64, action v3.Action) *v3.Tier {
	return &v3.Tier{ObjectMeta: meta("", name, nil), Spec: v3.TierSpec{Order: order, DefaultAction: &action}}
}

func allowAllProfile(name string) *v3.Profile {
	return &v3.Profile{
		ObjectMeta: meta("", name, nil),
		Spec:       v3.ProfileSpec{Ingress: []v3.Rule{{Action: v3.Allow}}, Egress: []v3.Rule{{Action: v3.Allow}}},
	}
}

// baseWorld is the cluster most evaluation tests run in:
//
//	namespaces prod (env=prod, team=a) and dev (env=dev, team=b)
//	prod/web 10.0.1.1 app=web, port http 8080/TCP
//	prod/db  10.0.1.2 app=db, service account db-sa (role=database), port pg 5432/TCP
//	prod/sneaky 10.0.1.3 app=sneaky, with its own pcns.env=dev label (ignored)
//	dev/client 10.0.2.1 app=client
//	vms/vm   10.0.3.1 app=vm, no profiles
//	host endpoints node1-eth0 192.168.0.1 (no profile), node2-eth0
//	192.168.0.2 (projectcalico-default-allow), both role=node
//	GlobalNetworkSet external 203.0.113.0/24 role=external
//	NetworkSet prod/partners 198.51.100.0/24 role=partner
func baseWorld() []v3.Object {
	return []v3.Object{
		nsProfile("prod", map[string]string{"env": "prod", "team": "a"}),
		nsProfile("dev", map[string]string{"env": "dev", "team": "b"}),
		saProfile("prod", "db-sa", map[string]string{"role": "database"}),
		allowAllProfile("projectcalico-default-allow"),
		pod("prod", "web", "10.0.1.1", map[string]string{"app": "web"}, withPort("http", "TCP", 8080)),
		pod("prod", "db", "10.0.1.2", map[string]string{"app": "db"}, withSA("db-sa"), withPort("pg", "TCP", 5432)),
		pod("prod", "sneaky", "10.0.1.3", map[string]string{"app": "sneaky", "pcns.env": "dev"}),
		pod("dev", "client", "10.0.2.1", map[string]string{"app": "client"}),
		pod("vms", "vm", "10.0.3.1", map[string]string{"app": "vm"}, withProfiles()),
		hep("node1-eth0", "192.168.0.1", map[string]string{"role": "node"}),
		hep("node2-eth0", "192.168.0.2", map[string]string{"role": "node"}, "projectcalico-default-allow"),
		&v3.GlobalNetworkSet{ObjectMeta: meta("", "external", map[string]string{"role": "external"}),
			Spec: v3.GlobalNetworkSetSpec{Nets: []string{"203.0.113.0/24"}}},
		&v3.NetworkSet{ObjectMeta: meta("prod", "partners", map[string]string{"role": "partner"}),
			Spec: v3.NetworkSetSpec{Nets: []string{"198.51.100.0/24"}}},
	}
}

var (
	web    = Peer{Endpoint: wepKey("prod", "web")}
	db     = Peer{Endpoint: wepKey("prod", "db")}
	sneaky = Peer{Endpoint: wepKey("prod", "sneaky")}
	client = Peer{Endpoint: wepKey("dev", "client")}
	vm     = Peer{Endpoint: wepKey("vms", "vm")}
	node1  = Peer{Endpoint: hepKey("node1-eth0")}
	node2  = Peer{Endpoint: hepKey("node2-eth0")}
)

func ipPeer(s string) Peer { return Peer{IP: netip.MustParseAddr(s)} }

func tcpFlow(src, dst Peer, port int) Flow {
	return Flow{Src: src, Dst: dst, Protocol: 6, SrcPort: 40000, DstPort: port}
}

// newEngine returns an engine holding objs, failing the test on any error.
func newEngine(t testing.TB, objs ...v3.Object) *Engine {
	t.Helper()
	e := New()
	for _, o := range objs {
		if err := e.Upsert(o); err != nil {
			t.Fatalf("upsert %s: %v", v3.KeyOf(o), err)
		}
	}
	return e
}

// ignoreCompiled compares compiled policies by their exported content,
// and addresses by value.
var ignoreCompiled = cmp.Options{
	cmpopts.IgnoreUnexported(Policy{}, Entity{}),
	cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{}),
}

// checkInvariants verifies the index invariant of the package doc: every
// member is in exactly the entries whose selector matches its labels, and
// every endpoint's policy list is sorted and holds exactly the policies
// whose entry matches it.
func checkInvariants(t *testing.T, e *Engine) {
	t.Helper()
	for d := range numDomains {
		for canon, se := range e.ix.sels[d].entries {
			for _, m := range e.ix.members {
				if !eligible(d, m) {
					continue
				}
				want := se.sel.Matches(selector.Map(m.labels))
				_, in := se.members[m]
				_, back := m.matched[d][se]
				if want != in || in != back {
					t.Errorf("domain %d selector %s member %s: matches=%v members=%v matched=%v", d, canon, m.key, want, in, back)
				}
			}
		}
	}
	for _, m := range e.ix.members {
		want := map[*policyState]bool{}
		for _, p := range e.policies {
			if p.entry != nil {
				if _, ok := p.entry.members[m]; ok {
					want[p] = true
				}
			}
		}
		if len(want) != len(m.pols) {
			t.Errorf("%s has %d policies, want %d", m.key, len(m.pols), len(want))
		}
		for i, p := range m.pols {
			if !want[p] {
				t.Errorf("%s holds policy %s it should not", m.key, p.key)
			}
			if i > 0 && policyCmp(m.pols[i-1], p) >= 0 {
				t.Errorf("%s policies out of order at %d: %s before %s", m.key, i, m.pols[i-1].key, p.key)
			}
		}
	}
}
