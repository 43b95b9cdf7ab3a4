package k8s

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v3 "github.com/tabby-project/tabby/api/v3"
)

const orch = "projectcalico.org/orchestrator == 'k8s'"

func ptr[T any](v T) *T { return &v }

func proto(name string) *v3.Protocol {
	p := v3.ProtocolFromString(name)
	return &p
}

func knp(ns, name string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
}

func calicoPolicy(ns, name, selector string, types []v3.PolicyType, ingress, egress []v3.Rule) *v3.NetworkPolicy {
	return &v3.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "projectcalico.org/v3", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: "knp.default." + name, Namespace: ns},
		Spec: v3.NetworkPolicySpec{
			Tier:     "default",
			Order:    ptr(1000.0),
			Selector: selector,
			Ingress:  ingress,
			Egress:   egress,
			Types:    types,
		},
	}
}

var (
	ingressOnly = []v3.PolicyType{v3.PolicyTypeIngress}
	egressOnly  = []v3.PolicyType{v3.PolicyTypeEgress}
	bothTypes   = []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress}
)

func labels(kv ...string) *metav1.LabelSelector {
	s := &metav1.LabelSelector{MatchLabels: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return s
}

func port(p int) networkingv1.NetworkPolicyPort {
	v := intstr.FromInt32(int32(p))
	return networkingv1.NetworkPolicyPort{Port: &v}
}

func protoPort(proto corev1.Protocol, p int) networkingv1.NetworkPolicyPort {
	np := port(p)
	np.Protocol = &proto
	return np
}

func namedPort(proto corev1.Protocol, name string) networkingv1.NetworkPolicyPort {
	v := intstr.FromString(name)
	return networkingv1.NetworkPolicyPort{Port: &v, Protocol: &proto}
}

func portRange(proto corev1.Protocol, from, to int) networkingv1.NetworkPolicyPort {
	np := protoPort(proto, from)
	np.EndPort = ptr(int32(to))
	return np
}

func podPeer(s *metav1.LabelSelector) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{PodSelector: s}
}

func nsPeer(s *metav1.LabelSelector) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: s}
}

func ipPeer(cidr string, except ...string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: cidr, Except: except}}
}
