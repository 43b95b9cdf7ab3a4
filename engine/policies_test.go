package engine

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// tierOrder flattens one direction of an EndpointPolicy to tier names and
// policy keys, in order.
type tierView struct {
	Tier          string
	DefaultAction v3.Action
	Policies      []v3.Key
}

func view(tiers []TierPolicies) []tierView {
	var out []tierView
	for _, t := range tiers {
		tv := tierView{Tier: t.Tier, DefaultAction: t.DefaultAction}
		for _, p := range t.Policies {
			tv.Policies = append(tv.Policies, p.Key)
		}
		out = append(out, tv)
	}
	return out
}

func TestPoliciesForOrdering(t *testing.T) {
	ingress := func(name, tierName string, order *float64) *v3.GlobalNetworkPolicy {
		return webIngressGlobal(name, tierName, order)
	}
	e := newEngine(t, append(baseWorld(),
		tier("security", ptr(100.0), v3.Deny),
		tier("platform", ptr(200.0), v3.Pass),
		tier("unordered", nil, v3.Deny),
		ingress("ghost-1", "ghost", nil),
		ingress("unordered-1", "unordered", nil),
		ingress("sec-b", "security", ptr(5.0)),
		ingress("sec-a", "security", ptr(5.0)),
		ingress("sec-first", "security", ptr(-1.0)),
		ingress("plat-1", "platform", nil),
		webIngress("p-late", nil),
		webIngress("p-first", ptr(1.0)),
		webIngress("p-mid", ptr(10.0)),
		ingress("p-mid", "", ptr(10.0)),
		&v3.StagedNetworkPolicy{ObjectMeta: meta("prod", "staged-x", nil),
			Spec: v3.StagedNetworkPolicySpec{Order: ptr(2.0), Selector: "app == 'web'", Types: ingressOnly}},
		gnp("untracked", v3.GlobalNetworkPolicySpec{Selector: "all()", DoNotTrack: true, ApplyOnForward: true, Types: ingressOnly}),
	)...)
	got, ok := e.PoliciesFor(wepKey("prod", "web"))
	if !ok {
		t.Fatal("prod/web unknown")
	}
	stagedKey := v3.Key{Kind: v3.KindStagedNetworkPolicy, Namespace: "prod", Name: "staged-x"}
	want := []tierView{
		{"security", v3.Deny, []v3.Key{gnpKey("sec-first"), gnpKey("sec-a"), gnpKey("sec-b")}},
		{"platform", v3.Pass, []v3.Key{gnpKey("plat-1")}},
		{"default", v3.Deny, []v3.Key{npKey("prod", "p-first"), stagedKey, gnpKey("p-mid"), npKey("prod", "p-mid"), npKey("prod", "p-late")}},
		{"unordered", v3.Deny, []v3.Key{gnpKey("unordered-1")}},
		{"ghost", v3.Deny, []v3.Key{gnpKey("ghost-1")}},
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"tiers sort by order, unordered tiers after ordered ones, missing tiers last; policies by order, nil last, ties by name/namespace/kind", view(got.Ingress), want},
		{"a workload endpoint gets no egress tiers from ingress-only policies", view(got.Egress), []tierView(nil)},
		{"a workload endpoint gets no untracked tiers", got.UntrackedIngress, []TierPolicies(nil)},
		{"profiles are listed in order", got.Profiles, []string{"kns.prod"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("staged policies are marked", func(t *testing.T) {
		for _, p := range got.Ingress[2].Policies {
			if p.Staged != (p.Key == stagedKey) {
				t.Errorf("%s staged=%v", p.Key, p.Staged)
			}
		}
	})
	t.Run("changing a tier's order re-sorts the endpoints", func(t *testing.T) {
		if err := e.Upsert(tier("platform", ptr(50.0), v3.Pass)); err != nil {
			t.Fatal(err)
		}
		got, _ := e.PoliciesFor(wepKey("prod", "web"))
		if got.Ingress[0].Tier != "platform" || got.Ingress[1].Tier != "security" {
			t.Errorf("tiers %v, want platform before security", view(got.Ingress))
		}
		checkInvariants(t, e)
	})
	t.Run("deleting a tier makes it missing and last", func(t *testing.T) {
		e.Delete(v3.Key{Kind: v3.KindTier, Name: "security"})
		got, _ := e.PoliciesFor(wepKey("prod", "web"))
		tiers := view(got.Ingress)
		if last := tiers[len(tiers)-1]; last.Tier != "security" {
			t.Errorf("last tier %s, want security", last.Tier)
		}
		checkInvariants(t, e)
	})
}

func TestPoliciesForHostEndpoint(t *testing.T) {
	e := newEngine(t, append(baseWorld(),
		gnp("normal", v3.GlobalNetworkPolicySpec{Selector: "role == 'node'", Types: []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress}}),
		gnp("forward", v3.GlobalNetworkPolicySpec{Selector: "role == 'node'", ApplyOnForward: true, Types: ingressOnly}),
		gnp("untracked", v3.GlobalNetworkPolicySpec{Selector: "role == 'node'", DoNotTrack: true, ApplyOnForward: true,
			Types: []v3.PolicyType{v3.PolicyTypeIngress, v3.PolicyTypeEgress}}),
		gnp("prednat", v3.GlobalNetworkPolicySpec{Selector: "role == 'node'", PreDNAT: true, ApplyOnForward: true, Types: ingressOnly}),
	)...)
	got, ok := e.PoliciesFor(hepKey("node1-eth0"))
	if !ok {
		t.Fatal("node1-eth0 unknown")
	}
	one := func(action v3.Action, names ...string) []tierView {
		tv := tierView{Tier: "default", DefaultAction: action}
		for _, n := range names {
			tv.Policies = append(tv.Policies, gnpKey(n))
		}
		return []tierView{tv}
	}
	tests := []struct {
		name string
		got  []TierPolicies
		want []tierView
	}{
		{"normal ingress holds normal and applyOnForward policies", got.Ingress, one(v3.Deny, "forward", "normal")},
		{"normal egress holds normal policies", got.Egress, one(v3.Deny, "normal")},
		{"forward ingress holds applyOnForward policies", got.ForwardIngress, one(v3.Deny, "forward")},
		{"untracked tiers hold doNotTrack policies and default to pass", got.UntrackedIngress, one(v3.Pass, "untracked")},
		{"untracked egress holds doNotTrack egress policies", got.UntrackedEgress, one(v3.Pass, "untracked")},
		{"preDNAT tiers hold preDNAT ingress policies and default to pass", got.PreDNATIngress, one(v3.Pass, "prednat")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, view(tt.got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("evaluation ignores doNotTrack and preDNAT policies", func(t *testing.T) {
		res, err := e.EvaluateWithTrace(tcpFlow(client, node1, 22))
		if err != nil {
			t.Fatal(err)
		}
		var consulted []v3.Key
		for _, tt := range res.Trace.Ingress.Tiers {
			for _, p := range tt.Policies {
				consulted = append(consulted, p.Policy)
			}
		}
		if diff := cmp.Diff([]v3.Key{gnpKey("forward"), gnpKey("normal")}, consulted); diff != "" {
			t.Errorf("consulted (-want +got):\n%s", diff)
		}
	})
}

func TestStagedPolicies(t *testing.T) {
	staged := func(name string, action v3.StagedAction, rules ...v3.Rule) *v3.StagedNetworkPolicy {
		s := v3.StagedNetworkPolicySpec{StagedAction: action}
		if action != v3.StagedActionDelete {
			s.Selector, s.Types, s.Ingress = "app == 'web'", ingressOnly, rules
		}
		return &v3.StagedNetworkPolicy{ObjectMeta: meta("prod", name, nil), Spec: s}
	}
	stagedGlobal := func(name, tierName string, rules ...v3.Rule) *v3.StagedGlobalNetworkPolicy {
		return &v3.StagedGlobalNetworkPolicy{ObjectMeta: meta("", name, nil), Spec: v3.StagedGlobalNetworkPolicySpec{
			Tier: tierName, Selector: "app == 'web'", Types: ingressOnly, Ingress: rules}}
	}
	deny := v3.Rule{Action: v3.Deny}
	allow := v3.Rule{Action: v3.Allow}
	tests := []struct {
		name         string
		objs         []v3.Object
		flow         Flow
		want         v3.Action
		wantStaged   *v3.Action
		stagedReason Reason
	}{
		{
			name: "without staged policies there is no staged result",
			objs: []v3.Object{webIngress("live", nil, allow)},
			flow: tcpFlow(client, web, 8080), want: v3.Allow,
		},
		{
			name: "a staged set replaces its live counterpart",
			objs: []v3.Object{webIngress("p", nil, allow), staged("p", v3.StagedActionSet, deny)},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, wantStaged: ptr(v3.Deny), stagedReason: ReasonRule,
		},
		{
			name: "a staged policy without stagedAction is a set",
			objs: []v3.Object{webIngress("p", nil, allow), staged("p", "", deny)},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, wantStaged: ptr(v3.Deny),
		},
		{
			name: "a staged set with no live counterpart adds itself",
			objs: []v3.Object{staged("new", v3.StagedActionSet, deny)},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, wantStaged: ptr(v3.Deny), stagedReason: ReasonRule,
		},
		{
			name: "a staged delete removes its live counterpart",
			objs: []v3.Object{webIngress("p", nil, deny), staged("p", v3.StagedActionDelete)},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, wantStaged: ptr(v3.Allow), stagedReason: ReasonProfile,
		},
		{
			name: "a staged set replaces the live policy even where it no longer selects",
			objs: []v3.Object{webIngress("p", nil, deny), &v3.StagedNetworkPolicy{ObjectMeta: meta("prod", "p", nil),
				Spec: v3.StagedNetworkPolicySpec{Selector: "app == 'db'", Ingress: []v3.Rule{deny}}}},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, wantStaged: ptr(v3.Allow), stagedReason: ReasonProfile,
		},
		{
			name: "a tier holding only staged policies does not deny enforced traffic",
			objs: []v3.Object{tier("trial", ptr(10.0), v3.Deny), stagedGlobal("trial-only", "trial", v3.Rule{Action: v3.Allow, Source: v3.EntityRule{Selector: "app == 'nobody'"}})},
			flow: tcpFlow(client, web, 8080), want: v3.Allow, wantStaged: ptr(v3.Deny), stagedReason: ReasonEndOfTier,
		},
		{
			name: "a staged global set replaces the live global policy",
			objs: []v3.Object{webIngressGlobal("g", "", nil, deny), stagedGlobal("g", "", allow)},
			flow: tcpFlow(client, web, 8080), want: v3.Deny, wantStaged: ptr(v3.Allow), stagedReason: ReasonRule,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, append(baseWorld(), tt.objs...)...)
			got, err := e.EvaluateWithTrace(tt.flow)
			if err != nil {
				t.Fatal(err)
			}
			if got.Verdict != tt.want {
				t.Errorf("enforced verdict %s, want %s\n%s", got.Verdict, tt.want, got.Trace)
			}
			switch {
			case tt.wantStaged == nil && got.Staged != nil:
				t.Errorf("staged result %+v, want none", got.Staged)
			case tt.wantStaged != nil && got.Staged == nil:
				t.Errorf("no staged result, want %s", *tt.wantStaged)
			case tt.wantStaged != nil:
				if got.Staged.Verdict != *tt.wantStaged {
					t.Errorf("staged verdict %s, want %s\n%s", got.Staged.Verdict, *tt.wantStaged, got.Staged.Trace)
				}
				if tt.stagedReason != "" && got.Staged.Ingress.Reason != tt.stagedReason {
					t.Errorf("staged ingress reason %s, want %s\n%s", got.Staged.Ingress.Reason, tt.stagedReason, got.Staged.Trace)
				}
			}
			checkInvariants(t, e)
		})
	}
}

func TestUpsertErrors(t *testing.T) {
	valid := webIngress("p", nil, allowFrom(v3.EntityRule{Selector: "app == 'client'"}))
	tests := []struct {
		name      string
		obj       v3.Object
		wantField string
		want      error
	}{
		{
			name:      "a bad rule selector names its field",
			obj:       webIngress("p", nil, v3.Rule{Action: v3.Allow}, allowFrom(v3.EntityRule{Selector: "app =="})),
			wantField: "spec.ingress[1].source.selector",
		},
		{
			name:      "a bad notSelector names its field",
			obj:       webIngress("p", nil, v3.Rule{Action: v3.Allow, Destination: v3.EntityRule{NotSelector: "has("}}),
			wantField: "spec.ingress[0].destination.notSelector",
		},
		{
			name:      "a bad namespaceSelector names its field",
			obj:       webIngress("p", nil, allowFrom(v3.EntityRule{NamespaceSelector: "a in"})),
			wantField: "spec.ingress[0].source.namespaceSelector",
		},
		{
			name:      "a bad service account selector names its field",
			obj:       webIngress("p", nil, allowFrom(v3.EntityRule{ServiceAccounts: &v3.ServiceAccountMatch{Selector: "!"}})),
			wantField: "spec.ingress[0].source.serviceAccounts.selector",
		},
		{
			name:      "a bad policy selector names its field",
			obj:       np("prod", "p", v3.NetworkPolicySpec{Selector: "app = 'web'"}),
			wantField: "spec.selector",
		},
		{
			name:      "a bad global namespaceSelector names its field",
			obj:       gnp("g", v3.GlobalNetworkPolicySpec{NamespaceSelector: "(a"}),
			wantField: "spec.namespaceSelector",
		},
		{
			name:      "a bad serviceAccountSelector names its field",
			obj:       np("prod", "p", v3.NetworkPolicySpec{ServiceAccountSelector: "x =="}),
			wantField: "spec.serviceAccountSelector",
		},
		{
			name:      "a bad CIDR names its field",
			obj:       webIngress("p", nil, allowFrom(v3.EntityRule{NotNets: []string{"10.0.0.0/8", "10.0.0/8"}})),
			wantField: "spec.ingress[0].source.notNets[1]",
		},
		{
			name:      "a bad protocol names its field",
			obj:       np("prod", "p", v3.NetworkPolicySpec{Egress: []v3.Rule{{Action: v3.Allow, Protocol: proto("TCPX")}}}),
			wantField: "spec.egress[0].protocol",
		},
		{
			name:      "a bad endpoint address names its field",
			obj:       pod("prod", "web", "10.0.1.300", nil),
			wantField: "spec.ipNetworks[0]",
		},
		{
			name:      "a bad network set CIDR names its field",
			obj:       &v3.GlobalNetworkSet{ObjectMeta: meta("", "external", nil), Spec: v3.GlobalNetworkSetSpec{Nets: []string{"1.2.3.4/33"}}},
			wantField: "spec.nets[0]",
		},
		{
			name: "an unsupported kind is refused",
			obj:  &v3.FelixConfiguration{ObjectMeta: meta("", "default", nil)},
			want: ErrUnsupportedKind,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, append(baseWorld(), valid)...)
			e.Drain()
			before, _ := e.PoliciesFor(wepKey("prod", "web"))
			beforePol, _ := e.Policy(npKey("prod", "p"))
			err := e.Upsert(tt.obj)
			var fe *FieldError
			switch {
			case tt.want != nil:
				if !errors.Is(err, tt.want) {
					t.Fatalf("error %v, want %v", err, tt.want)
				}
			case !errors.As(err, &fe):
				t.Fatalf("error %v, want a *FieldError", err)
			case fe.Field != tt.wantField || fe.Key != v3.KeyOf(tt.obj):
				t.Errorf("error names %s %s, want %s %s", fe.Key, fe.Field, v3.KeyOf(tt.obj), tt.wantField)
			}
			after, _ := e.PoliciesFor(wepKey("prod", "web"))
			if diff := cmp.Diff(before, after, ignoreCompiled); diff != "" {
				t.Errorf("a failed upsert changed the engine (-before +after):\n%s", diff)
			}
			if afterPol, _ := e.Policy(npKey("prod", "p")); afterPol != beforePol {
				t.Error("a failed upsert replaced the policy")
			}
			if u := e.Drain(); u != nil {
				t.Errorf("a failed upsert produced updates %v", u)
			}
			checkInvariants(t, e)
		})
	}
}

func TestDeleteOfUnknownKeysIsANoOp(t *testing.T) {
	e := newEngine(t, baseWorld()...)
	e.Drain()
	for _, k := range []v3.Key{
		npKey("prod", "nope"), gnpKey("nope"), {Kind: v3.KindTier, Name: "nope"}, {Kind: v3.KindTier, Name: "default"},
		{Kind: v3.KindProfile, Name: "nope"}, wepKey("prod", "nope"), hepKey("nope"),
		{Kind: v3.KindNetworkSet, Namespace: "prod", Name: "nope"}, {Kind: v3.KindFelixConfiguration, Name: "default"},
	} {
		e.Delete(k)
	}
	if u := e.Drain(); u != nil {
		t.Errorf("deleting unknown keys produced updates %v", u)
	}
	checkInvariants(t, e)
}

func TestSelectedByAndRulePeers(t *testing.T) {
	e := newEngine(t, append(baseWorld(),
		np("prod", "all-prod", v3.NetworkPolicySpec{Selector: "all()", Ingress: []v3.Rule{
			allowFrom(v3.EntityRule{Selector: "has(app)", NotSelector: "app == 'sneaky'"}),
			{Action: v3.Allow, Source: v3.EntityRule{NamespaceSelector: "global()"}, Destination: v3.EntityRule{Nets: []string{"10.0.1.0/24"}}},
		}}),
		gnp("nodes", v3.GlobalNetworkPolicySpec{Selector: "role == 'node'"}),
	)...)
	t.Run("a namespaced policy selects the endpoints of its namespace", func(t *testing.T) {
		want := []v3.Key{wepKey("prod", "db"), wepKey("prod", "sneaky"), wepKey("prod", "web")}
		if diff := cmp.Diff(want, e.SelectedBy(npKey("prod", "all-prod"))); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("a global policy selects host endpoints", func(t *testing.T) {
		want := []v3.Key{hepKey("node1-eth0"), hepKey("node2-eth0")}
		if diff := cmp.Diff(want, e.SelectedBy(gnpKey("nodes"))); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("an unknown policy selects nothing", func(t *testing.T) {
		if got := e.SelectedBy(gnpKey("nope")); got != nil {
			t.Errorf("got %v", got)
		}
	})
	t.Run("rule peers list what the selectors match, network sets included", func(t *testing.T) {
		got, err := e.RulePeers(npKey("prod", "all-prod"), Ingress, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := RulePeers{
			Source: PeerMatch{
				Selector:    `(projectcalico.org/namespace == "prod" && has(app))`,
				Members:     []v3.Key{wepKey("prod", "db"), wepKey("prod", "sneaky"), wepKey("prod", "web")},
				NotSelector: `app == "sneaky"`,
				NotMembers:  []v3.Key{wepKey("prod", "sneaky")},
			},
			Destination: PeerMatch{Any: true},
		}
		if diff := cmp.Diff(want, got, ignoreCompiled); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("global() rule peers are the non-namespaced things", func(t *testing.T) {
		got, err := e.RulePeers(npKey("prod", "all-prod"), Ingress, 1)
		if err != nil {
			t.Fatal(err)
		}
		want := []v3.Key{{Kind: v3.KindGlobalNetworkSet, Name: "external"}, hepKey("node1-eth0"), hepKey("node2-eth0")}
		if diff := cmp.Diff(want, got.Source.Members); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if len(got.Destination.Nets) != 1 || got.Destination.Nets[0] != netip.MustParsePrefix("10.0.1.0/24") {
			t.Errorf("destination nets %v", got.Destination.Nets)
		}
	})
	t.Run("rule peers of a missing rule is an error", func(t *testing.T) {
		if _, err := e.RulePeers(npKey("prod", "all-prod"), Egress, 0); !errors.Is(err, ErrNoRule) {
			t.Errorf("error %v, want ErrNoRule", err)
		}
		if _, err := e.RulePeers(npKey("prod", "nope"), Ingress, 0); !errors.Is(err, ErrUnknownPolicy) {
			t.Errorf("error %v, want ErrUnknownPolicy", err)
		}
	})
	t.Run("endpoints are listed sorted by kind, namespace and name", func(t *testing.T) {
		want := []v3.Key{hepKey("node1-eth0"), hepKey("node2-eth0"), wepKey("dev", "client"),
			wepKey("prod", "db"), wepKey("prod", "sneaky"), wepKey("prod", "web"), wepKey("vms", "vm")}
		if diff := cmp.Diff(want, e.Endpoints()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

func TestDrain(t *testing.T) {
	type step struct {
		upsert []v3.Object
		delete []v3.Key
		// deleteFirst applies delete before upsert (else after).
		deleteFirst bool
		// want lists the updated endpoints; removed those reported gone.
		want    []v3.Key
		removed []v3.Key
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "new endpoints are reported once, coalesced",
			steps: []step{
				{upsert: []v3.Object{pod("prod", "a", "10.0.0.1", nil), pod("prod", "a", "10.0.0.1", map[string]string{"x": "1"}), pod("prod", "b", "10.0.0.2", nil)},
					want: []v3.Key{wepKey("prod", "a"), wepKey("prod", "b")}},
				{},
			},
		},
		{
			name: "a policy change reports only the endpoints it selects",
			steps: []step{
				{upsert: []v3.Object{pod("prod", "a", "10.0.0.1", map[string]string{"app": "a"}), pod("prod", "b", "10.0.0.2", nil)},
					want: []v3.Key{wepKey("prod", "a"), wepKey("prod", "b")}},
				{upsert: []v3.Object{np("prod", "p", v3.NetworkPolicySpec{Selector: "app == 'a'"})}, want: []v3.Key{wepKey("prod", "a")}},
				{upsert: []v3.Object{np("prod", "p", v3.NetworkPolicySpec{Selector: "app == 'a'", Order: ptr(3.0)})}, want: []v3.Key{wepKey("prod", "a")}},
				{delete: []v3.Key{npKey("prod", "p")}, want: []v3.Key{wepKey("prod", "a")}},
			},
		},
		{
			name: "a profile change reports the endpoints using it",
			steps: []step{
				{upsert: []v3.Object{pod("prod", "a", "10.0.0.1", nil), pod("dev", "b", "10.0.0.2", nil)},
					want: []v3.Key{wepKey("dev", "b"), wepKey("prod", "a")}},
				{upsert: []v3.Object{nsProfile("prod", map[string]string{"env": "x"})}, want: []v3.Key{wepKey("prod", "a")}},
			},
		},
		{
			name: "a removed endpoint is reported with no policy",
			steps: []step{
				{upsert: []v3.Object{pod("prod", "a", "10.0.0.1", nil)}, want: []v3.Key{wepKey("prod", "a")}},
				{delete: []v3.Key{wepKey("prod", "a")}, removed: []v3.Key{wepKey("prod", "a")}},
			},
		},
		{
			name: "an endpoint added and removed between drains is not reported",
			steps: []step{
				{upsert: []v3.Object{pod("prod", "a", "10.0.0.1", nil)}, delete: []v3.Key{wepKey("prod", "a")}},
			},
		},
		{
			name: "an endpoint removed and added back between drains is reported present",
			steps: []step{
				{upsert: []v3.Object{pod("prod", "a", "10.0.0.1", nil)}, want: []v3.Key{wepKey("prod", "a")}},
				{delete: []v3.Key{wepKey("prod", "a")}, deleteFirst: true,
					upsert: []v3.Object{pod("prod", "a", "10.0.0.1", nil)}, want: []v3.Key{wepKey("prod", "a")}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New()
			for i, s := range tt.steps {
				if s.deleteFirst {
					for _, k := range s.delete {
						e.Delete(k)
					}
				}
				for _, o := range s.upsert {
					if err := e.Upsert(o); err != nil {
						t.Fatal(err)
					}
				}
				if !s.deleteFirst {
					for _, k := range s.delete {
						e.Delete(k)
					}
				}
				var gotUpdated, gotRemoved []v3.Key
				for _, u := range e.Drain() {
					if u.Policy == nil {
						gotRemoved = append(gotRemoved, u.Endpoint)
						continue
					}
					gotUpdated = append(gotUpdated, u.Endpoint)
					want, _ := e.PoliciesFor(u.Endpoint)
					if diff := cmp.Diff(want, u.Policy, ignoreCompiled); diff != "" {
						t.Errorf("step %d: update of %s is not the current policy (-want +got):\n%s", i, u.Endpoint, diff)
					}
				}
				if diff := cmp.Diff(s.want, gotUpdated); diff != "" {
					t.Errorf("step %d: updated (-want +got):\n%s", i, diff)
				}
				if diff := cmp.Diff(s.removed, gotRemoved); diff != "" {
					t.Errorf("step %d: removed (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

func TestSets(t *testing.T) {
	e := newEngine(t, baseWorld()...)
	e.DrainSets()
	if err := e.Upsert(webIngress("p", nil, allowFrom(v3.EntityRule{Selector: "app == 'db'"}))); err != nil {
		t.Fatal(err)
	}
	pol, _ := e.Policy(npKey("prod", "p"))
	id := pol.IngressRules[0].Source.SelectorSet
	t.Run("a new rule selector is reported with its members", func(t *testing.T) {
		if diff := cmp.Diff([]SetUpdate{{ID: id, Selector: pol.IngressRules[0].Source.Selector}}, e.DrainSets()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		got, ok := e.SetMembers(id)
		want := []SetMember{{Key: wepKey("prod", "db"), Nets: []netip.Prefix{netip.MustParsePrefix("10.0.1.2/32")}}}
		if !ok || !cmp.Equal(want, got, ignoreCompiled) {
			t.Errorf("members %v, want %v", got, want)
		}
	})
	t.Run("a member relabelled out reports the set", func(t *testing.T) {
		if err := e.Upsert(pod("prod", "db", "10.0.1.2", map[string]string{"app": "db2"})); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]SetUpdate{{ID: id, Selector: pol.IngressRules[0].Source.Selector}}, e.DrainSets()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if got, _ := e.SetMembers(id); len(got) != 0 {
			t.Errorf("members %v, want none", got)
		}
	})
	t.Run("a change that touches no set reports nothing", func(t *testing.T) {
		if err := e.Upsert(pod("dev", "client", "10.0.2.1", map[string]string{"app": "client", "x": "y"})); err != nil {
			t.Fatal(err)
		}
		if got := e.DrainSets(); got != nil {
			t.Errorf("got %v", got)
		}
	})
	t.Run("a set no rule uses any more is reported deleted", func(t *testing.T) {
		e.Delete(npKey("prod", "p"))
		if diff := cmp.Diff([]SetUpdate{{ID: id, Selector: pol.IngressRules[0].Source.Selector, Deleted: true}}, e.DrainSets()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if _, ok := e.SetMembers(id); ok {
			t.Error("the set still has members")
		}
	})
}
