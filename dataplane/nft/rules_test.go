package nft

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
)

var polKey = v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "x", Name: "p"}

// renderRules renders one endpoint whose single policy x/p has the given
// ingress rules, and returns the model.
func renderRules(t *testing.T, cfg Config, in *Input, rules ...engine.Rule) *Model {
	t.Helper()
	for i := range rules {
		rules[i].Index = i
	}
	pol := &engine.Policy{Key: polKey, Tier: "default", Ingress: true, IngressRules: rules}
	if in == nil {
		in = &Input{}
	}
	key := v3.Key{Kind: v3.KindWorkloadEndpoint, Namespace: "x", Name: "a"}
	in.Endpoints = map[v3.Key]Endpoint{key: {
		Key: key, Interface: "cali-a", Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")},
		Ports:  []NamedPort{{Name: "http", Protocol: protoTCP, Port: 8080}},
		Policy: &engine.EndpointPolicy{Endpoint: key, Ingress: []engine.TierPolicies{{Tier: "default", DefaultAction: v3.Deny, Policies: []engine.PolicyRef{{Key: polKey, Policy: pol}}}}},
	}}
	m, err := Render(cfg, in)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func chainLines(t *testing.T, m *Model, name string) []string {
	t.Helper()
	lines, ok := m.ChainText(name)
	if !ok {
		t.Fatalf("no chain %s in\n%s", name, m)
	}
	return lines
}

func setText(t *testing.T, m *Model, name string) string {
	t.Helper()
	s, ok := m.sets[name]
	if !ok {
		t.Fatalf("no set %s in\n%s", name, m)
	}
	var parts []string
	for _, e := range s.sortedElems() {
		parts = append(parts, s.formatElem(e))
	}
	return s.kind.typeName() + " { " + strings.Join(parts, ", ") + " }"
}

func TestRuleRendering(t *testing.T) {
	const (
		allow = "counter meta mark set meta mark | 0x10000 return"
		c0    = ` comment "policy x/p ingress rule 0 Allow"`
	)
	sel := func(s string) engine.Entity { return engine.Entity{Selector: s, SelectorSet: "s:" + s} }
	tests := []struct {
		name string
		cfg  Config
		rule engine.Rule
		want []string
	}{
		{"an allow rule without matches sets the accept mark and returns",
			Config{}, engine.Rule{Action: v3.Allow}, []string{allow + c0}},
		{"a deny rule drops",
			Config{}, engine.Rule{Action: v3.Deny}, []string{`counter drop comment "policy x/p ingress rule 0 Deny"`}},
		{"a pass rule sets the pass mark and returns",
			Config{}, engine.Rule{Action: v3.Pass}, []string{`counter meta mark set meta mark | 0x20000 return comment "policy x/p ingress rule 0 Pass"`}},
		{"a log rule logs to the nflog group with a prefix naming direction, tier, policy and rule, and goes on",
			Config{LogGroup: 5}, engine.Rule{Action: v3.Log},
			[]string{`counter log prefix "calico-packet: I default x/p r0" group 5 comment "policy x/p ingress rule 0 Log"`}},
		{"a log rule without an nflog group logs to the kernel log",
			Config{LogPrefix: "tabby"}, engine.Rule{Action: v3.Log},
			[]string{`counter log prefix "tabby: I default x/p r0" level info comment "policy x/p ingress rule 0 Log"`}},
		{"a deny rule under LogAndDrop logs before dropping",
			Config{DropActionOverride: ActionLogAndDrop, LogGroup: 1}, engine.Rule{Action: v3.Deny},
			[]string{`counter log prefix "calico-packet: I default x/p r0" group 1 drop comment "policy x/p ingress rule 0 Deny"`}},
		{"a deny rule under Accept accepts",
			Config{DropActionOverride: ActionAccept}, engine.Rule{Action: v3.Deny},
			[]string{`counter accept comment "policy x/p ingress rule 0 Deny"`}},
		{"a protocol by name matches the layer 4 protocol",
			Config{}, engine.Rule{Action: v3.Allow, Protocol: protoSCTP}, []string{"meta l4proto sctp " + allow + c0}},
		{"UDPLite is protocol 136",
			Config{}, engine.Rule{Action: v3.Allow, Protocol: protoUDPLite}, []string{"meta l4proto udplite " + allow + c0}},
		{"a protocol by number matches that number",
			Config{}, engine.Rule{Action: v3.Allow, Protocol: 47}, []string{"meta l4proto 47 " + allow + c0}},
		{"notProtocol excludes a protocol",
			Config{}, engine.Rule{Action: v3.Allow, NotProtocol: protoUDP}, []string{"meta l4proto != udp " + allow + c0}},
		{"an ICMP type matches IPv4 ICMP only",
			Config{}, engine.Rule{Action: v3.Allow, Protocol: protoICMP, ICMP: &engine.ICMPMatch{Type: 8, Code: -1}},
			[]string{"meta nfproto ipv4 meta l4proto icmp icmp type 8 " + allow + c0}},
		{"an ICMP type and code match both",
			Config{}, engine.Rule{Action: v3.Allow, Protocol: protoICMP, ICMP: &engine.ICMPMatch{Type: 3, Code: 1}},
			[]string{"meta nfproto ipv4 meta l4proto icmp icmp type . icmp code 3 . 1 " + allow + c0}},
		{"an ICMPv6 type matches IPv6 only",
			Config{}, engine.Rule{Action: v3.Allow, Protocol: protoICMPv6, ICMP: &engine.ICMPMatch{Type: 128, Code: -1}},
			[]string{"meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type 128 " + allow + c0}},
		{"notICMP excludes a type and code pair",
			Config{}, engine.Rule{Action: v3.Allow, Protocol: protoICMP, NotICMP: &engine.ICMPMatch{Type: 3, Code: 4}},
			[]string{"meta nfproto ipv4 meta l4proto icmp icmp type . icmp code != 3 . 4 " + allow + c0}},
		{"ipVersion restricts the rule to one family",
			Config{}, engine.Rule{Action: v3.Allow, IPVersion: 6, Protocol: protoTCP},
			[]string{"meta nfproto ipv6 meta l4proto tcp " + allow + c0}},
		{"a single net is matched inline, in its family only",
			Config{}, engine.Rule{Action: v3.Allow, Source: engine.Entity{Nets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}},
			[]string{"meta nfproto ipv4 ip saddr 10.0.0.0/8 " + allow + c0}},
		{"nets of both families give a rule per family",
			Config{}, engine.Rule{Action: v3.Allow, Destination: engine.Entity{Nets: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/32"), netip.MustParsePrefix("fd00::/64")}}},
			[]string{"meta nfproto ipv4 ip daddr 10.1.2.3 " + allow + c0, "meta nfproto ipv6 ip6 daddr fd00::/64 " + allow + c0}},
		{"several nets are matched through a set named after them",
			Config{}, engine.Rule{Action: v3.Allow, Source: engine.Entity{Nets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.0/16")}}},
			[]string{"meta nfproto ipv4 ip saddr @n4-eeb369e102e9bd5c " + allow + c0}},
		{"notNets of one family leave the other family unconstrained",
			Config{}, engine.Rule{Action: v3.Allow, Source: engine.Entity{NotNets: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}},
			[]string{"meta nfproto ipv4 ip saddr != 10.1.0.0/16 " + allow + c0, "meta nfproto ipv6 " + allow + c0}},
		{"a selector is a lookup in its set, one per family",
			Config{}, engine.Rule{Action: v3.Allow, Source: sel("role")},
			[]string{"meta nfproto ipv4 ip saddr @s4-role " + allow + c0, "meta nfproto ipv6 ip6 saddr @s6-role " + allow + c0}},
		{"a notSelector is a negated lookup",
			Config{}, engine.Rule{Action: v3.Allow, Source: engine.Entity{NotSelector: "bad", NotSelectorSet: "s:bad"}},
			[]string{"meta nfproto ipv4 ip saddr != @s4-bad " + allow + c0, "meta nfproto ipv6 ip6 saddr != @s6-bad " + allow + c0}},
		{"a single port is matched inline",
			Config{}, engine.Rule{Action: v3.Allow, Protocol: protoTCP, Destination: engine.Entity{Ports: []engine.PortRange{{Min: 80, Max: 80}}}},
			[]string{"meta l4proto tcp th dport 80 " + allow + c0}},
		{"a port range is matched inline",
			Config{}, engine.Rule{Action: v3.Allow, Protocol: protoUDP, Source: engine.Entity{Ports: []engine.PortRange{{Min: 1000, Max: 2000}}}},
			[]string{"meta l4proto udp th sport 1000-2000 " + allow + c0}},
		{"several ports are matched through an interval set named after them",
			Config{}, engine.Rule{Action: v3.Allow, Protocol: protoTCP, Destination: engine.Entity{Ports: []engine.PortRange{{Min: 80, Max: 80}, {Min: 8000, Max: 8100}}}},
			[]string{"meta l4proto tcp th dport @p-" + elemsHash(portElems([]engine.PortRange{{Min: 80, Max: 80}, {Min: 8000, Max: 8100}})) + " " + allow + c0}},
		{"notPorts exclude ports",
			Config{}, engine.Rule{Action: v3.Allow, Protocol: protoTCP, Destination: engine.Entity{NotPorts: []engine.PortRange{{Min: 22, Max: 22}}}},
			[]string{"meta l4proto tcp th dport != 22 " + allow + c0}},
		{"named ports without a protocol match address, protocol and port, in protocols that have ports",
			Config{}, engine.Rule{Action: v3.Allow, Destination: engine.Entity{NamedPorts: []string{"http"}}},
			[]string{
				"meta nfproto ipv4 meta l4proto @port-protos ip daddr . meta l4proto . th dport @np4-" + shortHash("|http") + " " + allow + c0,
				"meta nfproto ipv6 meta l4proto @port-protos ip6 daddr . meta l4proto . th dport @np6-" + shortHash("|http") + " " + allow + c0,
			}},
		{"numeric and named ports are alternatives, each its own rule",
			Config{}, engine.Rule{Action: v3.Allow, Protocol: protoTCP, Destination: engine.Entity{Ports: []engine.PortRange{{Min: 81, Max: 81}}, NamedPorts: []string{"http"}}},
			[]string{
				"meta l4proto tcp th dport 81 " + allow + c0,
				"meta nfproto ipv4 meta l4proto tcp ip daddr . meta l4proto . th dport @np4-" + shortHash("|http") + " " + allow + c0,
				"meta nfproto ipv6 meta l4proto tcp ip6 daddr . meta l4proto . th dport @np6-" + shortHash("|http") + " " + allow + c0,
			}},
		{"an HTTP rule never matches an L3/L4 packet, so it renders nothing",
			Config{}, engine.Rule{Action: v3.Allow, HTTP: &v3.HTTPMatch{Methods: []string{"GET"}}}, nil},
		{"ports with a protocol that has none render nothing",
			Config{}, engine.Rule{Action: v3.Allow, Protocol: protoICMP, Destination: engine.Entity{Ports: []engine.PortRange{{Min: 1, Max: 1}}}}, nil},
		{"nets of one family with ipVersion of the other render nothing",
			Config{}, engine.Rule{Action: v3.Allow, IPVersion: 6, Source: engine.Entity{Nets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := renderRules(t, tt.cfg, nil, tt.rule)
			got := chainLines(t, m, "pi-x/p")
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("pi-x/p (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRuleSets(t *testing.T) {
	members := func(key v3.Key, nets ...string) engine.SetMember {
		m := engine.SetMember{Key: key}
		for _, n := range nets {
			m.Nets = append(m.Nets, netip.MustParsePrefix(n))
		}
		return m
	}
	wep := func(name string) v3.Key { return v3.Key{Kind: v3.KindWorkloadEndpoint, Namespace: "y", Name: name} }
	gns := v3.Key{Kind: v3.KindGlobalNetworkSet, Name: "corp"}
	in := &Input{
		Sets: map[string][]engine.SetMember{
			"s:web": {
				members(wep("b"), "10.0.1.2/32", "fd00::2/128"),
				members(wep("c"), "10.0.1.3/32"),
				members(gns, "10.0.1.0/25", "192.168.0.0/24", "192.168.1.0/24"),
			},
		},
		RemotePorts: map[v3.Key]EndpointPorts{
			wep("b"): {Addrs: []netip.Addr{netip.MustParseAddr("10.0.1.2"), netip.MustParseAddr("fd00::2")}, Ports: []NamedPort{{Name: "http", Protocol: protoTCP, Port: 80}}},
			wep("c"): {Addrs: []netip.Addr{netip.MustParseAddr("10.0.1.3")}, Ports: []NamedPort{{Name: "http", Protocol: protoTCP, Port: 8080}, {Name: "dns", Protocol: protoUDP, Port: 53}}},
			wep("d"): {Addrs: []netip.Addr{netip.MustParseAddr("10.0.1.4")}, Ports: []NamedPort{{Name: "http", Protocol: protoTCP, Port: 81}}},
		},
	}
	web := engine.Entity{Selector: "web", SelectorSet: "s:web"}
	webHTTP := web
	webHTTP.NamedPorts = []string{"http"}
	m := renderRules(t, Config{}, in,
		engine.Rule{Action: v3.Allow, Source: web},
		engine.Rule{Action: v3.Deny, Destination: web},
		engine.Rule{Action: v3.Allow, Destination: webHTTP},
		engine.Rule{Action: v3.Allow, Destination: engine.Entity{NamedPorts: []string{"http", "dns"}}},
	)
	npWeb := "np4-" + shortHash("s:web|http")
	npAll := "np4-" + shortHash("|dns,http")
	tests := []struct {
		name, set, want string
	}{
		{"a selector's IPv4 set holds its members' addresses and networks, merged into disjoint intervals",
			"s4-web", "ipv4_addr { 10.0.1.0/25, 192.168.0.0/23 }"},
		{"a selector's IPv6 set holds its members' IPv6 addresses",
			"s6-web", "ipv6_addr { fd00::2 }"},
		{"a named port of a selector's members resolves per member",
			npWeb, "ipv4_addr . inet_proto . inet_service { 10.0.1.2 . tcp . 80, 10.0.1.3 . tcp . 8080 }"},
		{"a named port without a selector resolves against every endpoint declaring it, local ones included",
			npAll, "ipv4_addr . inet_proto . inet_service { 10.0.0.1 . tcp . 8080, 10.0.1.2 . tcp . 80, 10.0.1.3 . tcp . 8080, 10.0.1.3 . udp . 53, 10.0.1.4 . tcp . 81 }"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := setText(t, m, tt.set); got != tt.want {
				t.Errorf("set %s = %s, want %s", tt.set, got, tt.want)
			}
		})
	}
	t.Run("rules using the same selector share its sets", func(t *testing.T) {
		lines := chainLines(t, m, "pi-x/p")
		for _, want := range []string{"ip saddr @s4-web", "ip daddr @s4-web", "ip6 saddr @s6-web", "ip6 daddr @s6-web"} {
			if !hasLine(lines, want) {
				t.Errorf("no rule matches %q in\n%s", want, strings.Join(lines, "\n"))
			}
		}
		var selectorSets []string
		for name := range m.sets {
			if strings.HasPrefix(name, "s4-") || strings.HasPrefix(name, "s6-") {
				selectorSets = append(selectorSets, name)
			}
		}
		if len(selectorSets) != 2 {
			t.Errorf("selector sets %v, want s4-web and s6-web only", selectorSets)
		}
	})
}

func TestLogPrefixes(t *testing.T) {
	long := strings.Repeat("a", 120)
	tests := []struct {
		name   string
		policy v3.Key
		want   string
	}{
		{"a namespaced policy is named namespace/name", polKey, "calico-packet: I default x/p r0"},
		{"a global policy is named by its name", v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: "g"}, "calico-packet: I default g r0"},
		{"a policy name that would make the prefix too long is hashed",
			v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: long}, "calico-packet: I default _" + shortHash(long) + " r0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRenderer(mustSettings(t, Config{}), nil)
			got := r.logPrefix(RuleRef{Kind: RefRule, Direction: engine.Ingress, Tier: "default", Policy: tt.policy, Index: 0, Action: v3.Log})
			if got != tt.want {
				t.Errorf("prefix %q, want %q", got, tt.want)
			}
			ref, ok := r.m.LogRef(got)
			if !ok || ref.Policy != tt.policy || ref.Index != 0 {
				t.Errorf("LogRef(%q) = %+v, %v; want policy %s rule 0", got, ref, ok, tt.policy)
			}
		})
	}
}

func mustSettings(t *testing.T, c Config) *settings {
	t.Helper()
	s, err := c.settings()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"an unknown drop action is refused", Config{DropActionOverride: "Reject"}, "DropActionOverride"},
		{"an unknown endpoint-to-host action is refused", Config{EndpointToHostAction: "Log"}, "EndpointToHostAction"},
		{"a mark of several bits is refused", Config{MarkAccept: 0x3}, "MarkAccept"},
		{"equal accept and pass marks are refused", Config{MarkAccept: 0x100, MarkPass: 0x100}, "MarkPass"},
		{"a failsafe port of an unknown protocol is refused", Config{FailsafeInbound: []v3.ProtoPort{{Protocol: "ICMP", Port: 1}}}, "FailsafeInbound[0].protocol"},
		{"a failsafe net that does not parse is refused", Config{FailsafeOutbound: []v3.ProtoPort{{Port: 1, Net: "10.0.0.0/33"}}}, "FailsafeOutbound[0].net"},
		{"a table name with a space is refused", Config{Table: "my table"}, "Table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(tt.cfg, &Input{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error %v does not wrap ErrConfig", err)
			}
		})
	}
}
