package analysis

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
)

func TestEndpointNames(t *testing.T) {
	m := testModel(t)
	tests := []struct {
		name      string
		spec, ns  string
		want      string
		wantKey   v3.Key
		wantIsErr error
	}{
		{name: "a pod is named namespace/pod", spec: "y/b", want: "y/b",
			wantKey: v3.Key{Kind: v3.KindWorkloadEndpoint, Namespace: "y", Name: "node--1-k8s-b-eth0"}},
		{name: "a workload endpoint is also found by its own name", spec: "y/node--1-k8s-b-eth0", want: "y/b"},
		{name: "a name without namespace is a pod of the namespace given", spec: "c", ns: "z", want: "z/c"},
		{name: "a name without namespace and no namespace given is in default", spec: "c", wantIsErr: ErrUnknownEndpoint},
		{name: "a host endpoint is named by its name", spec: "node-1-eth0", want: "node-1-eth0",
			wantKey: v3.Key{Kind: v3.KindHostEndpoint, Name: "node-1-eth0"}},
		{name: "an address is the endpoint that holds it", spec: "10.100.3.2", want: "z/b"},
		{name: "an address of a host endpoint is that host endpoint", spec: "10.0.0.1", want: "node-1-eth0"},
		{name: "an address no endpoint holds is unknown", spec: "192.0.2.1", wantIsErr: ErrUnknownEndpoint},
		{name: "a workload that is not a pod is named by its workload", spec: "region/vm2", want: "region/vm2"},
		{name: "the endpoints of a workload with several are named by their own names", spec: "region/compute-openstack-vm1-tap2", want: "region/compute-openstack-vm1-tap2"},
		{name: "a workload with several endpoints is ambiguous by its workload name", spec: "region/vm1", wantIsErr: ErrAmbiguous},
		{name: "an unknown pod is unknown", spec: "x/d", wantIsErr: ErrUnknownEndpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, err := m.Endpoint(tt.spec, tt.ns)
			if tt.wantIsErr != nil {
				if !errors.Is(err, tt.wantIsErr) {
					t.Errorf("Endpoint(%q) = %+v, %v; want an error wrapping %v", tt.spec, ep, err, tt.wantIsErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ep.Name != tt.want {
				t.Errorf("Endpoint(%q) is %q, want %q", tt.spec, ep.Name, tt.want)
			}
			if tt.wantKey != (v3.Key{}) && ep.Key != tt.wantKey {
				t.Errorf("Endpoint(%q) has key %s, want %s", tt.spec, ep.Key, tt.wantKey)
			}
		})
	}
	t.Run("endpoints are listed by name", func(t *testing.T) {
		var names []string
		for _, ep := range m.Endpoints() {
			names = append(names, ep.Name)
		}
		want := []string{"node-1-eth0", "region/compute-openstack-vm1-tap1", "region/compute-openstack-vm1-tap2", "region/vm2",
			"x/a", "x/b", "x/c", "y/a", "y/b", "y/c", "z/a", "z/b", "z/c"}
		if diff := cmp.Diff(want, names); diff != "" {
			t.Errorf("names (-want +got):\n%s", diff)
		}
	})
}

func TestSelectFindsPolicies(t *testing.T) {
	m := testModel(t)
	tests := []struct {
		name     string
		policy   string
		ns       string
		want     v3.Key
		wantIs   error
		wantText string
	}{
		{name: "a global policy by its name", policy: "no-udp",
			want: v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: "no-udp"}},
		{name: "a policy of a tier by the tier-prefixed name Calico 3.29-3.31 used", policy: "security.no-udp",
			want: v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: "no-udp"}},
		{name: "a default-tier policy with the default. prefix of Calico 3.29-3.31", policy: "default.c-not-to-z", ns: "x",
			want: v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "x", Name: "c-not-to-z"}},
		{name: "a Kubernetes policy by its Kubernetes name", policy: "allow-b-to-a", ns: "y",
			want: v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "y", Name: "knp.default.allow-b-to-a"}},
		{name: "a Kubernetes policy by its Calico name", policy: "knp.default.allow-b-to-a", ns: "y",
			want: v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "y", Name: "knp.default.allow-b-to-a"}},
		{name: "a staged policy", policy: "lock-b", ns: "x",
			want: v3.Key{Kind: v3.KindStagedNetworkPolicy, Namespace: "x", Name: "lock-b"}},
		{name: "a name two kinds share needs the kind", policy: "dup", ns: "x", wantIs: ErrAmbiguous,
			wantText: "NetworkPolicy x/dup and GlobalNetworkPolicy dup"},
		{name: "the kind comes first, as any calicoctl alias", policy: "gnp/dup", ns: "x",
			want: v3.Key{Kind: v3.KindGlobalNetworkPolicy, Name: "dup"}},
		{name: "a namespaced policy is only found in its namespace", policy: "c-not-to-z", ns: "y", wantIs: ErrUnknownPolicy,
			wantText: `"c-not-to-z" among the global policies and those of namespace "y": there are `},
		{name: "a kind that is not a policy kind is refused", policy: "tier/security", wantIs: ErrUnknownPolicy,
			wantText: `"tier" is not a policy kind`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := m.Select(tt.policy, tt.ns)
			if tt.wantIs != nil {
				if !errors.Is(err, tt.wantIs) || !strings.Contains(err.Error(), tt.wantText) {
					t.Errorf("Select = %v, want an error wrapping %v containing %q", err, tt.wantIs, tt.wantText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Policy != tt.want {
				t.Errorf("Select found %s, want %s", s.Policy, tt.want)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	m := testModel(t)
	t.Run("a Kubernetes policy applies to the pods its selector matches, and its rule matches the peer pods", func(t *testing.T) {
		s, err := m.Select("allow-b-to-a", "y")
		if err != nil {
			t.Fatal(err)
		}
		if s.Tier != "default" || *s.Order != 1000 || !s.Ingress || s.Egress {
			t.Errorf("tier %s, order %v, ingress %v, egress %v: want default, 1000, ingress only", s.Tier, *s.Order, s.Ingress, s.Egress)
		}
		if diff := cmp.Diff([]string{"y/a"}, s.Endpoints); diff != "" {
			t.Errorf("endpoints (-want +got):\n%s", diff)
		}
		if len(s.IngressRules) != 1 || len(s.EgressRules) != 0 {
			t.Fatalf("rules %+v, want one ingress rule", s)
		}
		r := s.IngressRules[0]
		if r.Action != v3.Allow || r.Match != "TCP" || r.Source.Any || !cmp.Equal(r.Source.Members, []string{"y/b"}) ||
			!r.Destination.Any || !cmp.Equal(r.Destination.Ports, []string{"80"}) {
			t.Errorf("rule %+v: want Allow TCP from y/b to port 80", r)
		}
	})
	t.Run("a global policy with all() applies to every endpoint, and each rule says what it matches", func(t *testing.T) {
		s, err := m.Select("no-udp", "")
		if err != nil {
			t.Fatal(err)
		}
		var all []string
		for _, ep := range m.Endpoints() {
			all = append(all, ep.Name)
		}
		if diff := cmp.Diff(all, s.Endpoints); diff != "" {
			t.Errorf("endpoints (-want +got):\n%s", diff)
		}
		want := []string{"UDP", "ICMP, icmp type 8 code 0", "any protocol"}
		for i, r := range s.IngressRules {
			if r.Match != want[i] {
				t.Errorf("rule %d matches %q, want %q", i, r.Match, want[i])
			}
		}
		if diff := cmp.Diff([]string{"z/a", "z/b", "z/c"}, s.IngressRules[1].Source.Members); diff != "" {
			t.Errorf("rule 1 source members (-want +got):\n%s", diff)
		}
	})
	t.Run("the text names the policy, its endpoints and what each rule matches", func(t *testing.T) {
		s, err := m.Select("c-not-to-z", "x")
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		s.Format(&b)
		for _, want := range []string{
			"NetworkPolicy x/c-not-to-z\n",
			"  tier default, order none, governs egress\n",
			"  applies to 1 endpoint(s):\n    x/c\n",
			"  egress rule 0: Deny any protocol\n    from: anywhere\n    to:   selector pcns.ns == \"z\" (matches: z/a, z/b, z/c)\n",
			"  egress rule 1: Allow any protocol\n",
		} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("the text lacks %q:\n%s", want, b.String())
			}
		}
	})
	t.Run("the JSON lists endpoints and rules", func(t *testing.T) {
		s, err := m.Select("allow-b-to-a", "y")
		if err != nil {
			t.Fatal(err)
		}
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Endpoints    []string
			IngressRules []struct{ Source struct{ Members []string } }
		}
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(got.Endpoints, []string{"y/a"}) || len(got.IngressRules) != 1 || !cmp.Equal(got.IngressRules[0].Source.Members, []string{"y/b"}) {
			t.Errorf("JSON %s: want endpoints [y/a] and one rule from y/b", data)
		}
	})
}

// tierNames lists "tier: policy, policy" per tier.
func tierNames(tiers []engine.TierPolicies) []string {
	var out []string
	for _, t := range tiers {
		var pols []string
		for _, p := range t.Policies {
			pols = append(pols, resourceID(p.Key))
		}
		out = append(out, t.Tier+": "+strings.Join(pols, ", "))
	}
	return out
}

func TestFor(t *testing.T) {
	m := testModel(t)
	tests := []struct {
		name                    string
		endpoint, ns            string
		wantName                string
		wantIngress, wantEgress []string
		wantProfiles            []string
		wantText                []string
	}{
		{
			name: "a pod lists its tiers in order, each with its policies in order, then its profiles", endpoint: "y/a",
			wantName:     "y/a",
			wantIngress:  []string{"security: GlobalNetworkPolicy no-udp", "default: NetworkPolicy y/knp.default.allow-b-to-a"},
			wantProfiles: []string{"kns.y"},
			wantText: []string{
				"y/a (WorkloadEndpoint y/node--2-k8s-a-eth0, 10.100.2.1)\n",
				"ingress:\n  tier security (default action Deny)\n    1. GlobalNetworkPolicy no-udp (order 10)\n  tier default (default action Deny)\n    1. NetworkPolicy y/knp.default.allow-b-to-a (order 1000)\n  if no tier decides: profiles kns.y in order, then deny\n",
				"egress:\n  no policy applies\n  if no tier decides: profiles kns.y in order, then deny\n",
			},
		},
		{
			name: "egress policies are listed for egress, and staged ones are marked", endpoint: "x/b",
			wantName:     "x/b",
			wantIngress:  []string{"security: GlobalNetworkPolicy no-udp", "default: StagedNetworkPolicy x/lock-b"},
			wantProfiles: []string{"kns.x"},
			wantText:     []string{"1. StagedNetworkPolicy x/lock-b (order none, staged)"},
		},
		{
			name: "an endpoint found by address", endpoint: "10.100.1.3",
			wantName:     "x/c",
			wantIngress:  []string{"security: GlobalNetworkPolicy no-udp"},
			wantEgress:   []string{"default: NetworkPolicy x/c-not-to-z"},
			wantProfiles: []string{"kns.x"},
		},
		{
			name: "a host endpoint without profiles is denied what no policy allows", endpoint: "node-1-eth0",
			wantName:    "node-1-eth0",
			wantIngress: []string{"security: GlobalNetworkPolicy no-udp"},
			wantText:    []string{"then deny: the endpoint has no profiles"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := m.For(tt.endpoint, tt.ns)
			if err != nil {
				t.Fatal(err)
			}
			if res.Endpoint.Name != tt.wantName {
				t.Errorf("endpoint %s, want %s", res.Endpoint.Name, tt.wantName)
			}
			if diff := cmp.Diff(tt.wantIngress, tierNames(res.Policy.Ingress)); diff != "" {
				t.Errorf("ingress (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantEgress, tierNames(res.Policy.Egress)); diff != "" {
				t.Errorf("egress (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantProfiles, res.Policy.Profiles); diff != "" {
				t.Errorf("profiles (-want +got):\n%s", diff)
			}
			var b strings.Builder
			res.Format(&b)
			for _, want := range tt.wantText {
				if !strings.Contains(b.String(), want) {
					t.Errorf("the text lacks %q:\n%s", want, b.String())
				}
			}
		})
	}
	t.Run("an unknown endpoint is an error", func(t *testing.T) {
		if _, err := m.For("x/nobody", ""); !errors.Is(err, ErrUnknownEndpoint) {
			t.Errorf("For = %v, want ErrUnknownEndpoint", err)
		}
	})
}
