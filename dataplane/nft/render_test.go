package nft

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// Lines that recur in endpoint chains.
const (
	lInvalid  = `ct state invalid counter drop comment "drop invalid conntrack state"`
	lClear    = `meta mark set meta mark & 0xfffcffff comment "clear accept and pass marks"`
	lDefault  = `counter drop comment "no policy or profile allowed"`
	lAccepted = `meta mark & 0x10000 != 0 return comment "policy %s accepted"`
)

func jumpFirst(tier, pol, dir string) string {
	return fmt.Sprintf(`counter jump p%s-%s comment "tier %s: policy %s"`, dir, pol, tier, pol)
}

func jumpNext(tier, pol, dir string) string {
	return fmt.Sprintf(`meta mark & 0x20000 == 0 counter jump p%s-%s comment "tier %s: policy %s"`, dir, pol, tier, pol)
}

func accepted(pol string) string { return fmt.Sprintf(lAccepted, pol) }

func endOfTier(tier string) string {
	return fmt.Sprintf(`meta mark & 0x20000 == 0 counter drop comment "end of tier %s: no policy passed"`, tier)
}

func startOfTier(tier string) string {
	return fmt.Sprintf(`meta mark set meta mark & 0xfffdffff comment "start of tier %s"`, tier)
}

func profileLines(dir, name string) []string {
	return []string{
		fmt.Sprintf(`counter jump pr%s-%s comment "profile %s"`, dir, name, name),
		fmt.Sprintf(`meta mark & 0x10000 != 0 return comment "profile %s accepted"`, name),
	}
}

func lines(parts ...any) []string {
	var out []string
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			out = append(out, p)
		case []string:
			out = append(out, p...)
		}
	}
	return out
}

var allowTCP80 = []v3.Rule{{Action: v3.Allow, Protocol: proto("TCP"), Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(80)}}}}

func TestEndpointChains(t *testing.T) {
	a := pod("x", "a", "cali-a", []string{"10.0.0.1/32"}, map[string]string{"app": "a"})
	b := pod("x", "b", "cali-b", []string{"10.0.0.2/32"}, map[string]string{"app": "b"})
	base := []v3.Object{nsProfile("x"), a, b}
	tests := []struct {
		name  string
		cfg   Config
		objs  []v3.Object
		chain string
		want  []string
	}{
		{
			name: "a workload no policy selects goes to its namespace profile, then the default drop",
			objs: base, chain: "tw-cali-a",
			want: lines(lInvalid, lClear, profileLines("i", "kns.x"), lDefault),
		},
		{
			name: "policies of a tier are jumped to in order, each returning when it accepted, and the tier ends in a drop",
			objs: append(base,
				np("x", "second", "app == 'a'", allowTCP80, nil, func(s *v3.NetworkPolicySpec) { s.Order = ptr(2.0) }),
				np("x", "first", "app == 'a'", allowTCP80, nil, func(s *v3.NetworkPolicySpec) { s.Order = ptr(1.0) })),
			chain: "tw-cali-a",
			want: lines(lInvalid, lClear,
				jumpFirst("default", "x/first", "i"), accepted("x/first"),
				jumpNext("default", "x/second", "i"), accepted("x/second"),
				endOfTier("default"),
				profileLines("i", "kns.x"), lDefault),
		},
		{
			name: "tiers are walked in order, each clearing the pass mark first",
			objs: append(base, tier("security", 10, v3.Deny),
				gnp("security.sec", "app == 'a'", []v3.Rule{{Action: v3.Pass}}, nil, func(s *v3.GlobalNetworkPolicySpec) { s.Tier = "security" }),
				np("x", "web", "app == 'a'", allowTCP80, nil)),
			chain: "tw-cali-a",
			want: lines(lInvalid, lClear,
				jumpFirst("security", "security.sec", "i"), accepted("security.sec"), endOfTier("security"),
				startOfTier("default"), jumpFirst("default", "x/web", "i"), accepted("x/web"), endOfTier("default"),
				profileLines("i", "kns.x"), lDefault),
		},
		{
			name: "a tier whose default action is Pass has no end-of-tier drop",
			objs: append(base, tier("baseline", 10, v3.Pass),
				gnp("baseline.log", "app == 'a'", []v3.Rule{{Action: v3.Log}}, nil, func(s *v3.GlobalNetworkPolicySpec) { s.Tier = "baseline" })),
			chain: "tw-cali-a",
			want: lines(lInvalid, lClear, jumpFirst("baseline", "baseline.log", "i"), accepted("baseline.log"),
				profileLines("i", "kns.x"), lDefault),
		},
		{
			name:  "a Log-only policy in a Deny tier still ends in the end-of-tier drop",
			objs:  append(base, gnp("audit", "app == 'a'", []v3.Rule{{Action: v3.Log}}, nil)),
			chain: "tw-cali-a",
			want: lines(lInvalid, lClear, jumpFirst("default", "audit", "i"), accepted("audit"), endOfTier("default"),
				profileLines("i", "kns.x"), lDefault),
		},
		{
			name: "a staged policy is not enforced: a tier holding only staged policies is skipped",
			objs: append(base, &v3.StagedNetworkPolicy{ObjectMeta: meta("x", "staged", nil), Spec: v3.StagedNetworkPolicySpec{
				StagedAction: v3.StagedActionSet, Selector: "app == 'a'", Ingress: []v3.Rule{{Action: v3.Deny}}}}),
			chain: "tw-cali-a",
			want:  lines(lInvalid, lClear, profileLines("i", "kns.x"), lDefault),
		},
		{
			name:  "egress policy is enforced in the chain of traffic from the workload",
			objs:  append(base, np("x", "out", "app == 'a'", nil, allowTCP80)),
			chain: "fw-cali-a",
			want: lines(lInvalid, lClear, jumpFirst("default", "x/out", "o"), accepted("x/out"), endOfTier("default"),
				profileLines("o", "kns.x"), lDefault),
		},
		{
			name:  "LogAndDrop logs end-of-tier and default drops with the tier in the prefix",
			cfg:   Config{DropActionOverride: ActionLogAndDrop, LogGroup: 2},
			objs:  append(base, np("x", "web", "app == 'a'", allowTCP80, nil)),
			chain: "tw-cali-a",
			want: lines(lInvalid, lClear, jumpFirst("default", "x/web", "i"), accepted("x/web"),
				`meta mark & 0x20000 == 0 counter log prefix "calico-packet: I default - eot" group 2 drop comment "end of tier default: no policy passed"`,
				profileLines("i", "kns.x"),
				`counter log prefix "calico-packet: I - - deny" group 2 drop comment "no policy or profile allowed"`),
		},
		{
			name: "an endpoint without profiles drops what no policy allows",
			objs: []v3.Object{&v3.WorkloadEndpoint{ObjectMeta: meta("x", "vm", nil), Spec: v3.WorkloadEndpointSpec{
				Orchestrator: "openstack", Node: "node-1", Endpoint: "eth0", InterfaceName: "tap-vm", IPNetworks: []string{"10.0.0.9/32"}}}},
			chain: "tw-tap-vm",
			want:  lines(lInvalid, lClear, lDefault),
		},
		{
			name:  "workload interfaces dispatch through verdict maps",
			objs:  base,
			chain: chainFilterForward,
			want: lines(
				`ct state established,related counter accept comment "conntrack fast path"`,
				`meta mark set meta mark & 0xfffdffff comment "clear pass mark"`,
				`meta mark & 0x10000 == 0 iifname vmap @hep-fwd-in comment "host endpoint forward ingress policy"`,
				`iifname "cali*" iifname != @wl-ifaces counter drop comment "unknown workload interface"`,
				`oifname "cali*" oifname != @wl-ifaces counter drop comment "unknown workload interface"`,
				`iifname vmap @wl-from comment "workload egress policy"`,
				`oifname vmap @wl-to comment "workload ingress policy"`,
				`oifname vmap @hep-fwd-out comment "host endpoint forward egress policy"`),
		},
		{
			name:  "traffic from a workload to its host runs its egress policy, then EndpointToHostAction",
			cfg:   Config{EndpointToHostAction: ActionAccept},
			objs:  base,
			chain: chainWorkloadToHost,
			want: lines(
				`meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type @icmpv6-nd counter accept comment "IPv6 neighbour discovery"`,
				`iifname vmap @wl-from comment "workload egress policy"`,
				`meta mark & 0x10000 == 0 counter drop comment "unknown workload interface"`,
				`counter accept comment "EndpointToHostAction Accept"`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newScenario(t, tt.objs...).render(tt.cfg)
			got := chainLines(t, m, tt.chain)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("chain %s (-want +got):\n%s", tt.chain, diff)
			}
		})
	}
}

func TestDispatchMaps(t *testing.T) {
	m := newScenario(t, nsProfile("x"),
		pod("x", "a", "cali-a", []string{"10.0.0.1/32"}, nil),
		pod("x", "b", "cali-b", []string{"10.0.0.2/32"}, nil)).render(Config{})
	tests := []struct {
		set, want string
	}{
		{mapWLTo, `ifname : verdict { "cali-a" : jump tw-cali-a, "cali-b" : jump tw-cali-b }`},
		{mapWLFrom, `ifname : verdict { "cali-a" : jump fw-cali-a, "cali-b" : jump fw-cali-b }`},
		{setWLIfaces, `ifname { "cali-a", "cali-b" }`},
	}
	for _, tt := range tests {
		t.Run("map "+tt.set+" sends each workload interface to its chain", func(t *testing.T) {
			if got := setText(t, m, tt.set); got != tt.want {
				t.Errorf("%s = %s, want %s", tt.set, got, tt.want)
			}
		})
	}
}

func TestHostEndpointChains(t *testing.T) {
	hep := func(iface string) *v3.HostEndpoint {
		name := "node-1-" + iface
		if iface == AllInterfaces {
			name = "node-1-all"
		}
		return &v3.HostEndpoint{ObjectMeta: meta("", name, map[string]string{"role": "node"}),
			Spec: v3.HostEndpointSpec{Node: "node-1", InterfaceName: iface, ExpectedIPs: []string{"192.0.2.1"}}}
	}
	host := gnp("host", "role == 'node'", allowTCP80, nil)
	fwd := gnp("fwd", "role == 'node'", []v3.Rule{{Action: v3.Deny, Protocol: proto("TCP")}}, nil, func(s *v3.GlobalNetworkPolicySpec) { s.ApplyOnForward = true })
	pre := gnp("pre", "role == 'node'", []v3.Rule{{Action: v3.Deny, Source: v3.EntityRule{Nets: []string{"198.51.100.0/24"}}}}, nil,
		func(s *v3.GlobalNetworkPolicySpec) { s.PreDNAT, s.ApplyOnForward = true, true })
	untracked := gnp("untracked", "role == 'node'", []v3.Rule{{Action: v3.Allow, Protocol: proto("UDP")}}, nil,
		func(s *v3.GlobalNetworkPolicySpec) { s.DoNotTrack, s.ApplyOnForward = true, true })
	tests := []struct {
		name  string
		cfg   Config
		objs  []v3.Object
		chain string
		want  []string
	}{
		{
			name: "traffic to the host through a host endpoint passes the failsafe ports first, and no profile means deny",
			objs: []v3.Object{hep("eth0"), host}, chain: "fh-eth0",
			want: lines(lInvalid, `jump failsafe-in comment "failsafe ports"`, lClear,
				jumpFirst("default", "host", "i"), accepted("host"), endOfTier("default"), lDefault),
		},
		{
			name: "traffic from the host through a host endpoint passes the outbound failsafe ports first",
			objs: []v3.Object{hep("eth0")}, chain: "th-eth0",
			want: lines(lInvalid, `jump failsafe-out comment "failsafe ports"`, lClear, lDefault),
		},
		{
			name: "failsafe ports are configurable, with networks",
			cfg:  Config{FailsafeInbound: []v3.ProtoPort{{Protocol: "TCP", Port: 22}, {Protocol: "udp", Port: 68, Net: "10.0.0.0/8"}}},
			objs: []v3.Object{hep("eth0")}, chain: chainFailsafeIn,
			want: lines(`meta l4proto tcp th dport 22 counter accept comment "failsafe inbound tcp/22"`,
				`meta nfproto ipv4 ip saddr 10.0.0.0/8 meta l4proto udp th dport 68 counter accept comment "failsafe inbound udp/68"`),
		},
		{
			name: "the raw failsafe chain also accepts replies to outbound failsafe ports",
			cfg:  Config{FailsafeInbound: []v3.ProtoPort{{Protocol: "TCP", Port: 22}}, FailsafeOutbound: []v3.ProtoPort{{Protocol: "UDP", Port: 53}}},
			objs: []v3.Object{hep("eth0")}, chain: chainFailsafeInRaw,
			want: lines(`meta l4proto tcp th dport 22 counter accept comment "failsafe inbound tcp/22"`,
				`meta l4proto udp th sport 53 counter accept comment "failsafe outbound reply udp/53"`),
		},
		{
			name: "applyOnForward policy is enforced on forwarded traffic, with end-of-tier drop and no profiles",
			objs: []v3.Object{hep("eth0"), fwd}, chain: "fhfw-eth0",
			want: lines(lInvalid, lClear, jumpFirst("default", "fwd", "i"), accepted("fwd"), endOfTier("default")),
		},
		{
			name: "preDNAT policy passes the failsafe ports first and never drops at the end of a tier",
			objs: []v3.Object{hep("eth0"), pre}, chain: "fhpre-eth0",
			want: lines(`jump failsafe-in comment "failsafe ports"`, lClear, jumpFirst("default", "pre", "i"), accepted("pre")),
		},
		{
			name: "doNotTrack policy untracks what it accepts",
			objs: []v3.Object{hep("eth0"), untracked}, chain: "fhraw-eth0",
			want: lines(`jump failsafe-in-raw comment "failsafe ports"`, lClear, jumpFirst("default", "untracked", "i"),
				`meta mark & 0x10000 != 0 notrack return comment "policy untracked accepted"`),
		},
		{
			name: "a host endpoint for all interfaces is dispatched to after the named ones, skipping loopback and workloads",
			objs: []v3.Object{hep("*"), hep("eth1")}, chain: chainFilterInput,
			want: lines(`ct state established,related counter accept comment "conntrack fast path"`,
				`iifname @wl-ifaces goto wl-to-host comment "from a workload"`,
				`iifname "cali*" goto wl-to-host comment "from a workload"`,
				`meta mark & 0x10000 != 0 counter accept comment "accepted by doNotTrack or preDNAT policy"`,
				`iifname vmap @hep-in comment "host endpoint ingress policy"`,
				`iifname != "lo" iifname != @hep-ifaces iifname != @wl-ifaces iifname != "cali*" jump fh-any-interface-at-all comment "host endpoint ingress policy (all interfaces)"`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newScenario(t, tt.objs...).render(tt.cfg)
			got := chainLines(t, m, tt.chain)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("chain %s (-want +got):\n%s", tt.chain, diff)
			}
		})
	}
	t.Run("a host endpoint without forward, preDNAT or doNotTrack policy has no such chains", func(t *testing.T) {
		m := newScenario(t, hep("eth0"), host).render(Config{})
		for _, c := range []string{"fhfw-eth0", "thfw-eth0", "fhpre-eth0", "fhraw-eth0", "thraw-eth0"} {
			if _, ok := m.chains[c]; ok {
				t.Errorf("chain %s exists", c)
			}
		}
		for _, name := range []string{mapHEPFwdIn, mapHEPPre, mapHEPRawIn} {
			if n := len(m.sets[name].elems); n != 0 {
				t.Errorf("map %s has %d elements", name, n)
			}
		}
		if got, want := setText(t, m, mapHEPIn), `ifname : verdict { "eth0" : jump fh-eth0 }`; got != want {
			t.Errorf("hep-in = %s, want %s", got, want)
		}
	})
}

func TestRenderProblems(t *testing.T) {
	a := pod("x", "a", "cali-a", []string{"10.0.0.1/32"}, nil)
	in := &Input{Endpoints: map[v3.Key]Endpoint{
		v3.KeyOf(a): {Interface: "cali-a"},
		{Kind: v3.KindWorkloadEndpoint, Namespace: "x", Name: "b"}: {Interface: "cali-a"},
		{Kind: v3.KindWorkloadEndpoint, Namespace: "x", Name: "c"}: {},
		{Kind: v3.KindHostEndpoint, Name: "h"}:                     {Interface: "eth0"},
	}}
	m, err := Render(Config{}, in)
	if err != nil {
		t.Fatal(err)
	}
	probs := m.Problems()
	var texts []string
	for _, p := range probs {
		texts = append(texts, p.Error())
	}
	want := []string{
		`endpoint WorkloadEndpoint(x/b): interface "cali-a" already belongs to WorkloadEndpoint(x/a)`,
		`endpoint WorkloadEndpoint(x/c): nft: host endpoint without an interface name`,
	}
	if diff := cmp.Diff(want, texts); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if !errors.Is(probs[1], ErrNoInterface) {
		t.Errorf("%v does not wrap ErrNoInterface", probs[1])
	}
	if _, ok := m.chains["tw-cali-a"]; !ok {
		t.Error("the first endpoint of an interface lost its chain")
	}
	if _, ok := m.chains["fh-eth0"]; !ok {
		t.Error("the host endpoint lost its chain")
	}
}

// TestRulesetGrowsLinearly renders N endpoints each selected by M
// policies of R rules: endpoint chains grow with N×M (two rules per
// policy), policy chains with M×R, never N×M×R.
func TestRulesetGrowsLinearly(t *testing.T) {
	const rulesPerPolicy = 10
	build := func(endpoints, policies int) Stats {
		objs := []v3.Object{nsProfile("x")}
		for i := range endpoints {
			objs = append(objs, pod("x", fmt.Sprintf("w%d", i), fmt.Sprintf("cali%d", i), []string{fmt.Sprintf("10.0.%d.%d/32", i/250, i%250+1)}, map[string]string{"app": "web"}))
		}
		for i := range policies {
			var rules []v3.Rule
			for j := range rulesPerPolicy {
				rules = append(rules, v3.Rule{Action: v3.Allow, Protocol: proto("TCP"),
					Source:      v3.EntityRule{Selector: fmt.Sprintf("client == 'c%d'", j)},
					Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(1000 + j)}}})
			}
			objs = append(objs, np("x", fmt.Sprintf("p%d", i), "app == 'web'", rules, nil))
		}
		return newScenario(t, objs...).render(Config{}).Stats()
	}
	small, wide, deep := build(10, 5), build(20, 5), build(10, 10)
	// Each endpoint adds its two chains: the conntrack, clear, profile (2)
	// and default rules each, and in ingress two rules per policy and the
	// end-of-tier drop.
	perEndpoint := (wide.Rules - small.Rules) / 10
	if want := 2*5 + 2*5 + 1; perEndpoint != want {
		t.Errorf("each endpoint adds %d rules, want %d", perEndpoint, want)
	}
	// Each policy adds its rules once (one per family, for the selector),
	// plus two rules in each endpoint chain.
	perPolicy := (deep.Rules - small.Rules) / 5
	if want := 2*rulesPerPolicy + 2*10; perPolicy != want {
		t.Errorf("each policy adds %d rules, want %d", perPolicy, want)
	}
	if wide.Sets != small.Sets {
		t.Errorf("more endpoints made more sets: %d, then %d", small.Sets, wide.Sets)
	}
}
