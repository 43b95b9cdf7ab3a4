package engine

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
)

var (
	ingressOnly = []v3.PolicyType{v3.PolicyTypeIngress}
	egressOnly  = []v3.PolicyType{v3.PolicyTypeEgress}
)

// webIngress is a prod NetworkPolicy governing ingress to prod/web.
func webIngress(name string, order *float64, rules ...v3.Rule) *v3.NetworkPolicy {
	return np("prod", name, v3.NetworkPolicySpec{Order: order, Selector: "app == 'web'", Types: ingressOnly, Ingress: rules})
}

// webIngressGlobal is a GlobalNetworkPolicy governing ingress to app=web.
func webIngressGlobal(name, tierName string, order *float64, rules ...v3.Rule) *v3.GlobalNetworkPolicy {
	return gnp(name, v3.GlobalNetworkPolicySpec{Tier: tierName, Order: order, Selector: "app == 'web'", Types: ingressOnly, Ingress: rules})
}

func allowFrom(src v3.EntityRule) v3.Rule { return v3.Rule{Action: v3.Allow, Source: src} }

func allowTo(dst v3.EntityRule) v3.Rule {
	return v3.Rule{Action: v3.Allow, Protocol: proto("TCP"), Destination: dst}
}

func ports(ps ...v3.Port) []v3.Port { return ps }

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name string
		objs []v3.Object
		flow Flow
		want v3.Action
		// egress and ingress, when set, are the reasons expected per side.
		egress, ingress Reason
		// mismatch, when set, must appear in the trace of some rule.
		mismatch string
	}{
		// Defaults, profiles and bare addresses.
		{
			name: "a pod no policy selects is open through its namespace profile",
			flow: tcpFlow(client, web, 8080), want: v3.Allow, egress: ReasonProfile, ingress: ReasonProfile,
		},
		{
			name: "a workload endpoint without profiles is denied by default",
			flow: tcpFlow(client, vm, 22), want: v3.Deny, ingress: ReasonDefaultDeny,
		},
		{
			name: "a host endpoint without policy or profile is denied by default",
			flow: tcpFlow(client, node1, 22), want: v3.Deny, ingress: ReasonDefaultDeny,
		},
		{
			name: "a host endpoint with the default-allow profile is open",
			flow: tcpFlow(client, node2, 22), want: v3.Allow, ingress: ReasonProfile,
		},
		{
			name: "a bare external address has no policy on its side",
			flow: tcpFlow(ipPeer("8.8.8.8"), web, 8080), want: v3.Allow, egress: ReasonNoEndpoint, ingress: ReasonProfile,
		},
		{
			name: "an address that belongs to an endpoint is that endpoint",
			objs: []v3.Object{np("dev", "no-egress", v3.NetworkPolicySpec{Selector: "all()", Types: egressOnly})},
			flow: tcpFlow(ipPeer("10.0.2.1"), web, 8080), want: v3.Deny, egress: ReasonEndOfTier,
		},
		{
			name: "both directions must allow",
			objs: []v3.Object{
				np("dev", "deny-egress", v3.NetworkPolicySpec{Selector: "all()", Egress: []v3.Rule{{Action: v3.Deny}}}),
				webIngress("allow-all", nil, v3.Rule{Action: v3.Allow}),
			},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, egress: ReasonRule, ingress: ReasonRule,
		},
		// Types.
		{
			name: "a policy with the ingress type and no rules denies ingress",
			objs: []v3.Object{webIngress("lockdown", nil)},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, ingress: ReasonEndOfTier,
		},
		{
			name: "a policy without types or rules defaults to ingress and denies it",
			objs: []v3.Object{np("prod", "lockdown", v3.NetworkPolicySpec{Selector: "app == 'web'"})},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, ingress: ReasonEndOfTier,
		},
		{
			name: "a policy without types or rules leaves egress alone",
			objs: []v3.Object{np("prod", "lockdown", v3.NetworkPolicySpec{Selector: "app == 'web'"})},
			flow: tcpFlow(web, client, 80), want: v3.Allow, egress: ReasonProfile,
		},
		{
			name: "a policy with only egress rules defaults to egress and leaves ingress alone",
			objs: []v3.Object{np("prod", "egress", v3.NetworkPolicySpec{Selector: "app == 'web'", Egress: []v3.Rule{{Action: v3.Deny}}})},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, ingress: ReasonProfile,
		},
		{
			name: "a policy with only egress rules governs egress",
			objs: []v3.Object{np("prod", "egress", v3.NetworkPolicySpec{Selector: "app == 'web'", Egress: []v3.Rule{{Action: v3.Deny}}})},
			flow: tcpFlow(web, client, 80), want: v3.Deny, egress: ReasonRule,
		},
		// Actions and ordering.
		{
			name: "a deny in a lower-order policy wins over an allow in a higher-order one",
			objs: []v3.Object{
				webIngress("allow", ptr(20.0), v3.Rule{Action: v3.Allow}),
				webIngress("deny", ptr(10.0), v3.Rule{Action: v3.Deny}),
			},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, ingress: ReasonRule,
		},
		{
			name: "a policy without order comes after numbered ones",
			objs: []v3.Object{
				webIngress("deny", nil, v3.Rule{Action: v3.Deny}),
				webIngress("allow", ptr(500.0), v3.Rule{Action: v3.Allow}),
			},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, ingress: ReasonRule,
		},
		{
			name: "equal orders are broken by name",
			objs: []v3.Object{
				webIngress("b-allow", ptr(100.0), v3.Rule{Action: v3.Allow}),
				webIngress("a-deny", ptr(100.0), v3.Rule{Action: v3.Deny}),
			},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, ingress: ReasonRule,
		},
		{
			name: "an earlier tier decides before the default tier",
			objs: []v3.Object{
				tier("security", ptr(100.0), v3.Deny),
				webIngressGlobal("block-client", "security", nil, v3.Rule{Action: v3.Deny, Source: v3.EntityRule{Selector: "app == 'client'"}}),
				webIngress("allow", nil, v3.Rule{Action: v3.Allow}),
			},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, ingress: ReasonRule,
		},
		{
			name: "pass skips the rest of the tier and goes on to the next",
			objs: []v3.Object{
				tier("security", ptr(100.0), v3.Deny),
				webIngressGlobal("pass", "security", ptr(1.0), v3.Rule{Action: v3.Pass}),
				webIngressGlobal("deny", "security", ptr(2.0), v3.Rule{Action: v3.Deny}),
				webIngress("allow", nil, v3.Rule{Action: v3.Allow}),
			},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, ingress: ReasonRule,
		},
		{
			name: "a tier that applies and matches nothing ends in deny",
			objs: []v3.Object{
				tier("security", ptr(100.0), v3.Deny),
				webIngressGlobal("only-nobody", "security", nil, allowFrom(v3.EntityRule{Selector: "app == 'nobody'"})),
			},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, ingress: ReasonEndOfTier,
		},
		{
			name: "a tier whose default action is pass goes on when nothing matches",
			objs: []v3.Object{
				tier("security", ptr(100.0), v3.Pass),
				webIngressGlobal("only-nobody", "security", nil, allowFrom(v3.EntityRule{Selector: "app == 'nobody'"})),
			},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, ingress: ReasonProfile,
		},
		{
			name: "a tier of only log rules ends in deny",
			objs: []v3.Object{
				tier("audit", ptr(50.0), v3.Deny),
				webIngressGlobal("log", "audit", nil, v3.Rule{Action: v3.Log}),
			},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, ingress: ReasonEndOfTier,
		},
		{
			name: "a log rule records and evaluation goes on",
			objs: []v3.Object{webIngress("log-then-allow", nil, v3.Rule{Action: v3.Log}, v3.Rule{Action: v3.Allow})},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, ingress: ReasonRule,
		},
		{
			name: "a tier without a Tier resource sorts after existing tiers",
			objs: []v3.Object{
				tier("late", ptr(5e6), v3.Deny),
				webIngressGlobal("allow-late", "late", nil, v3.Rule{Action: v3.Allow}),
				webIngressGlobal("deny-missing", "aaa-missing", nil, v3.Rule{Action: v3.Deny}),
			},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, ingress: ReasonRule,
		},
		{
			name: "a tier without order sorts after tiers with one",
			objs: []v3.Object{
				tier("aaa-unordered", nil, v3.Deny),
				tier("zzz-ordered", ptr(1e8), v3.Deny),
				webIngressGlobal("deny", "aaa-unordered", nil, v3.Rule{Action: v3.Deny}),
				webIngressGlobal("allow", "zzz-ordered", nil, v3.Rule{Action: v3.Allow}),
			},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, ingress: ReasonRule,
		},
		{
			name: "pass in every tier falls through to the profiles",
			objs: []v3.Object{webIngress("pass", nil, v3.Rule{Action: v3.Pass})},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, ingress: ReasonProfile,
		},
		{
			name: "pass falls through to default deny for a host endpoint without profiles",
			objs: []v3.Object{gnp("pass-nodes", v3.GlobalNetworkPolicySpec{Selector: "role == 'node'", Ingress: []v3.Rule{{Action: v3.Pass}}})},
			flow: tcpFlow(client, node1, 22), want: v3.Deny, ingress: ReasonDefaultDeny,
		},
		{
			name: "a host endpoint is allowed by a global policy",
			objs: []v3.Object{gnp("ssh", v3.GlobalNetworkPolicySpec{Selector: "role == 'node'",
				Ingress: []v3.Rule{allowTo(v3.EntityRule{Ports: ports(v3.SinglePort(22))})}})},
			flow: tcpFlow(client, node1, 22), want: v3.Allow, ingress: ReasonRule,
		},
		{
			name: "a NetworkPolicy never applies to host endpoints",
			objs: []v3.Object{np("prod", "all", v3.NetworkPolicySpec{Selector: "all()", Ingress: []v3.Rule{{Action: v3.Deny}}})},
			flow: tcpFlow(client, node2, 22), want: v3.Allow, ingress: ReasonProfile,
		},
		{
			name: "a deny rule in a profile decides before later profiles",
			objs: []v3.Object{
				&v3.Profile{ObjectMeta: meta("", "deny-in", nil), Spec: v3.ProfileSpec{Ingress: []v3.Rule{{Action: v3.Deny}}}},
				pod("prod", "web", "10.0.1.1", map[string]string{"app": "web"}, withProfiles("deny-in", "kns.prod")),
			},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, ingress: ReasonProfile,
		},
		{
			name: "pass in a profile goes on to the next profile",
			objs: []v3.Object{
				&v3.Profile{ObjectMeta: meta("", "pass-in", nil), Spec: v3.ProfileSpec{Ingress: []v3.Rule{{Action: v3.Pass}}}},
				pod("prod", "web", "10.0.1.1", map[string]string{"app": "web"}, withProfiles("pass-in", "kns.prod")),
			},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, ingress: ReasonProfile,
		},
		{
			name: "a profile that does not exist is skipped",
			objs: []v3.Object{pod("prod", "web", "10.0.1.1", map[string]string{"app": "web"}, withProfiles("nope", "kns.prod"))},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, ingress: ReasonProfile,
		},
		// Ports.
		{
			name: "destination ports match a listed port",
			objs: []v3.Object{webIngress("p", nil, allowTo(v3.EntityRule{Ports: ports(v3.SinglePort(8080))}))},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, ingress: ReasonRule,
		},
		{
			name: "destination ports reject other ports",
			objs: []v3.Object{webIngress("p", nil, allowTo(v3.EntityRule{Ports: ports(v3.SinglePort(80))}))},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, ingress: ReasonEndOfTier,
			mismatch: "destination.ports: 8080 not in [80]",
		},
		{
			name: "a port range matches ports inside it",
			objs: []v3.Object{webIngress("p", nil, allowTo(v3.EntityRule{Ports: ports(v3.PortRange(8000, 8100))}))},
			flow: tcpFlow(client, web, 8080), want: v3.Allow,
		},
		{
			name: "a named port resolves against the destination endpoint",
			objs: []v3.Object{webIngress("p", nil, allowTo(v3.EntityRule{Ports: ports(v3.NamedPort("http"))}))},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, ingress: ReasonRule,
		},
		{
			name: "a named port does not match another port number",
			objs: []v3.Object{webIngress("p", nil, allowTo(v3.EntityRule{Ports: ports(v3.NamedPort("http"))}))},
			flow: tcpFlow(client, web, 9090), want: v3.Deny, mismatch: "destination.ports: 9090 not in [http]",
		},
		{
			name: "a named port needs the protocol it was declared with",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, Destination: v3.EntityRule{Ports: ports(v3.NamedPort("http"))}})},
			flow: Flow{Src: client, Dst: web, Protocol: 17, DstPort: 8080}, want: v3.Deny,
		},
		{
			name: "a source named port resolves against the source endpoint",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, Protocol: proto("TCP"), Source: v3.EntityRule{Ports: ports(v3.NamedPort("pg"))}})},
			flow: Flow{Src: db, Dst: web, Protocol: 6, SrcPort: 5432, DstPort: 8080}, want: v3.Allow, ingress: ReasonRule,
		},
		{
			name: "notPorts exclude a listed port",
			objs: []v3.Object{webIngress("p", nil, allowTo(v3.EntityRule{NotPorts: ports(v3.SinglePort(8080))}))},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, mismatch: "destination.notPorts: 8080 is in [8080]",
		},
		{
			name: "notPorts let other ports through",
			objs: []v3.Object{webIngress("p", nil, allowTo(v3.EntityRule{NotPorts: ports(v3.SinglePort(9090))}))},
			flow: tcpFlow(client, web, 8080), want: v3.Allow,
		},
		{
			name: "ports never match a protocol without ports",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, Destination: v3.EntityRule{Ports: ports(v3.NamedPort("http"))}})},
			flow: Flow{Src: client, Dst: web, Protocol: 1, ICMP: &ICMP{Type: 8}}, want: v3.Deny,
			mismatch: "destination.ports: protocol 1 has no ports",
		},
		// Protocols, ICMP, IP version.
		{
			name: "the protocol must match",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, Protocol: proto("UDP")})},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, mismatch: "protocol: 6 is not 17",
		},
		{
			name: "a protocol given by number matches",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, Protocol: ptr(v3.ProtocolFromInt(6))})},
			flow: tcpFlow(client, web, 8080), want: v3.Allow,
		},
		{
			name: "notProtocol excludes the protocol",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, NotProtocol: proto("TCP")})},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, mismatch: "notProtocol: 6 is excluded",
		},
		{
			name: "notProtocol lets other protocols through",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, NotProtocol: proto("TCP")})},
			flow: Flow{Src: client, Dst: web, Protocol: 17, DstPort: 53}, want: v3.Allow,
		},
		{
			name: "icmp matches type and code",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, Protocol: proto("ICMP"), ICMP: &v3.ICMPFields{Type: ptr(8), Code: ptr(0)}})},
			flow: Flow{Src: client, Dst: web, Protocol: 1, ICMP: &ICMP{Type: 8, Code: 0}}, want: v3.Allow,
		},
		{
			name: "icmp rejects another type",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, Protocol: proto("ICMP"), ICMP: &v3.ICMPFields{Type: ptr(8), Code: ptr(0)}})},
			flow: Flow{Src: client, Dst: web, Protocol: 1, ICMP: &ICMP{Type: 0}}, want: v3.Deny,
			mismatch: "icmp: type 0 code 0 does not match type 8 code 0",
		},
		{
			name: "icmp with a type and no code matches any code",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, Protocol: proto("ICMP"), ICMP: &v3.ICMPFields{Type: ptr(3)}})},
			flow: Flow{Src: client, Dst: web, Protocol: 1, ICMP: &ICMP{Type: 3, Code: 13}}, want: v3.Allow,
		},
		{
			name: "notICMP excludes a type",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, Protocol: proto("ICMP"), NotICMP: &v3.ICMPFields{Type: ptr(8)}})},
			flow: Flow{Src: client, Dst: web, Protocol: 1, ICMP: &ICMP{Type: 8}}, want: v3.Deny,
			mismatch: "notICMP: type 8 code 0 is excluded by type 8",
		},
		{
			name: "notICMP lets other types through",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, Protocol: proto("ICMP"), NotICMP: &v3.ICMPFields{Type: ptr(8)}})},
			flow: Flow{Src: client, Dst: web, Protocol: 1, ICMP: &ICMP{Type: 0}}, want: v3.Allow,
		},
		{
			name: "ipVersion excludes flows of the other version",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, IPVersion: ptr(6)})},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, mismatch: "ipVersion: flow is IPv4, rule wants IPv6",
		},
		{
			name: "ipVersion matches flows of its version",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, IPVersion: ptr(4)})},
			flow: tcpFlow(client, web, 8080), want: v3.Allow,
		},
		// Nets.
		{
			name: "nets match the source address",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{Nets: []string{"10.0.2.0/24"}}))},
			flow: tcpFlow(client, web, 8080), want: v3.Allow,
		},
		{
			name: "nets reject other source addresses",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{Nets: []string{"10.9.0.0/16"}}))},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, mismatch: "source.nets: 10.0.2.1 not in [10.9.0.0/16]",
		},
		{
			name: "notNets exclude the source address",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{NotNets: []string{"10.0.2.0/24"}}))},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, mismatch: "source.notNets: 10.0.2.1 is in [10.0.2.0/24]",
		},
		{
			name: "destination nets match the destination address",
			objs: []v3.Object{np("dev", "out", v3.NetworkPolicySpec{Selector: "all()", Types: egressOnly,
				Egress: []v3.Rule{{Action: v3.Allow, Destination: v3.EntityRule{Nets: []string{"10.0.1.0/24"}}}}})},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, egress: ReasonRule,
		},
		// Selectors and namespaces.
		{
			name: "a rule selector without namespaceSelector is limited to the policy's namespace",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{Selector: "app == 'client'"}))},
			flow: tcpFlow(client, web, 8080), want: v3.Deny,
			mismatch: `source.selector: (projectcalico.org/namespace == "prod" && app == "client") matches none of [WorkloadEndpoint(dev/client)]`,
		},
		{
			name: "a rule selector matches endpoints of the policy's namespace",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{Selector: "app == 'db'"}))},
			flow: tcpFlow(db, web, 8080), want: v3.Allow,
		},
		{
			name: "a namespaceSelector picks namespaces by their labels",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{NamespaceSelector: "env == 'dev'"}))},
			flow: tcpFlow(client, web, 8080), want: v3.Allow,
		},
		{
			name: "a namespaceSelector and selector together need both",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{NamespaceSelector: "env == 'dev'", Selector: "app == 'web'"}))},
			flow: tcpFlow(client, web, 8080), want: v3.Deny,
		},
		{
			name: "an endpoint's own pcns labels do not make it part of another namespace",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{NamespaceSelector: "env == 'dev'"}))},
			flow: tcpFlow(sneaky, web, 8080), want: v3.Deny,
		},
		{
			name: "namespaceSelector all() matches namespaced endpoints",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{NamespaceSelector: "all()"}))},
			flow: tcpFlow(client, web, 8080), want: v3.Allow,
		},
		{
			name: "namespaceSelector all() does not match host endpoints",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{NamespaceSelector: "all()"}))},
			flow: tcpFlow(node2, web, 8080), want: v3.Deny,
		},
		{
			name: "namespaceSelector global() matches host endpoints",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{NamespaceSelector: "global()"}))},
			flow: tcpFlow(node2, web, 8080), want: v3.Allow,
		},
		{
			name: "namespaceSelector global() does not match namespaced endpoints",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{NamespaceSelector: "global()"}))},
			flow: tcpFlow(client, web, 8080), want: v3.Deny,
		},
		{
			name: "namespaceSelector global() with a selector matches a global network set",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{NamespaceSelector: "global()", Selector: "role == 'external'"}))},
			flow: tcpFlow(ipPeer("203.0.113.5"), web, 8080), want: v3.Allow,
		},
		{
			name: "a global policy's rule selector sees every namespace",
			objs: []v3.Object{webIngressGlobal("p", "", nil, allowFrom(v3.EntityRule{Selector: "app == 'client'"}))},
			flow: tcpFlow(client, web, 8080), want: v3.Allow,
		},
		{
			name: "a network set in the policy's namespace is matched by selector on a bare address",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{Selector: "role == 'partner'"}))},
			flow: tcpFlow(ipPeer("198.51.100.7"), web, 8080), want: v3.Allow,
		},
		{
			name: "an address outside every network set matches no selector",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{Selector: "role == 'partner'"}))},
			flow: tcpFlow(ipPeer("198.51.101.7"), web, 8080), want: v3.Deny,
			mismatch: "matches none of [] (no endpoint or network set has 198.51.101.7)",
		},
		{
			name: "a network set inherits its namespace's labels",
			objs: []v3.Object{webIngressGlobal("p", "", nil, allowFrom(v3.EntityRule{NamespaceSelector: "team == 'a'", Selector: "role == 'partner'"}))},
			flow: tcpFlow(ipPeer("198.51.100.7"), web, 8080), want: v3.Allow,
		},
		{
			name: "notSelector matches a bare address no selected network set holds",
			objs: []v3.Object{webIngressGlobal("p", "", nil, allowFrom(v3.EntityRule{NotSelector: "role == 'external'"}))},
			flow: tcpFlow(ipPeer("8.8.8.8"), web, 8080), want: v3.Allow,
		},
		{
			name: "notSelector rejects a bare address a selected network set holds",
			objs: []v3.Object{webIngressGlobal("p", "", nil, allowFrom(v3.EntityRule{NotSelector: "role == 'external'"}))},
			flow: tcpFlow(ipPeer("203.0.113.9"), web, 8080), want: v3.Deny,
			mismatch: `source.notSelector: role == "external" matches one of [GlobalNetworkSet(external)]`,
		},
		{
			name: "notSelector in a namespaced policy still needs the policy's namespace",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{NotSelector: "app == 'db'"}))},
			flow: tcpFlow(client, web, 8080), want: v3.Deny,
		},
		{
			name: "notSelector in a namespaced policy admits other endpoints of the namespace",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{NotSelector: "app == 'client'"}))},
			flow: tcpFlow(db, web, 8080), want: v3.Allow,
		},
		{
			name: "notSelector rejects a selected endpoint",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{NotSelector: "app == 'db'"}))},
			flow: tcpFlow(db, web, 8080), want: v3.Deny,
		},
		{
			name: "serviceAccounts names match the source's service account",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{ServiceAccounts: &v3.ServiceAccountMatch{Names: []string{"db-sa"}}}))},
			flow: tcpFlow(db, web, 8080), want: v3.Allow,
		},
		{
			name: "serviceAccounts names reject other service accounts",
			objs: []v3.Object{webIngressGlobal("p", "", nil, allowFrom(v3.EntityRule{ServiceAccounts: &v3.ServiceAccountMatch{Names: []string{"db-sa"}}}))},
			flow: tcpFlow(client, web, 8080), want: v3.Deny,
		},
		{
			name: "serviceAccounts selector matches service account labels",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{ServiceAccounts: &v3.ServiceAccountMatch{Selector: "role == 'database'"}}))},
			flow: tcpFlow(db, web, 8080), want: v3.Allow,
		},
		{
			name: "serviceAccounts selector rejects endpoints without the labels",
			objs: []v3.Object{webIngress("p", nil, allowFrom(v3.EntityRule{ServiceAccounts: &v3.ServiceAccountMatch{Selector: "role == 'database'"}}))},
			flow: tcpFlow(sneaky, web, 8080), want: v3.Deny,
		},
		// What a policy applies to.
		{
			name: "a global policy's namespaceSelector limits the endpoints it applies to",
			objs: []v3.Object{gnp("prod-only", v3.GlobalNetworkPolicySpec{NamespaceSelector: "env == 'prod'", Types: ingressOnly})},
			flow: tcpFlow(web, client, 80), want: v3.Allow, ingress: ReasonProfile,
		},
		{
			name: "a global policy's namespaceSelector selects endpoints of matching namespaces",
			objs: []v3.Object{gnp("prod-only", v3.GlobalNetworkPolicySpec{NamespaceSelector: "env == 'prod'", Types: ingressOnly})},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, ingress: ReasonEndOfTier,
		},
		{
			name: "a global policy's namespaceSelector all() leaves host endpoints out",
			objs: []v3.Object{gnp("namespaced", v3.GlobalNetworkPolicySpec{Selector: "all()", NamespaceSelector: "all()", Types: ingressOnly})},
			flow: tcpFlow(client, node2, 22), want: v3.Allow, ingress: ReasonProfile,
		},
		{
			name: "a global policy without namespaceSelector applies to host endpoints",
			objs: []v3.Object{gnp("everything", v3.GlobalNetworkPolicySpec{Selector: "all()", Types: ingressOnly})},
			flow: tcpFlow(client, node2, 22), want: v3.Deny, ingress: ReasonEndOfTier,
		},
		{
			name: "a serviceAccountSelector limits a policy to matching service accounts",
			objs: []v3.Object{np("prod", "db-only", v3.NetworkPolicySpec{ServiceAccountSelector: "role == 'database'", Types: ingressOnly})},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, ingress: ReasonProfile,
		},
		{
			name: "a serviceAccountSelector selects endpoints of matching service accounts",
			objs: []v3.Object{np("prod", "db-only", v3.NetworkPolicySpec{ServiceAccountSelector: "role == 'database'", Types: ingressOnly})},
			flow: tcpFlow(client, db, 5432), want: v3.Deny, ingress: ReasonEndOfTier,
		},
		{
			name: "an endpoint's own labels override labels inherited from a profile",
			objs: []v3.Object{
				&v3.Profile{ObjectMeta: meta("", "labeller", nil), Spec: v3.ProfileSpec{LabelsToApply: map[string]string{"app": "inherited", "extra": "yes"}}},
				pod("prod", "web", "10.0.1.1", map[string]string{"app": "web"}, withProfiles("labeller", "kns.prod")),
				np("prod", "inherited", v3.NetworkPolicySpec{Order: ptr(1.0), Selector: "app == 'inherited'", Ingress: []v3.Rule{{Action: v3.Deny}}}),
				np("prod", "extra", v3.NetworkPolicySpec{Selector: "extra == 'yes'", Ingress: []v3.Rule{{Action: v3.Allow}}}),
			},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, ingress: ReasonRule,
		},
		// HTTP.
		{
			name: "http methods and path prefixes match an HTTP request",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, HTTP: &v3.HTTPMatch{Methods: []string{"GET"}, Paths: []v3.HTTPPath{{Prefix: "/api"}}}})},
			flow: Flow{Src: client, Dst: web, Protocol: 6, DstPort: 8080, HTTP: &HTTPRequest{Method: "GET", Path: "/api/v1?x=1"}},
			want: v3.Allow,
		},
		{
			name: "http methods reject other methods",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, HTTP: &v3.HTTPMatch{Methods: []string{"GET"}}})},
			flow: Flow{Src: client, Dst: web, Protocol: 6, DstPort: 8080, HTTP: &HTTPRequest{Method: "POST", Path: "/"}},
			want: v3.Deny, mismatch: "http.methods: POST not in [GET]",
		},
		{
			name: "an exact http path ignores the query string",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, HTTP: &v3.HTTPMatch{Paths: []v3.HTTPPath{{Exact: "/health"}}}})},
			flow: Flow{Src: client, Dst: web, Protocol: 6, DstPort: 8080, HTTP: &HTTPRequest{Method: "GET", Path: "/health?full=1"}},
			want: v3.Allow,
		},
		{
			name: "http paths reject other paths",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, HTTP: &v3.HTTPMatch{Paths: []v3.HTTPPath{{Exact: "/health"}, {Prefix: "/api"}}}})},
			flow: Flow{Src: client, Dst: web, Protocol: 6, DstPort: 8080, HTTP: &HTTPRequest{Method: "GET", Path: "/admin"}},
			want: v3.Deny, mismatch: "http.paths: /admin matches none of [exact /health, prefix /api]",
		},
		{
			name: "an http rule does not match a flow without an HTTP request",
			objs: []v3.Object{webIngress("p", nil, v3.Rule{Action: v3.Allow, HTTP: &v3.HTTPMatch{Methods: []string{"GET"}}})},
			flow: tcpFlow(client, web, 8080), want: v3.Deny,
			mismatch: "http: the flow carries no HTTP request",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, append(baseWorld(), tt.objs...)...)
			plain, err := e.Evaluate(tt.flow)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.EvaluateWithTrace(tt.flow)
			if err != nil {
				t.Fatal(err)
			}
			if got.Verdict != tt.want {
				t.Errorf("verdict %s, want %s\n%s", got.Verdict, tt.want, got.Trace)
			}
			if tt.egress != "" && got.Egress.Reason != tt.egress {
				t.Errorf("egress reason %s, want %s\n%s", got.Egress.Reason, tt.egress, got.Trace)
			}
			if tt.ingress != "" && got.Ingress.Reason != tt.ingress {
				t.Errorf("ingress reason %s, want %s\n%s", got.Ingress.Reason, tt.ingress, got.Trace)
			}
			if tt.mismatch != "" && !slices.ContainsFunc(ruleTraces(got.Trace), func(r RuleTrace) bool {
				return strings.Contains(r.Mismatch, tt.mismatch)
			}) {
				t.Errorf("no rule mismatch mentions %q\n%s", tt.mismatch, got.Trace)
			}
			// The trace must not change the verdict.
			got.Trace = Trace{}
			if diff := cmp.Diff(plain, got); diff != "" {
				t.Errorf("Evaluate and EvaluateWithTrace differ (-plain +traced):\n%s", diff)
			}
			checkInvariants(t, e)
		})
	}
}

func ruleTraces(tr Trace) []RuleTrace {
	var out []RuleTrace
	for _, dt := range []*DirectionTrace{tr.Egress, tr.Ingress} {
		if dt == nil {
			continue
		}
		for _, tt := range dt.Tiers {
			for _, pt := range tt.Policies {
				out = append(out, pt.Rules...)
			}
		}
		for _, pt := range dt.Profiles {
			out = append(out, pt.Rules...)
		}
	}
	return out
}

func TestEvaluateLogRecordsRules(t *testing.T) {
	e := newEngine(t, append(baseWorld(),
		tier("audit", ptr(50.0), v3.Pass),
		webIngressGlobal("audit-log", "audit", nil, v3.Rule{Action: v3.Log}),
		webIngress("log-then-allow", nil, v3.Rule{Action: v3.Log}, v3.Rule{Action: v3.Allow}),
	)...)
	got, err := e.Evaluate(tcpFlow(client, web, 8080))
	if err != nil {
		t.Fatal(err)
	}
	want := []RuleRef{{Policy: gnpKey("audit-log"), Index: 0}, {Policy: npKey("prod", "log-then-allow"), Index: 0}}
	if diff := cmp.Diff(want, got.Ingress.Logged); diff != "" {
		t.Errorf("logged rules (-want +got):\n%s", diff)
	}
	if got.Ingress.Policy != npKey("prod", "log-then-allow") || got.Ingress.Rule != 1 {
		t.Errorf("decided by %s rule %d, want the allow rule 1", got.Ingress.Policy, got.Ingress.Rule)
	}
}

func TestEvaluateErrors(t *testing.T) {
	e := newEngine(t, baseWorld()...)
	tests := []struct {
		name string
		flow Flow
		want error
	}{
		{"an unknown endpoint is an error", tcpFlow(Peer{Endpoint: wepKey("prod", "ghost")}, web, 80), ErrUnknownEndpoint},
		{"a network set is not an endpoint", tcpFlow(Peer{Endpoint: v3.Key{Kind: v3.KindGlobalNetworkSet, Name: "external"}}, web, 80), ErrUnknownEndpoint},
		{"a peer with neither endpoint nor address is an error", tcpFlow(Peer{}, web, 80), ErrNoPeer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.Evaluate(tt.flow); !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestEvaluateDoesNotAllocate(t *testing.T) {
	e := newEngine(t, append(baseWorld(),
		tier("security", ptr(100.0), v3.Pass),
		webIngressGlobal("sec", "security", nil, v3.Rule{Action: v3.Deny, Source: v3.EntityRule{Selector: "app == 'evil'"}}),
		webIngress("allow", ptr(10.0), allowTo(v3.EntityRule{Ports: ports(v3.NamedPort("http"))}),
			allowFrom(v3.EntityRule{NamespaceSelector: "env == 'dev'", Nets: []string{"10.0.0.0/8"}})),
	)...)
	flows := []Flow{
		tcpFlow(client, web, 8080),
		tcpFlow(client, web, 9999),
		tcpFlow(ipPeer("198.51.100.1"), web, 9999),
	}
	for _, f := range flows {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := e.Evaluate(f); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Evaluate(%v) allocates %.1f times per run, want 0", f, allocs)
		}
	}
}
