package k8s

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/selector"
)

func TestPodAndNamespaceSelectors(t *testing.T) {
	tests := []struct {
		name    string
		in      *metav1.LabelSelector
		wantPod string
		wantNS  string
	}{
		{"a nil selector is the orchestrator term for pods and no namespace selector", nil, orch, ""},
		{"an empty selector is the orchestrator term for pods and all() for namespaces",
			&metav1.LabelSelector{}, orch, "all()"},
		{"a selector with empty non-nil maps is still empty",
			&metav1.LabelSelector{MatchLabels: map[string]string{}, MatchExpressions: []metav1.LabelSelectorRequirement{}}, orch, "all()"},
		{"matchLabels come in sorted key order",
			labels("zone", "b", "app", "web", "tier", "front"),
			orch + " && app == 'web' && tier == 'front' && zone == 'b'",
			"app == 'web' && tier == 'front' && zone == 'b'"},
		{"In lists its values in the order given",
			&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "env", Operator: metav1.LabelSelectorOpIn, Values: []string{"prod", "dev"}}}},
			orch + " && env in { 'prod', 'dev' }", "env in { 'prod', 'dev' }"},
		{"NotIn is written not in",
			&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "env", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"test"}}}},
			orch + " && env not in { 'test' }", "env not in { 'test' }"},
		{"Exists is has()",
			&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "example.com/role", Operator: metav1.LabelSelectorOpExists}}},
			orch + " && has(example.com/role)", "has(example.com/role)"},
		{"DoesNotExist is ! has()",
			&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "toast", Operator: metav1.LabelSelectorOpDoesNotExist}}},
			orch + " && ! has(toast)", "! has(toast)"},
		{"matchLabels come before matchExpressions, which keep their order",
			&metav1.LabelSelector{
				MatchLabels: map[string]string{"b": "2", "a": "1"},
				MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "z", Operator: metav1.LabelSelectorOpDoesNotExist},
					{Key: "c", Operator: metav1.LabelSelectorOpIn, Values: []string{"x", "y"}},
					{Key: "m", Operator: metav1.LabelSelectorOpExists},
				}},
			orch + " && a == '1' && b == '2' && ! has(z) && c in { 'x', 'y' } && has(m)",
			"a == '1' && b == '2' && ! has(z) && c in { 'x', 'y' } && has(m)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PodSelector(tt.in); got != tt.wantPod {
				t.Errorf("PodSelector = %q, want %q", got, tt.wantPod)
			}
			if got := NamespaceSelector(tt.in); got != tt.wantNS {
				t.Errorf("NamespaceSelector = %q, want %q", got, tt.wantNS)
			}
			for _, sel := range []string{tt.wantPod, tt.wantNS} {
				if _, err := selector.Parse(sel); err != nil {
					t.Errorf("selector %q does not parse: %v", sel, err)
				}
			}
		})
	}
}

func TestNetworkPolicy(t *testing.T) {
	tcp, udp, sctp := corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP
	allow := v3.Rule{Action: v3.Allow}
	tests := []struct {
		name         string
		in           *networkingv1.NetworkPolicy
		want         *v3.NetworkPolicy
		wantWarnings int
	}{
		{
			name: "a policy with no types and no rules applies to ingress and denies it",
			in:   knp("ns1", "deny", networkingv1.NetworkPolicySpec{}),
			want: calicoPolicy("ns1", "deny", orch, ingressOnly, nil, nil),
		},
		{
			name: "a policy with no types but egress rules is defaulted to both types as the API server does",
			in: knp("ns1", "both", networkingv1.NetworkPolicySpec{
				Egress: []networkingv1.NetworkPolicyEgressRule{{}},
			}),
			want: calicoPolicy("ns1", "both", orch, bothTypes, nil, []v3.Rule{allow}),
		},
		{
			name: "an empty namespace becomes default",
			in:   knp("", "p", networkingv1.NetworkPolicySpec{}),
			want: calicoPolicy("default", "p", orch, ingressOnly, nil, nil),
		},
		{
			name: "an empty ingress rule allows all ingress",
			in: knp("ns1", "allow-all", networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{}},
			}),
			want: calicoPolicy("ns1", "allow-all", orch, ingressOnly, []v3.Rule{allow}, nil),
		},
		{
			name: "an empty ingress list with type Ingress denies all ingress",
			in: knp("ns1", "deny-ingress", networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{},
			}),
			want: calicoPolicy("ns1", "deny-ingress", orch, ingressOnly, nil, nil),
		},
		{
			name: "an egress-only default deny has only the Egress type",
			in: knp("ns1", "deny-egress", networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			}),
			want: calicoPolicy("ns1", "deny-egress", orch, egressOnly, nil, nil),
		},
		{
			name: "types are listed ingress first whatever the input order",
			in: knp("ns1", "deny-all", networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress},
			}),
			want: calicoPolicy("ns1", "deny-all", orch, bothTypes, nil, nil),
		},
		{
			name: "egress rules without the Egress type are kept with a warning",
			in: knp("ns1", "odd", networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Egress:      []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{protoPort(udp, 53)}}},
			}),
			want: calicoPolicy("ns1", "odd", orch, ingressOnly, nil, []v3.Rule{
				{Action: v3.Allow, Protocol: proto("UDP"), Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(53)}}},
			}),
			wantWarnings: 1,
		},
		{
			name: "the pod selector gets the orchestrator term and sorted labels",
			in: knp("ns1", "sel", networkingv1.NetworkPolicySpec{
				PodSelector: *labels("role", "db", "app", "shop"),
			}),
			want: calicoPolicy("ns1", "sel", orch+" && app == 'shop' && role == 'db'", ingressOnly, nil, nil),
		},
		{
			name: "a podSelector-only peer has no namespace selector, so it stays in the policy's namespace",
			in: knp("ns1", "peer", networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{podPeer(labels("app", "web"))}}},
			}),
			want: calicoPolicy("ns1", "peer", orch, ingressOnly, []v3.Rule{
				{Action: v3.Allow, Source: v3.EntityRule{Selector: orch + " && app == 'web'"}},
			}, nil),
		},
		{
			name: "an empty podSelector peer selects every pod of the policy's namespace",
			in: knp("ns1", "peer", networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{podPeer(&metav1.LabelSelector{})}}},
			}),
			want: calicoPolicy("ns1", "peer", orch, ingressOnly, []v3.Rule{
				{Action: v3.Allow, Source: v3.EntityRule{Selector: orch}},
			}, nil),
		},
		{
			name: "a namespaceSelector-only peer still selects Kubernetes pods only",
			in: knp("ns1", "peer", networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{nsPeer(labels("team", "a"))}}},
			}),
			want: calicoPolicy("ns1", "peer", orch, ingressOnly, []v3.Rule{
				{Action: v3.Allow, Source: v3.EntityRule{Selector: orch, NamespaceSelector: "team == 'a'"}},
			}, nil),
		},
		{
			name: "an empty namespaceSelector peer selects all namespaces",
			in: knp("ns1", "peer", networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{nsPeer(&metav1.LabelSelector{})}}},
			}),
			want: calicoPolicy("ns1", "peer", orch, ingressOnly, []v3.Rule{
				{Action: v3.Allow, Source: v3.EntityRule{Selector: orch, NamespaceSelector: "all()"}},
			}, nil),
		},
		{
			name: "a peer with both selectors ANDs them",
			in: knp("ns1", "peer", networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{
					{PodSelector: labels("app", "api"), NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
						{Key: "env", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"dev", "test"}}}}},
				}}},
			}),
			want: calicoPolicy("ns1", "peer", orch, ingressOnly, []v3.Rule{
				{Action: v3.Allow, Source: v3.EntityRule{Selector: orch + " && app == 'api'", NamespaceSelector: "env not in { 'dev', 'test' }"}},
			}, nil),
		},
		{
			name: "an ipBlock gives nets and notNets only, masked to their networks",
			in: knp("ns1", "cidr", networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{
					ipPeer("10.1.2.3/16", "10.1.5.0/24", "10.1.6.7/32"),
					ipPeer("2001:db8::1/32"),
				}}},
			}),
			want: calicoPolicy("ns1", "cidr", orch, egressOnly, nil, []v3.Rule{
				{Action: v3.Allow, Destination: v3.EntityRule{Nets: []string{"10.1.0.0/16"}, NotNets: []string{"10.1.5.0/24", "10.1.6.7/32"}}},
				{Action: v3.Allow, Destination: v3.EntityRule{Nets: []string{"2001:db8::/32"}}},
			}),
		},
		{
			name: "a port without a protocol is TCP",
			in: knp("ns1", "port", networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{port(80)}}},
			}),
			want: calicoPolicy("ns1", "port", orch, ingressOnly, []v3.Rule{
				{Action: v3.Allow, Protocol: proto("TCP"), Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(80)}}},
			}, nil),
		},
		{
			name: "endPort makes a range",
			in: knp("ns1", "range", networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{portRange(tcp, 32000, 32768)}}},
			}),
			want: calicoPolicy("ns1", "range", orch, ingressOnly, []v3.Rule{
				{Action: v3.Allow, Protocol: proto("TCP"), Destination: v3.EntityRule{Ports: []v3.Port{v3.PortRange(32000, 32768)}}},
			}, nil),
		},
		{
			name: "named ports are kept as names",
			in: knp("ns1", "named", networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{namedPort(tcp, "http"), namedPort(tcp, "metrics")}}},
			}),
			want: calicoPolicy("ns1", "named", orch, ingressOnly, []v3.Rule{
				{Action: v3.Allow, Protocol: proto("TCP"), Destination: v3.EntityRule{Ports: []v3.Port{v3.NamedPort("http"), v3.NamedPort("metrics")}}},
			}, nil),
		},
		{
			name: "UDP and SCTP ports each get a rule with their protocol",
			in: knp("ns1", "protos", networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{protoPort(udp, 53), protoPort(sctp, 9000)}}},
			}),
			want: calicoPolicy("ns1", "protos", orch, ingressOnly, []v3.Rule{
				{Action: v3.Allow, Protocol: proto("SCTP"), Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(9000)}}},
				{Action: v3.Allow, Protocol: proto("UDP"), Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(53)}}},
			}, nil),
		},
		{
			name: "ports of one protocol share a rule with adjacent numbers merged and names first",
			in: knp("ns1", "merge", networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{
					port(82), protoPort(tcp, 80), namedPort(tcp, "http"), port(81), portRange(tcp, 9090, 9091), port(9092), port(443),
				}}},
			}),
			want: calicoPolicy("ns1", "merge", orch, ingressOnly, []v3.Rule{
				{Action: v3.Allow, Protocol: proto("TCP"), Destination: v3.EntityRule{Ports: []v3.Port{
					v3.NamedPort("http"), v3.PortRange(80, 82), v3.SinglePort(443), v3.PortRange(9090, 9092)}}},
			}, nil),
		},
		{
			name: "a port without a number allows its whole protocol and absorbs the others",
			in: knp("ns1", "wide", networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{
					protoPort(udp, 53), {Protocol: &udp}, protoPort(udp, 54), port(80), {},
				}}},
			}),
			want: calicoPolicy("ns1", "wide", orch, ingressOnly, []v3.Rule{
				{Action: v3.Allow, Protocol: proto("TCP")},
				{Action: v3.Allow, Protocol: proto("UDP")},
			}, nil),
		},
		{
			name: "several peers and several protocols make one rule per protocol per peer, protocols outermost",
			in:   knp("ns1", "cross", crossSpec()),
			want: func() *v3.NetworkPolicy {
				peers := []v3.EntityRule{
					{Selector: orch + " && app == 'a'"},
					{Selector: orch, NamespaceSelector: "ns == 'b'"},
					{Nets: []string{"192.168.0.0/24"}},
				}
				groups := []struct {
					proto string
					ports []v3.Port
				}{
					{"SCTP", []v3.Port{v3.SinglePort(9000)}},
					{"TCP", []v3.Port{v3.NamedPort("http"), v3.PortRange(80, 81)}},
					{"UDP", []v3.Port{v3.SinglePort(53)}},
				}
				var rules []v3.Rule
				for _, g := range groups {
					for _, p := range peers {
						rules = append(rules, v3.Rule{Action: v3.Allow, Protocol: proto(g.proto), Source: p,
							Destination: v3.EntityRule{Ports: g.ports}})
					}
				}
				return calicoPolicy("ns1", "cross", orch, ingressOnly, rules, nil)
			}(),
		},
		{
			name: "egress rules put peer and ports in the destination",
			in: knp("ns1", "egress", networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{{
					To:    []networkingv1.NetworkPolicyPeer{podPeer(labels("app", "db")), ipPeer("0.0.0.0/0", "10.0.0.0/8")},
					Ports: []networkingv1.NetworkPolicyPort{protoPort(tcp, 5432)},
				}},
			}),
			want: calicoPolicy("ns1", "egress", orch, egressOnly, nil, []v3.Rule{
				{Action: v3.Allow, Protocol: proto("TCP"), Destination: v3.EntityRule{Selector: orch + " && app == 'db'", Ports: []v3.Port{v3.SinglePort(5432)}}},
				{Action: v3.Allow, Protocol: proto("TCP"), Destination: v3.EntityRule{Nets: []string{"0.0.0.0/0"}, NotNets: []string{"10.0.0.0/8"}, Ports: []v3.Port{v3.SinglePort(5432)}}},
			}),
		},
		{
			name: "rules keep the order of the Kubernetes rules",
			in: knp("ns1", "order", networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{
					{From: []networkingv1.NetworkPolicyPeer{podPeer(labels("n", "2"))}},
					{From: []networkingv1.NetworkPolicyPeer{podPeer(labels("n", "1"))}},
				},
			}),
			want: calicoPolicy("ns1", "order", orch, ingressOnly, []v3.Rule{
				{Action: v3.Allow, Source: v3.EntityRule{Selector: orch + " && n == '2'"}},
				{Action: v3.Allow, Source: v3.EntityRule{Selector: orch + " && n == '1'"}},
			}, nil),
		},
		{
			name: "metadata is reduced to name and namespace",
			in: &networkingv1.NetworkPolicy{
				ObjectMeta: metav1.ObjectMeta{Name: "meta", Namespace: "ns1", Labels: map[string]string{"a": "b"},
					Annotations: map[string]string{"x": "y"}, ResourceVersion: "12", UID: "d5f8e6e4-3c1a-4f0e-9a53-0a1b2c3d4e5f"},
			},
			want: calicoPolicy("ns1", "meta", orch, ingressOnly, nil, nil),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.in.DeepCopy()
			got, warnings, err := NetworkPolicy(tt.in)
			if err != nil {
				t.Fatalf("NetworkPolicy: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("NetworkPolicy mismatch (-want +got):\n%s", diff)
			}
			if len(warnings) != tt.wantWarnings {
				t.Errorf("warnings = %q, want %d", warnings, tt.wantWarnings)
			}
			if diff := cmp.Diff(before, tt.in); diff != "" {
				t.Errorf("NetworkPolicy modified its input (-before +after):\n%s", diff)
			}
			for _, sel := range policySelectors(got) {
				if _, err := selector.Parse(sel); err != nil {
					t.Errorf("selector %q does not parse: %v", sel, err)
				}
			}
		})
	}
}

// crossSpec has three kinds of peer and ports of three protocols.
func crossSpec() networkingv1.NetworkPolicySpec {
	tcp, udp, sctp := corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP
	return networkingv1.NetworkPolicySpec{
		Ingress: []networkingv1.NetworkPolicyIngressRule{{
			From: []networkingv1.NetworkPolicyPeer{podPeer(labels("app", "a")), nsPeer(labels("ns", "b")), ipPeer("192.168.0.0/24")},
			Ports: []networkingv1.NetworkPolicyPort{
				protoPort(udp, 53), port(80), protoPort(sctp, 9000), namedPort(tcp, "http"), protoPort(tcp, 81),
			},
		}},
	}
}

func TestNetworkPolicyEgressWarningNamesThePolicy(t *testing.T) {
	_, warnings, err := NetworkPolicy(knp("ns1", "odd", networkingv1.NetworkPolicySpec{
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		Egress:      []networkingv1.NetworkPolicyEgressRule{{}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"NetworkPolicy ns1/odd has egress rules but its policyTypes do not include Egress: the egress rules have no effect"}
	if diff := cmp.Diff(want, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestNetworkPolicyOutputSharesNoMemoryWithRules(t *testing.T) {
	got, _, err := NetworkPolicy(knp("ns1", "share", networkingv1.NetworkPolicySpec{
		Ingress: []networkingv1.NetworkPolicyIngressRule{{
			From:  []networkingv1.NetworkPolicyPeer{podPeer(labels("a", "1")), podPeer(labels("b", "2"))},
			Ports: []networkingv1.NetworkPolicyPort{port(80)},
		}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	got.Spec.Ingress[0].Destination.Ports[0] = v3.SinglePort(1)
	*got.Spec.Ingress[0].Protocol = v3.ProtocolFromString("UDP")
	if p := got.Spec.Ingress[1].Destination.Ports[0]; p != v3.SinglePort(80) {
		t.Errorf("changing rule 0's ports changed rule 1's to %v", p)
	}
	if p := got.Spec.Ingress[1].Protocol.String(); p != "TCP" {
		t.Errorf("changing rule 0's protocol changed rule 1's to %s", p)
	}
}

func TestNetworkPolicyRejectsWhatTheAPIServerRefuses(t *testing.T) {
	badProto := corev1.Protocol("ICMP")
	emptyProto := corev1.Protocol("")
	str80 := intstr.FromString("80")
	tests := []struct {
		name     string
		spec     networkingv1.NetworkPolicySpec
		policy   string
		wantPath string
	}{
		{name: "an unknown selector operator is refused rather than dropped",
			spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "a", Operator: "Like", Values: []string{"b"}}}}},
			wantPath: "spec.podSelector.matchExpressions[0].operator"},
		{name: "In without values is refused",
			spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "a", Operator: metav1.LabelSelectorOpIn}}}},
			wantPath: "spec.podSelector.matchExpressions[0].values"},
		{name: "a label value with a quote is refused",
			spec:     networkingv1.NetworkPolicySpec{PodSelector: *labels("a", "it's")},
			wantPath: "spec.podSelector.matchLabels"},
		{name: "an unparsable CIDR is refused rather than allowing everything",
			spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{ipPeer("10.0.0.0/33")}}}},
			wantPath: "spec.ingress[0].from[0].ipBlock.cidr"},
		{name: "an except outside its CIDR is refused",
			spec: networkingv1.NetworkPolicySpec{Egress: []networkingv1.NetworkPolicyEgressRule{{
				To: []networkingv1.NetworkPolicyPeer{ipPeer("10.0.0.0/8", "11.0.0.0/16")}}}},
			wantPath: "spec.egress[0].to[0].ipBlock.except[0]"},
		{name: "an except as wide as its CIDR is refused",
			spec: networkingv1.NetworkPolicySpec{Egress: []networkingv1.NetworkPolicyEgressRule{{
				To: []networkingv1.NetworkPolicyPeer{ipPeer("10.0.0.0/8", "10.0.0.0/8")}}}},
			wantPath: "spec.egress[0].to[0].ipBlock.except[0]"},
		{name: "a peer naming nothing is refused",
			spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{}}}}},
			wantPath: "spec.ingress[0].from[0]"},
		{name: "an ipBlock with a selector is refused",
			spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}, PodSelector: &metav1.LabelSelector{}}}}}},
			wantPath: "spec.ingress[0].from[0]"},
		{name: "port 0 is refused",
			spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{port(0)}}}},
			wantPath: "spec.ingress[0].ports[0].port"},
		{name: "port 65536 is refused",
			spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{port(65536)}}}},
			wantPath: "spec.ingress[0].ports[0].port"},
		{name: "a numeric string port is refused as a port name",
			spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Port: &str80}}}}},
			wantPath: "spec.ingress[0].ports[0].port"},
		{name: "an endPort below port is refused",
			spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{portRange(corev1.ProtocolTCP, 90, 80)}}}},
			wantPath: "spec.ingress[0].ports[0].endPort"},
		{name: "an endPort with a named port is refused",
			spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr(intstr.FromString("http")), EndPort: ptr(int32(90))}}}}},
			wantPath: "spec.ingress[0].ports[0].endPort"},
		{name: "an endPort without a port is refused",
			spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{EndPort: ptr(int32(90))}}}}},
			wantPath: "spec.ingress[0].ports[0].endPort"},
		{name: "an unsupported protocol is refused",
			spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &badProto}}}}},
			wantPath: "spec.ingress[0].ports[0].protocol"},
		{name: "an empty protocol is refused rather than written as no protocol",
			spec: networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &emptyProto, Port: ptr(intstr.FromInt32(80))}}}}},
			wantPath: "spec.ingress[0].ports[0].protocol"},
		{name: "an unknown policy type is refused",
			spec:     networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Sideways"}},
			wantPath: "spec.policyTypes[0]"},
		{name: "an invalid name is refused",
			policy:   "Not_A_Name",
			wantPath: "metadata.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.policy
			if name == "" {
				name = "p"
			}
			got, _, err := NetworkPolicy(knp("ns1", name, tt.spec))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("NetworkPolicy = %v, %v; want an error wrapping ErrInvalid", got, err)
			}
			if !strings.Contains(err.Error(), tt.wantPath) {
				t.Errorf("error %q does not name the field %s", err, tt.wantPath)
			}
			if !strings.Contains(err.Error(), "NetworkPolicy ns1/"+name) {
				t.Errorf("error %q does not name the policy", err)
			}
		})
	}
	if _, _, err := NetworkPolicy(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("NetworkPolicy(nil) error = %v, want ErrInvalid", err)
	}
}

func TestSimplifyPorts(t *testing.T) {
	p, r, n := v3.SinglePort, v3.PortRange, v3.NamedPort
	tests := []struct {
		name string
		in   []v3.Port
		want []v3.Port
	}{
		{"no ports stay none", nil, nil},
		{"one port is unchanged", []v3.Port{r(1, 5)}, []v3.Port{r(1, 5)}},
		{"a single number keeps its place among names", []v3.Port{p(80), n("http")}, []v3.Port{p(80), n("http")}},
		{"names come before ranges once numbers are merged", []v3.Port{r(80, 81), n("http")}, []v3.Port{n("http"), r(80, 81)}},
		{"Calico's example: 80, 81, 82, 9090 and foo", []v3.Port{p(80), p(81), p(82), p(9090), n("foo")},
			[]v3.Port{n("foo"), r(80, 82), p(9090)}},
		{"duplicates collapse", []v3.Port{p(53), p(53)}, []v3.Port{p(53)}},
		{"overlapping and contained ranges merge", []v3.Port{r(10, 20), r(15, 30), p(12), r(31, 31), p(40)},
			[]v3.Port{r(10, 31), p(40)}},
		{"numbers are sorted", []v3.Port{p(443), p(22), p(80)}, []v3.Port{p(22), p(80), p(443)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, simplifyPorts(tt.in)); diff != "" {
				t.Errorf("simplifyPorts(%v) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestSimplifyPortsCoversTheSameNumbers checks simplifyPorts against the
// definition Calico's SimplifyPorts is written from: the set of numbers
// covered is unchanged and no two output ranges touch.
func TestSimplifyPortsCoversTheSameNumbers(t *testing.T) {
	inputs := [][]v3.Port{
		{v3.SinglePort(1), v3.SinglePort(3), v3.SinglePort(2)},
		{v3.PortRange(100, 200), v3.PortRange(201, 300), v3.PortRange(50, 60), v3.SinglePort(65535)},
		{v3.PortRange(1, 65535), v3.SinglePort(80)},
		{v3.SinglePort(7), v3.SinglePort(9), v3.PortRange(8, 8), v3.NamedPort("x")},
	}
	for _, in := range inputs {
		covered := map[int]bool{}
		for _, p := range in {
			for i := p.MinPort; i <= p.MaxPort && !p.IsNamed(); i++ {
				covered[i] = true
			}
		}
		out := simplifyPorts(in)
		got := map[int]bool{}
		prevMax := -2
		for _, p := range out {
			if p.IsNamed() {
				continue
			}
			if p.MinPort <= prevMax+1 {
				t.Errorf("simplifyPorts(%v) = %v: ranges touch or are out of order", in, out)
			}
			prevMax = p.MaxPort
			for i := p.MinPort; i <= p.MaxPort; i++ {
				got[i] = true
			}
		}
		if diff := cmp.Diff(covered, got); diff != "" {
			t.Errorf("simplifyPorts(%v) = %v covers different numbers (-want +got):\n%s", in, out, diff)
		}
	}
}
