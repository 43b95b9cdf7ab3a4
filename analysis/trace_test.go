package analysis

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
)

// decision is what decided one direction of a traced flow.
type decision struct {
	reason engine.Reason
	// by is the deciding policy ("NetworkPolicy y/allow") or profile, and
	// rule its rule; both empty for no-endpoint and end-of-tier.
	by   string
	rule int
	tier string
}

func decided(d engine.DirectionResult) decision {
	got := decision{reason: d.Reason, rule: d.Rule, tier: d.Tier}
	switch d.Reason {
	case engine.ReasonRule:
		got.by = resourceID(d.Policy)
	case engine.ReasonProfile:
		got.by = d.Profile
	default:
		got.rule = 0
	}
	return got
}

func TestTrace(t *testing.T) {
	m := testModel(t)
	profile := func(name string) decision { return decision{reason: engine.ReasonProfile, by: name} }
	tests := []struct {
		name            string
		flow            FlowSpec
		verdict         v3.Action
		egress, ingress decision
		// text are substrings of the formatted trace, in order.
		text []string
	}{
		{
			name:    "a flow no policy decides is allowed by the namespace profiles after the security tier passes it",
			flow:    FlowSpec{From: "x/a", To: "z/b", Protocol: "TCP", Port: 80},
			verdict: v3.Allow,
			egress:  profile("kns.x"),
			ingress: profile("kns.z"),
			text: []string{
				"TCP from x/a (10.100.1.1) to z/b (10.100.3.2) port 80",
				"egress at x/a:", "no policy applies", "profile kns.x", "rule 0 Allow: matched",
				"ingress at z/b:", "tier security (default action Deny)", "GlobalNetworkPolicy no-udp (order 10)",
				"rule 0 Deny: no match: protocol: 6 is not 17", "rule 2 Pass: matched", "-> pass",
				"Verdict: Allow",
				"egress at x/a (10.100.1.1): allowed by rule 0 (Allow) of profile kns.x",
				"ingress at z/b (10.100.3.2): allowed by rule 0 (Allow) of profile kns.z",
			},
		},
		{
			name:    "a policy that applies and matches nothing ends its tier in a deny, naming the field that failed",
			flow:    FlowSpec{From: "x/c", To: "y/a", Protocol: "TCP", Port: 80},
			verdict: v3.Deny,
			egress:  decision{reason: engine.ReasonRule, by: "NetworkPolicy x/c-not-to-z", rule: 1, tier: "default"},
			ingress: decision{reason: engine.ReasonEndOfTier, tier: "default"},
			text: []string{
				"NetworkPolicy y/knp.default.allow-b-to-a (order 1000)",
				"rule 0 Allow: no match: source.selector: ",
				"matches none of [x/c]",
				"-> end-of-tier-deny",
				"Verdict: Deny",
				`ingress at y/a (10.100.2.1): denied at the end of tier "default"`,
			},
		},
		{
			name:    "a port the rule does not list fails on destination.ports",
			flow:    FlowSpec{From: "y/b", To: "y/a", Protocol: "TCP", Port: 81},
			verdict: v3.Deny,
			egress:  profile("kns.y"),
			ingress: decision{reason: engine.ReasonEndOfTier, tier: "default"},
			text:    []string{"rule 0 Allow: no match: destination.ports: 81 not in [80]"},
		},
		{
			name:    "the peer and port a Kubernetes policy names are allowed by its rule",
			flow:    FlowSpec{From: "y/b", To: "y/a", Protocol: "TCP", Port: 80},
			verdict: v3.Allow,
			egress:  profile("kns.y"),
			ingress: decision{reason: engine.ReasonRule, by: "NetworkPolicy y/knp.default.allow-b-to-a", rule: 0, tier: "default"},
			text:    []string{`allowed by rule 0 (Allow) of NetworkPolicy y/knp.default.allow-b-to-a in tier "default"`},
		},
		{
			name:    "an egress Deny rule decides at the source",
			flow:    FlowSpec{From: "x/c", To: "z/a", Protocol: "UDP", Port: 80},
			verdict: v3.Deny,
			egress:  decision{reason: engine.ReasonRule, by: "NetworkPolicy x/c-not-to-z", rule: 0, tier: "default"},
			ingress: profile("kns.z"),
			text:    []string{"egress at x/c (10.100.1.3): denied by rule 0 (Deny) of NetworkPolicy x/c-not-to-z"},
		},
		{
			name:    "a Deny in an earlier tier wins over an Allow in a later one",
			flow:    FlowSpec{From: "y/b", To: "y/a", Protocol: "UDP", Port: 81},
			verdict: v3.Deny,
			egress:  profile("kns.y"),
			ingress: decision{reason: engine.ReasonRule, by: "GlobalNetworkPolicy no-udp", rule: 0, tier: "security"},
		},
		{
			name:    "an ICMP type and code a rule names match it",
			flow:    FlowSpec{From: "z/a", To: "x/a", Protocol: "icmp", ICMP: &engine.ICMP{Type: 8, Code: 0}},
			verdict: v3.Deny,
			egress:  profile("kns.z"),
			ingress: decision{reason: engine.ReasonRule, by: "GlobalNetworkPolicy no-udp", rule: 1, tier: "security"},
			text:    []string{"ICMP from z/a (10.100.3.1) to x/a (10.100.1.1) type 8 code 0", "rule 1 Deny: matched"},
		},
		{
			name:    "an ICMP type a rule does not name fails on icmp",
			flow:    FlowSpec{From: "z/a", To: "x/a", Protocol: "1", ICMP: &engine.ICMP{Type: 0, Code: 0}},
			verdict: v3.Allow,
			egress:  profile("kns.z"),
			ingress: profile("kns.x"),
			text:    []string{"rule 1 Deny: no match: icmp: type 0 code 0 does not match type 8 code 0"},
		},
		{
			name:    "an address no endpoint holds is outside the cluster: no policy applies on its side",
			flow:    FlowSpec{From: "192.0.2.1", To: "x/a", Protocol: "TCP", Port: 80},
			verdict: v3.Allow,
			egress:  decision{reason: engine.ReasonNoEndpoint},
			ingress: profile("kns.x"),
			text:    []string{"TCP from 192.0.2.1 to x/a", "egress at 192.0.2.1:\n  not an endpoint: no policy applies\n  => ALLOW", "egress: allowed: the peer is not an endpoint"},
		},
		{
			name:    "an address an endpoint holds is that endpoint, and its policy applies",
			flow:    FlowSpec{From: "10.100.1.3", To: "10.100.3.1", Protocol: "TCP", Port: 80},
			verdict: v3.Deny,
			egress:  decision{reason: engine.ReasonRule, by: "NetworkPolicy x/c-not-to-z", rule: 0, tier: "default"},
			ingress: profile("kns.z"),
			text:    []string{"TCP from x/c (10.100.1.3) to z/a (10.100.3.1) port 80"},
		},
		{
			name:    "a rule with an http match does not match a flow without a request",
			flow:    FlowSpec{From: "x/a", To: "z/c", Protocol: "TCP", Port: 80},
			verdict: v3.Deny,
			egress:  profile("kns.x"),
			ingress: decision{reason: engine.ReasonEndOfTier, tier: "default"},
			text:    []string{"rule 0 Allow: no match: http: the flow carries no HTTP request"},
		},
		{
			name:    "an HTTP request with the method and path prefix a rule names is allowed",
			flow:    FlowSpec{From: "x/a", To: "z/c", Protocol: "TCP", Port: 80, HTTP: &engine.HTTPRequest{Method: "GET", Path: "/public/index.html"}},
			verdict: v3.Allow,
			egress:  profile("kns.x"),
			ingress: decision{reason: engine.ReasonRule, by: "NetworkPolicy z/public-http", rule: 0, tier: "default"},
			text:    []string{"TCP from x/a (10.100.1.1) to z/c (10.100.3.3) port 80, HTTP GET /public/index.html"},
		},
		{
			name:    "an HTTP method a rule does not list fails on http.methods",
			flow:    FlowSpec{From: "x/a", To: "z/c", Protocol: "TCP", Port: 80, HTTP: &engine.HTTPRequest{Method: "POST", Path: "/public"}},
			verdict: v3.Deny,
			egress:  profile("kns.x"),
			ingress: decision{reason: engine.ReasonEndOfTier, tier: "default"},
			text:    []string{"no match: http.methods: POST not in [GET]"},
		},
		{
			name:    "peers named without a namespace are looked up in the flow's namespace",
			flow:    FlowSpec{From: "b", To: "a", Namespace: "y", Protocol: "TCP", Port: 80},
			verdict: v3.Allow,
			egress:  profile("kns.y"),
			ingress: decision{reason: engine.ReasonRule, by: "NetworkPolicy y/knp.default.allow-b-to-a", rule: 0, tier: "default"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := m.Trace(tt.flow)
			if err != nil {
				t.Fatalf("Trace: %v", err)
			}
			var b strings.Builder
			res.Format(&b)
			text := b.String()
			if res.Verdict != tt.verdict {
				t.Errorf("verdict %s, want %s\n%s", res.Verdict, tt.verdict, text)
			}
			if got := decided(res.Egress); got != tt.egress {
				t.Errorf("egress decided by %+v, want %+v\n%s", got, tt.egress, text)
			}
			if got := decided(res.Ingress); got != tt.ingress {
				t.Errorf("ingress decided by %+v, want %+v\n%s", got, tt.ingress, text)
			}
			rest := text
			for _, want := range tt.text {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Fatalf("the trace lacks %q (in order):\n%s", want, text)
				}
				rest = rest[i+len(want):]
			}
		})
	}
}

func TestTraceStaged(t *testing.T) {
	m := testModel(t)
	res, err := m.Trace(FlowSpec{From: "x/a", To: "x/b", Protocol: "TCP", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	res.Format(&b)
	t.Run("a staged policy never changes the enforced verdict", func(t *testing.T) {
		if res.Verdict != v3.Allow {
			t.Errorf("verdict %s, want Allow:\n%s", res.Verdict, b.String())
		}
	})
	t.Run("the verdict staged policies would give is traced after the enforced one", func(t *testing.T) {
		if res.Staged == nil || res.Staged.Verdict != v3.Deny || res.Staged.Ingress.Reason != engine.ReasonEndOfTier {
			t.Fatalf("staged result %+v, want an end-of-tier Deny:\n%s", res.Staged, b.String())
		}
		text := b.String()
		i := strings.Index(text, "With staged policies enforced:")
		if i < 0 || !strings.Contains(text[i:], "StagedNetworkPolicy x/lock-b (order none, staged)") || !strings.Contains(text[i:], "  Verdict: Deny") {
			t.Errorf("the text lacks the staged walk:\n%s", text)
		}
	})
}

func TestTraceJSON(t *testing.T) {
	m := testModel(t)
	res, err := m.Trace(FlowSpec{From: "x/c", To: "y/a", Protocol: "TCP", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Verdict string
		From    struct{ Name, IP string }
		Trace   struct {
			Ingress struct {
				Tiers []struct {
					Tier     string
					Policies []struct {
						Rules []struct{ Mismatch string }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	t.Run("the JSON carries the verdict, the peers and the engine's trace", func(t *testing.T) {
		if got.Verdict != "Deny" || got.From.Name != "x/c" || got.From.IP != "10.100.1.3" {
			t.Errorf("verdict %q from %+v, want Deny from x/c at 10.100.1.3: %s", got.Verdict, got.From, data)
		}
		tiers := got.Trace.Ingress.Tiers
		if len(tiers) != 2 || tiers[1].Tier != "default" || !strings.HasPrefix(tiers[1].Policies[0].Rules[0].Mismatch, "source.selector") {
			t.Errorf("ingress trace %+v, want tiers security and default, the latter failing on source.selector", tiers)
		}
	})
}

func TestTraceErrors(t *testing.T) {
	m := testModel(t)
	tests := []struct {
		name   string
		flow   FlowSpec
		wantIs error
		want   string
	}{
		{"an endpoint that does not exist", FlowSpec{From: "x/nobody", To: "x/a", Protocol: "TCP", Port: 80}, ErrUnknownEndpoint, `from: analysis: no such endpoint: "x/nobody"`},
		{"a workload with several endpoints named by its workload", FlowSpec{From: "x/a", To: "region/vm1", Protocol: "TCP", Port: 80}, ErrAmbiguous, "region/compute-openstack-vm1-tap1, region/compute-openstack-vm1-tap2"},
		{"an unknown protocol", FlowSpec{From: "x/a", To: "x/b", Protocol: "GRE", Port: 80}, ErrInvalidFlow, `unknown protocol "GRE"`},
		{"a protocol number out of range", FlowSpec{From: "x/a", To: "x/b", Protocol: "256"}, ErrInvalidFlow, "protocol 256 is not in 1-255"},
		{"TCP without a port", FlowSpec{From: "x/a", To: "x/b", Protocol: "TCP"}, ErrInvalidFlow, "TCP needs a destination port"},
		{"a port on ICMP", FlowSpec{From: "x/a", To: "x/b", Protocol: "ICMP", Port: 80}, ErrInvalidFlow, "ICMP has no ports"},
		{"an ICMP type on TCP", FlowSpec{From: "x/a", To: "x/b", Protocol: "TCP", Port: 80, ICMP: &engine.ICMP{Type: 8}}, ErrInvalidFlow, "need protocol ICMP or ICMPv6"},
		{"an HTTP request over UDP", FlowSpec{From: "x/a", To: "x/b", Protocol: "UDP", Port: 80, HTTP: &engine.HTTPRequest{Method: "GET", Path: "/"}}, ErrInvalidFlow, "an HTTP request needs protocol TCP"},
		{"peers of different IP versions", FlowSpec{From: "x/a", To: "2001:db8::1", Protocol: "TCP", Port: 80}, ErrInvalidFlow, "different IP versions"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is an error", func(t *testing.T) {
			_, err := m.Trace(tt.flow)
			if !errors.Is(err, tt.wantIs) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Trace = %v, want an error wrapping %v containing %q", err, tt.wantIs, tt.want)
			}
		})
	}
}
