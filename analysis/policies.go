package analysis

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
)

// policyKinds are the kinds Select looks among, in the order it reports
// them.
var policyKinds = []string{v3.KindNetworkPolicy, v3.KindGlobalNetworkPolicy, v3.KindStagedNetworkPolicy, v3.KindStagedGlobalNetworkPolicy}

// Selection is what a policy applies to and what each of its rules
// matches.
type Selection struct {
	Policy v3.Key   `json:"policy"`
	Tier   string   `json:"tier"`
	Order  *float64 `json:"order,omitempty"`
	Staged bool     `json:"staged,omitempty"`
	// Ingress and Egress say which directions the policy governs.
	Ingress bool `json:"ingress"`
	Egress  bool `json:"egress"`
	// Selector is the effective selector: the policy's own, scoped to its
	// namespace and namespace selector as Felix scopes it.
	Selector string `json:"selector"`
	// Endpoints are the names of the endpoints the policy applies to.
	Endpoints    []string    `json:"endpoints"`
	IngressRules []RuleMatch `json:"ingressRules,omitempty"`
	EgressRules  []RuleMatch `json:"egressRules,omitempty"`
}

// RuleMatch is one rule of a policy and what its two sides match.
type RuleMatch struct {
	Index  int       `json:"index"`
	Action v3.Action `json:"action"`
	// Match summarises the rule's other conditions: protocol, ICMP, IP
	// version, HTTP ("TCP", "ICMP type 8", "any protocol").
	Match       string  `json:"match"`
	Source      PeerSet `json:"source"`
	Destination PeerSet `json:"destination"`
}

// PeerSet is what one side of a rule matches.
type PeerSet struct {
	// Any is true when the side has no selector: any address its nets
	// allow, endpoint or not.
	Any      bool   `json:"any"`
	Selector string `json:"selector,omitempty"`
	// Members are the endpoints (by name) and network sets (by
	// "Kind namespace/name") the selector matches.
	Members     []string `json:"members,omitempty"`
	NotSelector string   `json:"notSelector,omitempty"`
	NotMembers  []string `json:"notMembers,omitempty"`
	Nets        []string `json:"nets,omitempty"`
	NotNets     []string `json:"notNets,omitempty"`
	Ports       []string `json:"ports,omitempty"`
	NotPorts    []string `json:"notPorts,omitempty"`
}

// Select describes the policy a command names (see the package
// documentation): name, optionally "kind/name", with namespace for the
// namespaced kinds ("default" if empty). It fails with ErrUnknownPolicy or
// ErrAmbiguous.
func (m *Model) Select(name, namespace string) (*Selection, error) {
	key, err := m.lookupPolicy(name, namespace)
	if err != nil {
		return nil, err
	}
	pol, _ := m.eng.Policy(key)
	s := &Selection{
		Policy: key, Tier: pol.Tier, Order: pol.Order, Staged: pol.Staged,
		Ingress: pol.Ingress, Egress: pol.Egress, Selector: pol.Selector,
		Endpoints: []string{},
	}
	for _, k := range m.eng.SelectedBy(key) {
		if _, isEndpoint := m.byKey[k]; isEndpoint {
			s.Endpoints = append(s.Endpoints, m.endpointName(k))
		}
	}
	slices.Sort(s.Endpoints)
	for _, d := range []struct {
		dir   engine.Direction
		rules []engine.Rule
		out   *[]RuleMatch
	}{{engine.Ingress, pol.IngressRules, &s.IngressRules}, {engine.Egress, pol.EgressRules, &s.EgressRules}} {
		dir, rules, out := d.dir, d.rules, d.out
		for i := range rules {
			peers, err := m.eng.RulePeers(key, dir, i)
			if err != nil {
				return nil, fmt.Errorf("analysis: select %s: %w", resourceID(key), err)
			}
			r := &rules[i]
			*out = append(*out, RuleMatch{
				Index: i, Action: r.Action, Match: ruleMatch(r),
				Source:      m.peerSet(peers.Source, &r.Source),
				Destination: m.peerSet(peers.Destination, &r.Destination),
			})
		}
	}
	return s, nil
}

// lookupPolicy finds the key of a policy named as calicoctl names it.
func (m *Model) lookupPolicy(name, namespace string) (v3.Key, error) {
	if namespace == "" {
		namespace = defaultNamespace
	}
	kinds := policyKinds
	if kind, rest, ok := strings.Cut(name, "/"); ok {
		info, known := v3.LookupKind(kind)
		if !known || !slices.Contains(policyKinds, info.Kind) {
			return v3.Key{}, fmt.Errorf("%w: %q: %q is not a policy kind", ErrUnknownPolicy, name, kind)
		}
		kinds, name = []string{info.Kind}, rest
	}
	var exact, alias []v3.Key
	var all []string
	for _, o := range m.objs {
		key := v3.KeyOf(o)
		if !slices.Contains(kinds, key.Kind) || (key.Namespace != "" && key.Namespace != namespace) {
			continue
		}
		all = append(all, resourceID(key))
		pol, ok := m.eng.Policy(key)
		if !ok {
			continue
		}
		switch {
		case key.Name == name:
			exact = append(exact, key)
		case name == pol.Tier+"."+key.Name, key.Name == pol.Tier+"."+name, key.Name == v3.KubernetesNetworkPolicyPrefix+name:
			alias = append(alias, key)
		}
	}
	found := exact
	if len(found) == 0 {
		found = alias
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		const most = 10
		slices.Sort(all)
		known := "there are none"
		switch {
		case len(all) > most:
			known = fmt.Sprintf("there are %s, ... (%d in all)", strings.Join(all[:most], ", "), len(all))
		case len(all) > 0:
			known = "there are " + strings.Join(all, ", ")
		}
		return v3.Key{}, fmt.Errorf("%w: %q among the global policies and those of namespace %q: %s", ErrUnknownPolicy, name, namespace, known)
	}
	ids := make([]string, len(found))
	for i, k := range found {
		ids[i] = resourceID(k)
	}
	return v3.Key{}, fmt.Errorf("%w: %q names %s: give the kind too, as in gnp/%s", ErrAmbiguous, name, strings.Join(ids, " and "), name)
}

// ruleMatch summarises the non-peer conditions of a rule.
func ruleMatch(r *engine.Rule) string {
	var parts []string
	switch {
	case r.Protocol != 0:
		parts = append(parts, protocolName(r.Protocol))
	case r.NotProtocol != 0:
		parts = append(parts, "not "+protocolName(r.NotProtocol))
	default:
		parts = append(parts, "any protocol")
	}
	if r.IPVersion != 0 {
		parts = append(parts, fmt.Sprintf("IPv%d", r.IPVersion))
	}
	if r.ICMP != nil {
		parts = append(parts, "icmp "+icmpString(r.ICMP))
	}
	if r.NotICMP != nil {
		parts = append(parts, "not icmp "+icmpString(r.NotICMP))
	}
	if h := r.HTTP; h != nil {
		s := "http"
		if len(h.Methods) > 0 {
			s += " methods " + strings.Join(h.Methods, ",")
		}
		for _, p := range h.Paths {
			if p.Exact != "" {
				s += " path " + p.Exact
			} else {
				s += " path prefix " + p.Prefix
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func protocolName(n int) string {
	for _, name := range protocols {
		if p, _ := v3.ProtocolFromString(name).Number(); p == n {
			return name
		}
	}
	return fmt.Sprintf("protocol %d", n)
}

func icmpString(m *engine.ICMPMatch) string {
	if m.Code < 0 {
		return fmt.Sprintf("type %d", m.Type)
	}
	return fmt.Sprintf("type %d code %d", m.Type, m.Code)
}

// peerSet describes one side of a rule with the members named.
func (m *Model) peerSet(pm engine.PeerMatch, en *engine.Entity) PeerSet {
	ps := PeerSet{
		Any: pm.Any, Selector: pm.Selector, NotSelector: pm.NotSelector,
		Nets: prefixes(pm.Nets), NotNets: prefixes(pm.NotNets),
		Ports: ports(en.Ports, en.NamedPorts), NotPorts: ports(en.NotPorts, en.NotNamedPorts),
	}
	ps.Members = m.memberNames(pm.Members)
	ps.NotMembers = m.memberNames(pm.NotMembers)
	return ps
}

// memberNames names the members of a selector set, sorted.
func (m *Model) memberNames(keys []v3.Key) []string {
	var names []string
	for _, k := range keys {
		names = append(names, m.endpointName(k))
	}
	slices.Sort(names)
	return names
}

func prefixes(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func ports(ranges []engine.PortRange, names []string) []string {
	var out []string
	for _, r := range ranges {
		out = append(out, r.String())
	}
	return append(out, names...)
}

// Format writes the selection: the policy, the endpoints it applies to,
// then each rule with the endpoints and networks its sides match.
func (s *Selection) Format(w io.Writer) {
	fmt.Fprintf(w, "%s\n", resourceID(s.Policy))
	var types []string
	if s.Ingress {
		types = append(types, "ingress")
	}
	if s.Egress {
		types = append(types, "egress")
	}
	staged := ""
	if s.Staged {
		staged = ", staged (never enforced)"
	}
	fmt.Fprintf(w, "  tier %s, order %s, governs %s%s\n", s.Tier, orderString(s.Order), orNone(strings.Join(types, " and ")), staged)
	fmt.Fprintf(w, "  selector: %s\n", s.Selector)
	fmt.Fprintf(w, "  applies to %d endpoint(s)%s\n", len(s.Endpoints), colonIf(len(s.Endpoints) > 0))
	for _, name := range s.Endpoints {
		fmt.Fprintf(w, "    %s\n", name)
	}
	for _, d := range []struct {
		name  string
		rules []RuleMatch
	}{{"ingress", s.IngressRules}, {"egress", s.EgressRules}} {
		for _, r := range d.rules {
			fmt.Fprintf(w, "  %s rule %d: %s %s\n", d.name, r.Index, r.Action, r.Match)
			fmt.Fprintf(w, "    from: %s\n", r.Source)
			fmt.Fprintf(w, "    to:   %s\n", r.Destination)
		}
	}
}

// String describes the peer set in one line.
func (p PeerSet) String() string {
	var parts []string
	if p.Any && len(p.Nets) == 0 && len(p.NotNets) == 0 && p.NotSelector == "" {
		parts = append(parts, "anywhere")
	}
	if len(p.Nets) > 0 {
		parts = append(parts, "nets "+strings.Join(p.Nets, ", "))
	}
	if len(p.NotNets) > 0 {
		parts = append(parts, "not nets "+strings.Join(p.NotNets, ", "))
	}
	if p.Selector != "" {
		parts = append(parts, fmt.Sprintf("selector %s (%s)", p.Selector, members("matches", p.Members)))
	}
	if p.NotSelector != "" {
		parts = append(parts, fmt.Sprintf("not selector %s (%s)", p.NotSelector, members("excludes", p.NotMembers)))
	}
	if len(p.Ports) > 0 {
		parts = append(parts, "ports "+strings.Join(p.Ports, ", "))
	}
	if len(p.NotPorts) > 0 {
		parts = append(parts, "not ports "+strings.Join(p.NotPorts, ", "))
	}
	return strings.Join(parts, "; ")
}

// members says what a selector matches (verb "matches") or excludes.
func members(verb string, names []string) string {
	if len(names) == 0 {
		return verb + " nothing in the model"
	}
	return verb + ": " + strings.Join(names, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

func colonIf(b bool) string {
	if b {
		return ":"
	}
	return ""
}

// EndpointPolicies is what applies to one endpoint, in evaluation order.
type EndpointPolicies struct {
	Endpoint Endpoint               `json:"endpoint"`
	Policy   *engine.EndpointPolicy `json:"policy"`
}

// For returns the tiers, policies and profiles that apply to the endpoint
// a command names (see Model.Endpoint), per direction in the order the
// engine walks them.
func (m *Model) For(spec, namespace string) (*EndpointPolicies, error) {
	ep, err := m.Endpoint(spec, namespace)
	if err != nil {
		return nil, err
	}
	pol, ok := m.eng.PoliciesFor(ep.Key)
	if !ok {
		return nil, fmt.Errorf("analysis: policies for %s: %w", ep.Name, ErrUnknownEndpoint)
	}
	return &EndpointPolicies{Endpoint: ep, Policy: pol}, nil
}

// Format writes, per direction, the tiers in order with their policies in
// order, then the profiles consulted when no tier decides.
func (e *EndpointPolicies) Format(w io.Writer) {
	ep := e.Endpoint
	addrs := make([]string, len(ep.Addrs))
	for i, a := range ep.Addrs {
		addrs[i] = a.String()
	}
	fmt.Fprintf(w, "%s (%s", ep.Name, resourceID(ep.Key))
	if len(addrs) > 0 {
		fmt.Fprintf(w, ", %s", strings.Join(addrs, ", "))
	}
	fmt.Fprintln(w, ")")
	p := e.Policy
	profiles := "then deny: the endpoint has no profiles"
	if len(p.Profiles) > 0 {
		profiles = "if no tier decides: profiles " + strings.Join(p.Profiles, ", ") + " in order, then deny"
	}
	for _, l := range []struct {
		name     string
		tiers    []engine.TierPolicies
		profiles bool
	}{
		{"ingress", p.Ingress, true},
		{"egress", p.Egress, true},
		{"untracked ingress (doNotTrack)", p.UntrackedIngress, false},
		{"untracked egress (doNotTrack)", p.UntrackedEgress, false},
		{"pre-DNAT ingress", p.PreDNATIngress, false},
		{"forwarded ingress (applyOnForward)", p.ForwardIngress, false},
		{"forwarded egress (applyOnForward)", p.ForwardEgress, false},
	} {
		if !l.profiles && len(l.tiers) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s:\n", l.name)
		if len(l.tiers) == 0 {
			fmt.Fprintln(w, "  no policy applies")
		}
		for _, t := range l.tiers {
			fmt.Fprintf(w, "  tier %s (default action %s)\n", t.Tier, t.DefaultAction)
			for i, ref := range t.Policies {
				staged := ""
				if ref.Staged {
					staged = ", staged"
				}
				fmt.Fprintf(w, "    %d. %s (order %s%s)\n", i+1, resourceID(ref.Key), orderString(ref.Order), staged)
			}
		}
		if l.profiles {
			fmt.Fprintf(w, "  %s\n", profiles)
		}
	}
}
