package k8s

import (
	"fmt"
	"net"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// orchestratorTerm starts every pod selector, so that a Kubernetes policy
// never selects a non-Kubernetes endpoint.
const orchestratorTerm = v3.LabelOrchestrator + " == '" + v3.OrchestratorKubernetes + "'"

// NetworkPolicy converts a Kubernetes NetworkPolicy into the Calico
// NetworkPolicy kube-controllers stores for it: named knp.default.<name> in
// the same namespace ("default" if empty), tier "default", order 1000, types
// from policyTypes, rules expanded one per protocol per peer (see the
// package documentation).
//
// The input is first defaulted as the API server defaults it, since Calico
// only ever sees defaulted policies: a port without a protocol is TCP, and
// a policy without policyTypes has [Ingress], plus Egress if it has egress
// rules. A policy the API server would refuse is an error wrapping
// ErrInvalid. The input is not modified.
//
// The warnings describe accepted input that does not do what it seems to:
// egress rules in a policy whose policyTypes lack Egress (Calico keeps them;
// they have no effect).
func NetworkPolicy(np *networkingv1.NetworkPolicy) (*v3.NetworkPolicy, []string, error) {
	if np == nil {
		return nil, nil, fmt.Errorf("%w: nil NetworkPolicy", ErrInvalid)
	}
	ns := namespaceOrDefault(np.Namespace)
	if errs := validateNetworkPolicy(np, ns); len(errs) > 0 {
		return nil, nil, invalid("NetworkPolicy", ns, np.Name, errs)
	}

	var ingress, egress []v3.Rule
	for _, r := range np.Spec.Ingress {
		ingress = append(ingress, rules(r.From, r.Ports, true)...)
	}
	for _, r := range np.Spec.Egress {
		egress = append(egress, rules(r.To, r.Ports, false)...)
	}

	// The API server defaults missing policyTypes before Calico sees the
	// policy: Ingress, and Egress too when there are egress rules.
	policyTypes := np.Spec.PolicyTypes
	if len(policyTypes) == 0 {
		policyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(np.Spec.Egress) != 0 {
			policyTypes = append(policyTypes, networkingv1.PolicyTypeEgress)
		}
	}
	var hasIngress, hasEgress bool
	for _, t := range policyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			hasIngress = true
		case networkingv1.PolicyTypeEgress:
			hasEgress = true
		}
	}
	var types []v3.PolicyType
	if hasIngress {
		types = append(types, v3.PolicyTypeIngress)
	}
	var warnings []string
	if hasEgress {
		types = append(types, v3.PolicyTypeEgress)
	} else if len(egress) > 0 {
		warnings = append(warnings, fmt.Sprintf(
			"NetworkPolicy %s/%s has egress rules but its policyTypes do not include Egress: the egress rules have no effect", ns, np.Name))
	}

	order := PolicyOrder
	return &v3.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: v3.APIVersion, Kind: v3.KindNetworkPolicy},
		ObjectMeta: metav1.ObjectMeta{Name: PolicyName(np.Name), Namespace: ns},
		Spec: v3.NetworkPolicySpec{
			Tier:     v3.DefaultTierName,
			Order:    &order,
			Selector: PodSelector(&np.Spec.PodSelector),
			Ingress:  ingress,
			Egress:   egress,
			Types:    types,
		},
	}, warnings, nil
}

// PodSelector returns the Calico selector for a Kubernetes pod selector:
// the orchestrator term, then each matchLabels entry as "k == 'v'" in sorted
// key order, then each matchExpressions entry in order (In "k in { 'a', 'b'
// }", NotIn "k not in { ... }", Exists "has(k)", DoesNotExist "! has(k)"),
// joined with " && ". A nil or empty selector is the orchestrator term alone.
// s is assumed valid (the API server's rules); an expression with an unknown
// operator contributes nothing, as in Calico.
func PodSelector(s *metav1.LabelSelector) string {
	return strings.Join(selectorTerms([]string{orchestratorTerm}, s), " && ")
}

// NamespaceSelector returns the Calico namespace selector for a Kubernetes
// namespace selector: the same terms as PodSelector without the orchestrator
// term, "all()" for an empty selector (every namespace) and "" for a nil one
// (no namespace selector: the policy's own namespace).
func NamespaceSelector(s *metav1.LabelSelector) string {
	if s == nil {
		return ""
	}
	if len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 {
		return "all()"
	}
	return strings.Join(selectorTerms(nil, s), " && ")
}

func selectorTerms(terms []string, s *metav1.LabelSelector) []string {
	if s == nil {
		return terms
	}
	keys := make([]string, 0, len(s.MatchLabels))
	for k := range s.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		terms = append(terms, k+" == '"+s.MatchLabels[k]+"'")
	}
	for _, e := range s.MatchExpressions {
		values := strings.Join(e.Values, "', '")
		switch e.Operator {
		case metav1.LabelSelectorOpIn:
			terms = append(terms, e.Key+" in { '"+values+"' }")
		case metav1.LabelSelectorOpNotIn:
			terms = append(terms, e.Key+" not in { '"+values+"' }")
		case metav1.LabelSelectorOpExists:
			terms = append(terms, "has("+e.Key+")")
		case metav1.LabelSelectorOpDoesNotExist:
			terms = append(terms, "! has("+e.Key+")")
		}
	}
	return terms
}

// protocolPorts is the destination ports of one protocol within a rule; all
// means every port of the protocol.
type protocolPorts struct {
	protocol string
	all      bool
	ports    []v3.Port
}

// rules converts one Kubernetes rule, as Calico's k8sRuleToCalico does: the
// ports are grouped by protocol, and each protocol (in name order) is
// crossed with each peer (in order). No peers means any peer; no ports means
// any protocol and port.
func rules(peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort, ingress bool) []v3.Rule {
	groups := groupPorts(ports)
	peerList := make([]*networkingv1.NetworkPolicyPeer, len(peers))
	for i := range peers {
		peerList[i] = &peers[i]
	}
	if len(peerList) == 0 {
		peerList = []*networkingv1.NetworkPolicyPeer{nil}
	}

	var out []v3.Rule
	for _, g := range groups {
		dstPorts := simplifyPorts(g.ports)
		for _, peer := range peerList {
			r := v3.Rule{Action: v3.Allow}
			if g.protocol != "" {
				p := v3.ProtocolFromString(g.protocol)
				r.Protocol = &p
			}
			entity := peerEntity(peer)
			if ingress {
				r.Source = entity
			} else {
				r.Destination = entity
			}
			r.Destination.Ports = clonePorts(dstPorts)
			out = append(out, r)
		}
	}
	return out
}

// groupPorts groups ports by protocol, sorted by protocol name. A port
// without a number allows the whole protocol and absorbs the others of its
// protocol. No ports at all is one group with no protocol.
func groupPorts(ports []networkingv1.NetworkPolicyPort) []*protocolPorts {
	if len(ports) == 0 {
		return []*protocolPorts{{all: true}}
	}
	byProto := map[string]*protocolPorts{}
	var groups []*protocolPorts
	for _, p := range ports {
		proto := string(corev1.ProtocolTCP)
		if p.Protocol != nil {
			proto = string(*p.Protocol)
		}
		g := byProto[proto]
		if g == nil {
			g = &protocolPorts{protocol: proto}
			byProto[proto] = g
			groups = append(groups, g)
		}
		switch {
		case g.all:
		case p.Port == nil:
			g.all, g.ports = true, nil
		default:
			g.ports = append(g.ports, policyPort(p))
		}
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].protocol < groups[j].protocol })
	return groups
}

// policyPort converts a port with a number or name; endPort makes a range.
func policyPort(p networkingv1.NetworkPolicyPort) v3.Port {
	if p.Port.Type == intstr.String {
		return v3.NamedPort(p.Port.StrVal)
	}
	if p.EndPort != nil {
		return v3.PortRange(int(p.Port.IntVal), int(*p.EndPort))
	}
	return v3.SinglePort(int(p.Port.IntVal))
}

// simplifyPorts covers ports with the fewest numeric ranges, as Calico's
// SimplifyPorts does: named ports first in their order, then the merged
// numeric ranges in ascending order. Ports covering at most one number are
// returned as given.
func simplifyPorts(ports []v3.Port) []v3.Port {
	if len(ports) <= 1 {
		return ports
	}
	var named, numeric []v3.Port
	count := 0
	for _, p := range ports {
		if p.IsNamed() {
			named = append(named, p)
			continue
		}
		numeric = append(numeric, p)
		count += p.MaxPort - p.MinPort + 1
	}
	if count <= 1 {
		return ports
	}
	sort.Slice(numeric, func(i, j int) bool { return numeric[i].MinPort < numeric[j].MinPort })
	out := named
	cur := numeric[0]
	for _, p := range numeric[1:] {
		if p.MinPort <= cur.MaxPort+1 {
			cur.MaxPort = max(cur.MaxPort, p.MaxPort)
			continue
		}
		out = append(out, cur)
		cur = p
	}
	return append(out, cur)
}

// peerEntity converts a peer into the entity fields Calico sets: nets and
// notNets for an ipBlock; otherwise a pod selector (with the orchestrator
// term even when the peer names only namespaces) and a namespace selector.
// A nil peer is any endpoint.
func peerEntity(p *networkingv1.NetworkPolicyPeer) v3.EntityRule {
	if p == nil {
		return v3.EntityRule{}
	}
	if p.IPBlock != nil {
		e := v3.EntityRule{Nets: []string{maskedCIDR(p.IPBlock.CIDR)}}
		for _, ex := range p.IPBlock.Except {
			e.NotNets = append(e.NotNets, maskedCIDR(ex))
		}
		return e
	}
	return v3.EntityRule{
		Selector:          PodSelector(p.PodSelector),
		NamespaceSelector: NamespaceSelector(p.NamespaceSelector),
	}
}

// maskedCIDR returns the network of a CIDR validation has accepted, with
// the host bits cleared as Calico's ParseCIDR leaves them.
func maskedCIDR(cidr string) string {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		panic(fmt.Sprintf("k8s: CIDR %q passed validation but does not parse: %v", cidr, err))
	}
	return n.String()
}

func clonePorts(ports []v3.Port) []v3.Port {
	if ports == nil {
		return nil
	}
	return append([]v3.Port(nil), ports...)
}
