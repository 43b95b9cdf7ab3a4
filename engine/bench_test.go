package engine

import (
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/k8s"
	"github.com/tabby-project/tabby/selector"
)

// The benchmark cluster: 50 pods and 10 policies of 5 rules per namespace,
// half Calico NetworkPolicies and half Kubernetes NetworkPolicies converted
// as Calico converts them, plus a tier "security" of three
// GlobalNetworkPolicies that every cluster size shares. Pods are spread
// over 10 apps (app-0..app-9), 3 tiers (fe, be, db) and 5 releases
// (app.kubernetes.io/instance, unique to the namespace) in each namespace;
// namespaces over 10 teams. Rules select pods of the same namespace, of a
// team's namespaces, of kube-system, and by release in any namespace,
// which gives every Kubernetes rule selector of that last kind the term
// projectcalico.org/orchestrator == "k8s" that all pods meet. So a cluster
// of n endpoints has n/50 namespaces and n/5 policies, and scaling it up
// keeps what any one endpoint or policy touches the same.
const (
	podsPerNamespace     = 50
	policiesPerNamespace = 10
	appsPerNamespace     = 10
	teams                = 10
)

type cluster struct {
	namespaces []string
	objects    []v3.Object // tiers, profiles, policies, endpoints: load order
	endpoints  []*v3.WorkloadEndpoint
	policies   []v3.Object
}

func namespaceName(i int) string { return fmt.Sprintf("ns-%04d", i) }

func podAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

func newCluster(tb testing.TB, endpoints int) *cluster {
	tb.Helper()
	c := &cluster{}
	nss := endpoints / podsPerNamespace
	sec := 100.0
	c.objects = append(c.objects, &v3.Tier{ObjectMeta: metav1.ObjectMeta{Name: "security"}, Spec: v3.TierSpec{Order: &sec}})
	c.objects = append(c.objects, securityPolicies()...)
	for n := range nss {
		ns := namespaceName(n)
		c.namespaces = append(c.namespaces, ns)
		c.objects = append(c.objects, &v3.Profile{
			ObjectMeta: metav1.ObjectMeta{Name: "kns." + ns},
			Spec: v3.ProfileSpec{
				Ingress: []v3.Rule{{Action: v3.Allow}},
				Egress:  []v3.Rule{{Action: v3.Allow}},
				LabelsToApply: map[string]string{
					"pcns.projectcalico.org/name":      ns,
					"pcns.kubernetes.io/metadata.name": ns,
					"pcns.team":                        fmt.Sprintf("team-%d", n%teams),
				},
			},
		})
		for k := range policiesPerNamespace {
			var p *v3.NetworkPolicy
			if k%2 == 0 {
				p = calicoPolicy(ns, k, n)
			} else {
				p = kubernetesPolicy(tb, ns, k, n)
			}
			if rules := len(p.Spec.Ingress) + len(p.Spec.Egress); rules != 5 {
				tb.Fatalf("policy %s/%s has %d rules, want 5", ns, p.Name, rules)
			}
			c.policies = append(c.policies, p)
		}
	}
	c.objects = append(c.objects, c.policies...)
	for i := range endpoints {
		w := clusterPod(c.namespaces[i/podsPerNamespace], i, "")
		c.endpoints = append(c.endpoints, w)
		c.objects = append(c.objects, w)
	}
	return c
}

// clusterPod is the workload endpoint of the i-th pod of the cluster, as the
// Kubernetes conversion makes it. version, when set, is an extra label.
func clusterPod(ns string, i int, version string) *v3.WorkloadEndpoint {
	j := i % podsPerNamespace
	labels := map[string]string{
		"app":                        fmt.Sprintf("app-%d", j%appsPerNamespace),
		"tier":                       []string{"fe", "be", "db"}[j%3],
		v3.LabelNamespace:            ns,
		v3.LabelOrchestrator:         v3.OrchestratorKubernetes,
		"pod-template-hash":          fmt.Sprintf("%08x", i),
		"app.kubernetes.io/instance": fmt.Sprintf("%s-release-%d", ns, j%5),
	}
	if version != "" {
		labels["version"] = version
	}
	name := fmt.Sprintf("pod-%05d", i)
	return &v3.WorkloadEndpoint{
		ObjectMeta: metav1.ObjectMeta{Name: "node--1-k8s-" + name + "-eth0", Namespace: ns, Labels: labels},
		Spec: v3.WorkloadEndpointSpec{
			Orchestrator:  v3.OrchestratorKubernetes,
			Node:          "node-1",
			Pod:           name,
			Endpoint:      "eth0",
			InterfaceName: fmt.Sprintf("cali%011d", i),
			IPNetworks:    []string{podAddr(i).String() + "/32"},
			Profiles:      []string{"kns." + ns},
			Ports: []v3.WorkloadEndpointPort{
				{Name: "http", Protocol: v3.ProtocolFromString("tcp"), Port: 8080},
				{Name: "metrics", Protocol: v3.ProtocolFromString("tcp"), Port: 9090},
			},
		},
	}
}

// securityPolicies are the cluster-wide tier every size shares: two
// ingress guards that decide only what they target, then a policy for every
// endpoint that denies known bad networks and passes the rest to the
// default tier.
func securityPolicies() []v3.Object {
	order := func(f float64) *float64 { return &f }
	tcp := v3.ProtocolFromString("TCP")
	bad := []string{"192.0.2.0/24", "198.51.100.0/24"}
	return []v3.Object{
		&v3.GlobalNetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "security.db-guard"},
			Spec: v3.GlobalNetworkPolicySpec{
				Tier: "security", Order: order(10), Selector: "tier == 'db'", Types: []v3.PolicyType{v3.PolicyTypeIngress},
				Ingress: []v3.Rule{
					{Action: v3.Deny, Source: v3.EntityRule{Selector: "tier == 'fe'", NamespaceSelector: "all()"}},
					{Action: v3.Log, Protocol: &tcp, Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(5432)}}},
				},
			},
		},
		&v3.GlobalNetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "security.monitoring"},
			Spec: v3.GlobalNetworkPolicySpec{
				Tier: "security", Order: order(20), Selector: "has(app)", NamespaceSelector: "has(team)",
				Types: []v3.PolicyType{v3.PolicyTypeIngress},
				Ingress: []v3.Rule{
					{Action: v3.Allow, Protocol: &tcp, Source: v3.EntityRule{Nets: []string{"172.16.0.0/16"}},
						Destination: v3.EntityRule{Ports: []v3.Port{v3.NamedPort("metrics")}}},
				},
			},
		},
		&v3.GlobalNetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "security.block-bad-nets"},
			Spec: v3.GlobalNetworkPolicySpec{
				Tier: "security", Order: order(30), Selector: "all()",
				Types: []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress},
				Ingress: []v3.Rule{
					{Action: v3.Deny, Source: v3.EntityRule{Nets: bad}},
					{Action: v3.Pass},
				},
				Egress: []v3.Rule{
					{Action: v3.Deny, Destination: v3.EntityRule{Nets: bad}},
					{Action: v3.Pass},
				},
			},
		},
	}
}

// calicoPolicy is the k-th policy of namespace n: it selects app-k and has
// three ingress and two egress rules. Ingress from app-(k+1) and egress to
// app-(k-1) on the named port http meet, so pods talk along a chain.
func calicoPolicy(ns string, k, n int) *v3.NetworkPolicy {
	order := float64(100 + k)
	tcp, udp := v3.ProtocolFromString("TCP"), v3.ProtocolFromString("UDP")
	return &v3.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("allow-app-%d", k), Namespace: ns},
		Spec: v3.NetworkPolicySpec{
			Order:    &order,
			Selector: fmt.Sprintf("app == 'app-%d'", k),
			Types:    []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress},
			Ingress: []v3.Rule{
				{Action: v3.Allow, Protocol: &tcp,
					Source:      v3.EntityRule{Selector: fmt.Sprintf("app == 'app-%d'", (k+1)%appsPerNamespace)},
					Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(80), v3.NamedPort("http")}}},
				{Action: v3.Allow, Protocol: &tcp,
					Source:      v3.EntityRule{Selector: "tier == 'fe'", NamespaceSelector: fmt.Sprintf("team == 'team-%d'", (n+1)%teams)},
					Destination: v3.EntityRule{Ports: []v3.Port{v3.PortRange(8000, 8080)}}},
				{Action: v3.Deny, Source: v3.EntityRule{Nets: []string{fmt.Sprintf("10.%d.0.0/16", 100+n%100)}}},
			},
			Egress: []v3.Rule{
				{Action: v3.Allow, Protocol: &udp,
					Destination: v3.EntityRule{Selector: "k8s-app == 'kube-dns'", NamespaceSelector: "projectcalico.org/name == 'kube-system'",
						Ports: []v3.Port{v3.SinglePort(53)}}},
				{Action: v3.Allow, Protocol: &tcp,
					Destination: v3.EntityRule{Selector: fmt.Sprintf("app == 'app-%d'", (k+appsPerNamespace-1)%appsPerNamespace),
						Ports: []v3.Port{v3.NamedPort("http")}}},
			},
		},
	}
}

// kubernetesPolicy is the k-th policy of namespace n as a Kubernetes
// NetworkPolicy, converted: five Calico rules.
func kubernetesPolicy(tb testing.TB, ns string, k, n int) *v3.NetworkPolicy {
	tb.Helper()
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	port := func(p int) *intstr.IntOrString { v := intstr.FromInt32(int32(p)); return &v }
	named := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	app := func(i int) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("app-%d", i%appsPerNamespace)}}
	}
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%d", k), Namespace: ns},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *app(k),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{{PodSelector: app(k + 1)}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: port(80)}, {Protocol: &tcp, Port: named("http")}}},
				{From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{},
					PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
						"app.kubernetes.io/instance": fmt.Sprintf("%s-release-%d", namespaceName(n+1), k%5)}},
				}}},
				{From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{
					CIDR: "172.20.0.0/16", Except: []string{fmt.Sprintf("172.20.%d.0/24", n%256)}}}}},
			},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
				}}, Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: port(53)}}},
				{To: []networkingv1.NetworkPolicyPeer{{PodSelector: app(k + appsPerNamespace - 1)}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: named("http")}}},
			},
		},
	}
	p, warnings, err := k8s.NetworkPolicy(np)
	if err != nil || len(warnings) > 0 {
		tb.Fatalf("convert %s/%s: %v %v", ns, np.Name, err, warnings)
	}
	return p
}

// load builds an engine holding the cluster, drained.
func (c *cluster) load(tb testing.TB) *Engine {
	tb.Helper()
	e := New()
	for _, o := range c.objects {
		if err := e.Upsert(o); err != nil {
			tb.Fatalf("upsert %s: %v", v3.KeyOf(o), err)
		}
	}
	e.DrainSets()
	e.Drain()
	return e
}

// BenchmarkCompute10000Endpoints2000Policies200Namespaces loads the whole
// cluster into a new engine and computes every endpoint's policy (Drain)
// and every rule selector set (DrainSets). Besides the allocation figures it
// reports the heap the loaded engine retains.
func BenchmarkCompute10000Endpoints2000Policies200Namespaces(b *testing.B) {
	c := newCluster(b, 10000)
	if len(c.policies) != 2000 || len(c.namespaces) != 200 {
		b.Fatalf("cluster has %d policies in %d namespaces", len(c.policies), len(c.namespaces))
	}
	before := heapInUse()
	e := c.load(b)
	retained := heapInUse() - before
	runtime.KeepAlive(e)
	b.ReportAllocs()
	for b.Loop() {
		c.load(b)
	}
	b.ReportMetric(float64(retained), "retained-B")
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// incrementalOp is one small change applied to a loaded cluster, in a form
// that can be repeated: each call flips between two states.
type incrementalOp func(tb testing.TB, e *Engine, c *cluster, flip bool)

// relabelled is the endpoint relabel works on, in one of its two states:
// the fourth pod (app-3, db) of the middle namespace, or that pod with the
// labels of the fifth (app-4, fe) and a version label.
func relabelled(c *cluster, flip bool) *v3.WorkloadEndpoint {
	i := len(c.endpoints) / 2
	i -= i % podsPerNamespace
	i += 3
	ns := c.namespaces[i/podsPerNamespace]
	if !flip {
		return clusterPod(ns, i, "")
	}
	w := clusterPod(ns, i+1, "v2")
	orig := c.endpoints[i]
	w.Name, w.Spec.Pod, w.Spec.InterfaceName, w.Spec.IPNetworks = orig.Name, orig.Spec.Pod, orig.Spec.InterfaceName, orig.Spec.IPNetworks
	return w
}

// relabel moves one endpoint between two label sets that different
// policies and rule selectors select, then drains.
func relabel(tb testing.TB, e *Engine, c *cluster, flip bool) {
	if err := e.Upsert(relabelled(c, flip)); err != nil {
		tb.Fatal(err)
	}
	e.DrainSets()
	if len(e.Drain()) != 1 {
		tb.Fatal("relabelling one endpoint changed the policy of other endpoints")
	}
}

// edited is the policy editPolicy works on, in one of its two states: a
// Calico policy of the namespace after the middle one (not the one relabel
// works in, so that the two do not see each other's changes), or that
// policy with other ports and another source selector in its first rule.
func edited(c *cluster, flip bool) *v3.NetworkPolicy {
	n := len(c.namespaces)/2 + 1
	p := calicoPolicy(c.namespaces[n], 4, n)
	if flip {
		p.Spec.Ingress[0].Destination.Ports = []v3.Port{v3.SinglePort(8443)}
		p.Spec.Ingress[0].Source.Selector = "app == 'app-7' && tier == 'fe'"
	}
	return p
}

// editPolicy changes a rule of one policy and back, then drains.
func editPolicy(tb testing.TB, e *Engine, c *cluster, flip bool) {
	if err := e.Upsert(edited(c, flip)); err != nil {
		tb.Fatal(err)
	}
	e.DrainSets()
	if len(e.Drain()) != podsPerNamespace/appsPerNamespace {
		tb.Fatal("editing one policy changed the policy of endpoints it does not select")
	}
}

var incrementalOps = []struct {
	name string
	op   incrementalOp
}{
	{"relabel-endpoint", relabel},
	{"edit-policy", editPolicy},
}

// BenchmarkIncremental measures one change to a loaded cluster of 1,000
// and of 10,000 endpoints; the incremental path should cost about the
// same at both sizes.
func BenchmarkIncremental(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		c := newCluster(b, n)
		e := c.load(b)
		for _, op := range incrementalOps {
			b.Run(fmt.Sprintf("%s/endpoints=%d", op.name, n), func(b *testing.B) {
				b.ReportAllocs()
				flip := false
				for b.Loop() {
					flip = !flip
					op.op(b, e, c, flip)
				}
			})
		}
	}
}

// BenchmarkIncrementalRatio times each change alternately on a cluster of
// 1,000 and one of 10,000 endpoints, in the same loop so that both see the
// same machine load, and reports the ratio of their mean times (10k/1k). An
// incremental path whose cost grows with the cluster shows a ratio well
// above 1; the target is at most 2.
func BenchmarkIncrementalRatio(b *testing.B) {
	small, large := newCluster(b, 1000), newCluster(b, 10000)
	es, el := small.load(b), large.load(b)
	for _, op := range incrementalOps {
		b.Run(op.name, func(b *testing.B) {
			var ts, tl time.Duration
			flip := false
			for b.Loop() {
				flip = !flip
				start := time.Now()
				op.op(b, es, small, flip)
				mid := time.Now()
				op.op(b, el, large, flip)
				tl += time.Since(mid)
				ts += mid.Sub(start)
			}
			b.ReportMetric(float64(ts.Nanoseconds())/float64(b.N), "ns/op-1k")
			b.ReportMetric(float64(tl.Nanoseconds())/float64(b.N), "ns/op-10k")
			b.ReportMetric(float64(tl)/float64(ts), "10k/1k")
		})
	}
}

// TestIncrementalWorkIsTheSameAt1000And10000Endpoints checks the cost
// model behind BenchmarkIncrementalRatio without timing anything: the
// selector entries relabel evaluates (those the endpoint matched, and the
// candidates filed under its old and new labels) and the members
// editPolicy visits (the candidates of each selector it creates, and the
// endpoints the policy selects) are as many in a cluster of 10,000
// endpoints as in one of 1,000.
func TestIncrementalWorkIsTheSameAt1000And10000Endpoints(t *testing.T) {
	type work struct{ Relabel, Edit int }
	measure := func(n int) work {
		c := newCluster(t, n)
		e := c.load(t)
		var w work
		before, after := relabelled(c, false), relabelled(c, true)
		m := e.ix.members[v3.KeyOf(before)]
		nm, err := newMember(v3.KeyOf(after), after)
		if err != nil {
			t.Fatal(err)
		}
		for d := range numDomains {
			w.Relabel += len(m.matched[d])
			for _, labels := range []map[string]string{m.labels, e.labelsOf(nm)} {
				e.ix.candidateSelectors(d, labels, func(*selEntry) { w.Relabel++ })
			}
		}
		p := edited(c, true)
		pol, err := compilePolicy(v3.KeyOf(p), p)
		if err != nil {
			t.Fatal(err)
		}
		created := func(d domain, sel *selector.Selector) {
			if sel == nil {
				return
			}
			canon := sel.String()
			if _, ok := e.ix.sels[d].entries[canon]; !ok {
				e.ix.candidateMembers(&selEntry{terms: restrictions(canon)}, func(*member) { w.Edit++ })
			}
		}
		created(policyDomain, pol.sel)
		for _, r := range slices.Concat(pol.IngressRules, pol.EgressRules) {
			created(setDomain, r.Source.rawSel)
			created(setDomain, r.Source.rawNotSel)
			created(setDomain, r.Destination.rawSel)
			created(setDomain, r.Destination.rawNotSel)
		}
		w.Edit += len(e.policies[v3.KeyOf(p)].entry.members)
		return w
	}
	small, large := measure(1000), measure(10000)
	t.Logf("work of one change: %+v", small)
	if small.Relabel == 0 || small.Edit <= podsPerNamespace/appsPerNamespace {
		t.Fatalf("nothing measured: %+v", small)
	}
	if diff := cmp.Diff(small, large); diff != "" {
		t.Errorf("work at 1,000 endpoints (-) and at 10,000 (+):\n%s", diff)
	}
}

// BenchmarkEvaluate decides one flow between two pods of a namespace of the
// 10,000-endpoint cluster, allowed after eleven rules of five policies in
// two tiers (see benchFlow). Without a trace it must not allocate.
func BenchmarkEvaluate(b *testing.B) {
	c := newCluster(b, 10000)
	e := c.load(b)
	f := benchFlow(c)
	for _, tc := range []struct {
		name  string
		trace bool
	}{{"trace=off", false}, {"trace=on", true}} {
		b.Run(tc.name, func(b *testing.B) {
			eval := e.Evaluate
			if tc.trace {
				eval = e.EvaluateWithTrace
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := eval(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchFlow is TCP 8080 (port http) from the be pod app-3 to the db pod
// app-2 of the middle namespace. Egress: block-bad-nets passes, then the
// Kubernetes policy of app-3 allows by its second rule. Ingress: db-guard
// and monitoring match nothing, block-bad-nets passes, then allow-app-2
// allows by its first rule, through the named port.
func benchFlow(c *cluster) Flow {
	base := (len(c.namespaces) / 2) * podsPerNamespace
	src, dst := c.endpoints[base+13], c.endpoints[base+2]
	return Flow{
		Src: Peer{Endpoint: v3.KeyOf(src)}, Dst: Peer{Endpoint: v3.KeyOf(dst)},
		Protocol: 6, SrcPort: 40000, DstPort: 8080,
	}
}

// TestEvaluateOfBenchmarkFlowDoesNotAllocate holds Evaluate to its
// contract on the benchmark's flow, through two tiers and a named port: no
// allocation without a trace.
func TestEvaluateOfBenchmarkFlowDoesNotAllocate(t *testing.T) {
	c := newCluster(t, 1000)
	e := c.load(t)
	f := benchFlow(c)
	res, err := e.EvaluateWithTrace(f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != v3.Allow || len(res.Trace.Ingress.Tiers) != 2 || len(res.Trace.Egress.Tiers) != 2 || len(res.Ingress.Logged) > 0 {
		t.Fatalf("the flow is not allowed by the default tier after the security tier, without Log, both ways:\n%s", res.Trace)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		if _, err := e.Evaluate(f); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("Evaluate allocates %v times per flow, want 0", allocs)
	}
}
