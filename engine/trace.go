package engine

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// Trace records how a flow was evaluated, direction by direction. Its JSON
// field names are stable: calicoctl prints it with -o json.
type Trace struct {
	Egress  *DirectionTrace `json:"egress,omitempty"`
	Ingress *DirectionTrace `json:"ingress,omitempty"`
}

// DirectionTrace is the walk of one endpoint's policy in one direction:
// the tiers and profiles consulted, in order, and the verdict.
type DirectionTrace struct {
	Direction Direction      `json:"direction"`
	Endpoint  v3.Key         `json:"endpoint,omitzero"`
	Tiers     []TierTrace    `json:"tiers,omitempty"`
	Profiles  []ProfileTrace `json:"profiles,omitempty"`
	Verdict   v3.Action      `json:"verdict"`
	Reason    Reason         `json:"reason"`
	// Detail says in a sentence what decided.
	Detail string `json:"detail"`
}

// TierTrace is one tier in which at least one policy applied.
type TierTrace struct {
	Tier string `json:"tier"`
	// Missing is true when no Tier resource exists: the tier sorts last.
	Missing       bool          `json:"missing,omitempty"`
	DefaultAction v3.Action     `json:"defaultAction"`
	Policies      []PolicyTrace `json:"policies"`
	Outcome       Outcome       `json:"outcome"`
}

// PolicyTrace is one policy consulted and the rules it ran.
type PolicyTrace struct {
	Policy  v3.Key      `json:"policy"`
	Order   *float64    `json:"order,omitempty"`
	Staged  bool        `json:"staged,omitempty"`
	Rules   []RuleTrace `json:"rules"`
	Outcome Outcome     `json:"outcome"`
}

// ProfileTrace is one profile consulted.
type ProfileTrace struct {
	Profile string `json:"profile"`
	// Missing is true when the endpoint names a profile that does not
	// exist; it is skipped.
	Missing bool        `json:"missing,omitempty"`
	Rules   []RuleTrace `json:"rules"`
	Outcome Outcome     `json:"outcome"`
}

// RuleTrace is one rule tried: whether it matched and, if not, the first
// field that did not ("destination.ports: 81 not in [80]").
type RuleTrace struct {
	Index    int       `json:"index"`
	Action   v3.Action `json:"action"`
	Matched  bool      `json:"matched"`
	Mismatch string    `json:"mismatch,omitempty"`
}

// Outcome is how a tier, policy or profile ended.
type Outcome string

// The outcomes.
const (
	OutcomeAllow Outcome = "allow"
	OutcomeDeny  Outcome = "deny"
	OutcomePass  Outcome = "pass"
	// OutcomeNoMatch: no rule decided; evaluation went on.
	OutcomeNoMatch Outcome = "no-match"
	// OutcomeEndOfTierDeny: the tier applied and nothing decided or passed.
	OutcomeEndOfTierDeny Outcome = "end-of-tier-deny"
	// OutcomeDefaultPass: as above, but the tier's defaultAction is Pass.
	OutcomeDefaultPass Outcome = "default-pass"
)

func outcomeOf(a v3.Action) Outcome {
	switch a {
	case v3.Allow:
		return OutcomeAllow
	case v3.Deny:
		return OutcomeDeny
	case v3.Pass:
		return OutcomePass
	}
	return OutcomeNoMatch
}

// describe says in words what decided a direction.
func (r *DirectionResult) describe(dir Direction) string {
	verb := "allowed"
	if r.Verdict == v3.Deny {
		verb = "denied"
	}
	switch r.Reason {
	case ReasonRule:
		return fmt.Sprintf("%s by %s rule %d of %s in tier %q", verb, dir, r.Rule, r.Policy, r.Tier)
	case ReasonEndOfTier:
		return fmt.Sprintf("denied at the end of tier %q: its policies applied but none allowed or passed the traffic", r.Tier)
	case ReasonProfile:
		return fmt.Sprintf("%s by %s rule %d of profile %q", verb, dir, r.Rule, r.Profile)
	case ReasonDefaultDeny:
		return "denied by default: no policy or profile allowed the traffic"
	case ReasonNoEndpoint:
		return "allowed: the peer on this side is not an endpoint, so no policy applies"
	}
	return verb
}

// describe explains a rule mismatch, naming the field as it is written in
// the policy.
func (f failure) describe(r *Rule, fc *flowCtx) string {
	side, en, peer, port := "source", &r.Source, &fc.src, fc.f.SrcPort
	if f.dst {
		side, en, peer, port = "destination", &r.Destination, &fc.dst, fc.f.DstPort
	}
	proto := fc.f.Protocol
	switch f.code {
	case failIPVersion:
		return fmt.Sprintf("ipVersion: flow is IPv%d, rule wants IPv%d", fc.version, r.IPVersion)
	case failProtocol:
		return fmt.Sprintf("protocol: %d is not %d", proto, r.Protocol)
	case failNotProtocol:
		return fmt.Sprintf("notProtocol: %d is excluded", proto)
	case failICMP:
		if fc.f.ICMP == nil {
			return fmt.Sprintf("icmp: flow has no ICMP type, rule wants %s", icmpString(r.ICMP))
		}
		return fmt.Sprintf("icmp: type %d code %d does not match %s", fc.f.ICMP.Type, fc.f.ICMP.Code, icmpString(r.ICMP))
	case failNotICMP:
		return fmt.Sprintf("notICMP: type %d code %d is excluded by %s", fc.f.ICMP.Type, fc.f.ICMP.Code, icmpString(r.NotICMP))
	case failNets:
		return fmt.Sprintf("%s.nets: %s not in %s", side, addrString(peer), listString(en.Nets))
	case failNotNets:
		return fmt.Sprintf("%s.notNets: %s is in %s", side, addrString(peer), listString(en.NotNets))
	case failSelector:
		return fmt.Sprintf("%s.selector: %s matches none of %s", side, en.Selector, candidates(peer))
	case failNotSelector:
		return fmt.Sprintf("%s.notSelector: %s matches one of %s", side, en.NotSelector, candidates(peer))
	case failPortProtocol:
		return fmt.Sprintf("%s.ports: protocol %d has no ports", side, proto)
	case failNotPortProtocol:
		return fmt.Sprintf("%s.notPorts: protocol %d has no ports", side, proto)
	case failPorts:
		return fmt.Sprintf("%s.ports: %d not in %s", side, port, portsString(en.Ports, en.NamedPorts))
	case failNotPorts:
		return fmt.Sprintf("%s.notPorts: %d is in %s", side, port, portsString(en.NotPorts, en.NotNamedPorts))
	case failHTTP:
		return "http: the flow carries no HTTP request, and rules with http match only HTTP traffic"
	case failHTTPMethod:
		return fmt.Sprintf("http.methods: %s not in %v", fc.f.HTTP.Method, r.HTTP.Methods)
	case failHTTPPath:
		paths := make([]string, len(r.HTTP.Paths))
		for i, p := range r.HTTP.Paths {
			if p.Exact != "" {
				paths[i] = "exact " + p.Exact
			} else {
				paths[i] = "prefix " + p.Prefix
			}
		}
		return fmt.Sprintf("http.paths: %s matches none of [%s]", requestPath(fc.f.HTTP.Path), strings.Join(paths, ", "))
	}
	return ""
}

func icmpString(m *ICMPMatch) string {
	if m.Code < 0 {
		return fmt.Sprintf("type %d", m.Type)
	}
	return fmt.Sprintf("type %d code %d", m.Type, m.Code)
}

func addrString(p *peerCtx) string {
	if !p.ip.IsValid() {
		return "(no address)"
	}
	return p.ip.String()
}

func listString[T fmt.Stringer](xs []T) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = x.String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func portsString(ranges []PortRange, names []string) string {
	parts := make([]string, 0, len(ranges)+len(names))
	for _, r := range ranges {
		parts = append(parts, r.String())
	}
	parts = append(parts, names...)
	return "[" + strings.Join(parts, ", ") + "]"
}

// candidates lists what a rule selector was tried against on one side.
func candidates(p *peerCtx) string {
	if p.n == 0 {
		return fmt.Sprintf("[] (no endpoint or network set has %s)", addrString(p))
	}
	parts := make([]string, p.n)
	for i := range p.n {
		parts[i] = p.at(i).key.String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// String returns the trace as indented text, egress first.
func (t Trace) String() string {
	var b strings.Builder
	t.Format(&b)
	return b.String()
}

// Format writes the trace as indented text to w.
func (t Trace) Format(w io.Writer) {
	for _, dt := range []*DirectionTrace{t.Egress, t.Ingress} {
		if dt != nil {
			dt.format(w)
		}
	}
}

func (dt *DirectionTrace) format(w io.Writer) {
	at := "no endpoint"
	if dt.Endpoint != (v3.Key{}) {
		at = dt.Endpoint.String()
	}
	fmt.Fprintf(w, "%s at %s:\n", dt.Direction, at)
	for _, tt := range dt.Tiers {
		missing := ""
		if tt.Missing {
			missing = ", no Tier resource"
		}
		fmt.Fprintf(w, "  tier %s (defaultAction %s%s)\n", tt.Tier, tt.DefaultAction, missing)
		for _, pt := range tt.Policies {
			staged := ""
			if pt.Staged {
				staged = " [staged]"
			}
			fmt.Fprintf(w, "    policy %s order %s%s\n", pt.Policy, orderString(pt.Order), staged)
			formatRules(w, "      ", pt.Rules)
			fmt.Fprintf(w, "      => %s\n", pt.Outcome)
		}
		fmt.Fprintf(w, "    => %s\n", tt.Outcome)
	}
	for _, pt := range dt.Profiles {
		if pt.Missing {
			fmt.Fprintf(w, "  profile %s: does not exist, skipped\n", pt.Profile)
			continue
		}
		fmt.Fprintf(w, "  profile %s\n", pt.Profile)
		formatRules(w, "    ", pt.Rules)
		fmt.Fprintf(w, "    => %s\n", pt.Outcome)
	}
	fmt.Fprintf(w, "  %s: %s\n", strings.ToUpper(string(dt.Verdict)), dt.Detail)
}

func formatRules(w io.Writer, indent string, rules []RuleTrace) {
	if len(rules) == 0 {
		fmt.Fprintf(w, "%s(no rules)\n", indent)
	}
	for _, rt := range rules {
		if rt.Matched {
			fmt.Fprintf(w, "%srule %d %s: matched\n", indent, rt.Index, rt.Action)
		} else {
			fmt.Fprintf(w, "%srule %d %s: no match: %s\n", indent, rt.Index, rt.Action, rt.Mismatch)
		}
	}
}

func orderString(o *float64) string {
	if o == nil {
		return "none"
	}
	return strconv.FormatFloat(*o, 'g', -1, 64)
}
