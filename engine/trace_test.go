package engine

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// traceWorld is a security tier that passes what it does not deny, then a
// default-tier policy whose only allow rule is for another port.
func traceWorld(t *testing.T) *Engine {
	return newEngine(t, append(baseWorld(),
		tier("security", ptr(100.0), v3.Pass),
		webIngressGlobal("sec", "security", nil, v3.Rule{Action: v3.Deny, Source: v3.EntityRule{Selector: "app == 'evil'"}}),
		webIngress("web-p", ptr(10.0), allowTo(v3.EntityRule{Ports: ports(v3.SinglePort(80))}), v3.Rule{Action: v3.Log}),
	)...)
}

func TestTraceContent(t *testing.T) {
	e := traceWorld(t)
	got, err := e.EvaluateWithTrace(tcpFlow(client, web, 8080))
	if err != nil {
		t.Fatal(err)
	}
	want := Trace{
		Egress: &DirectionTrace{
			Direction: Egress,
			Endpoint:  wepKey("dev", "client"),
			Profiles: []ProfileTrace{{
				Profile: "kns.dev",
				Rules:   []RuleTrace{{Index: 0, Action: v3.Allow, Matched: true}},
				Outcome: OutcomeAllow,
			}},
			Verdict: v3.Allow,
			Reason:  ReasonProfile,
			Detail:  `allowed by egress rule 0 of profile "kns.dev"`,
		},
		Ingress: &DirectionTrace{
			Direction: Ingress,
			Endpoint:  wepKey("prod", "web"),
			Tiers: []TierTrace{
				{
					Tier: "security", DefaultAction: v3.Pass, Outcome: OutcomeDefaultPass,
					Policies: []PolicyTrace{{
						Policy: gnpKey("sec"),
						Rules: []RuleTrace{{Index: 0, Action: v3.Deny,
							Mismatch: `source.selector: app == "evil" matches none of [WorkloadEndpoint(dev/client)]`}},
						Outcome: OutcomeNoMatch,
					}},
				},
				{
					Tier: "default", DefaultAction: v3.Deny, Outcome: OutcomeEndOfTierDeny,
					Policies: []PolicyTrace{{
						Policy: npKey("prod", "web-p"),
						Order:  ptr(10.0),
						Rules: []RuleTrace{
							{Index: 0, Action: v3.Allow, Mismatch: "destination.ports: 8080 not in [80]"},
							{Index: 1, Action: v3.Log, Matched: true},
						},
						Outcome: OutcomeNoMatch,
					}},
				},
			},
			Verdict: v3.Deny,
			Reason:  ReasonEndOfTier,
			Detail:  `denied at the end of tier "default": its policies applied but none allowed or passed the traffic`,
		},
	}
	t.Run("the trace lists every tier, policy and rule consulted", func(t *testing.T) {
		if diff := cmp.Diff(want, got.Trace); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("the trace round-trips through JSON", func(t *testing.T) {
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		var back Result
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, back); diff != "" {
			t.Errorf("(-before +after):\n%s", diff)
		}
	})
	t.Run("the JSON uses the documented field names", func(t *testing.T) {
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		for _, field := range []string{`"verdict":"Deny"`, `"reason":"end-of-tier"`, `"direction":"ingress"`, `"tiers":[`,
			`"defaultAction":"Pass"`, `"outcome":"end-of-tier-deny"`, `"mismatch":"destination.ports: 8080 not in [80]"`,
			`"matched":true`, `"profile":"kns.dev"`, `"logged":[`} {
			if !strings.Contains(string(b), field) {
				t.Errorf("JSON lacks %s:\n%s", field, b)
			}
		}
	})
	t.Run("the text form reads top to bottom", func(t *testing.T) {
		text := got.Trace.String()
		for _, line := range []string{
			"egress at WorkloadEndpoint(dev/client):",
			"  profile kns.dev",
			"  ALLOW: allowed by egress rule 0 of profile \"kns.dev\"",
			"ingress at WorkloadEndpoint(prod/web):",
			"  tier security (defaultAction Pass)",
			"    policy GlobalNetworkPolicy(sec) order none",
			`      rule 0 Deny: no match: source.selector: app == "evil" matches none of [WorkloadEndpoint(dev/client)]`,
			"    => default-pass",
			"    policy NetworkPolicy(prod/web-p) order 10",
			"      rule 0 Allow: no match: destination.ports: 8080 not in [80]",
			"      rule 1 Log: matched",
			"    => end-of-tier-deny",
			"  DENY: denied at the end of tier \"default\"",
		} {
			if !strings.Contains(text, line) {
				t.Errorf("text lacks %q:\n%s", line, text)
			}
		}
	})
	t.Run("a plain evaluation has no trace", func(t *testing.T) {
		plain, err := e.Evaluate(tcpFlow(client, web, 8080))
		if err != nil {
			t.Fatal(err)
		}
		if plain.Trace.Egress != nil || plain.Trace.Ingress != nil {
			t.Errorf("trace %v", plain.Trace)
		}
	})
}

func TestTraceNames(t *testing.T) {
	e := newEngine(t, append(baseWorld(),
		webIngressGlobal("ghost-policy", "ghost", nil, v3.Rule{Action: v3.Pass}),
		pod("prod", "web", "10.0.1.1", map[string]string{"app": "web"}, withProfiles("nope", "kns.prod")),
	)...)
	got, err := e.EvaluateWithTrace(tcpFlow(ipPeer("8.8.8.8"), web, 8080))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ok   bool
	}{
		{"a side without endpoint says so", got.Trace.Egress.Reason == ReasonNoEndpoint && strings.Contains(got.Trace.String(), "egress at no endpoint")},
		{"a tier without a Tier resource is marked missing", len(got.Trace.Ingress.Tiers) == 1 && got.Trace.Ingress.Tiers[0].Missing},
		{"a pass is recorded on the policy and the tier", got.Trace.Ingress.Tiers[0].Outcome == OutcomePass && got.Trace.Ingress.Tiers[0].Policies[0].Outcome == OutcomePass},
		{"a profile that does not exist is marked missing", len(got.Trace.Ingress.Profiles) == 2 && got.Trace.Ingress.Profiles[0].Missing},
		{"the text form names the missing profile", strings.Contains(got.Trace.String(), "profile nope: does not exist, skipped")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ok {
				t.Errorf("not so:\n%s", got.Trace)
			}
		})
	}
}
