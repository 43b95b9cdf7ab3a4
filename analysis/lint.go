package analysis

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
)

// Severity ranks a lint finding.
type Severity int

// The severities, least severe first.
const (
	// Info: worth knowing, usually harmless.
	Info Severity = iota
	// Warning: probably not what the author meant.
	Warning
	// Error: traffic is denied or allowed in a way the policy cannot have
	// meant.
	Error
)

var severityNames = []string{"info", "warning", "error"}

// String returns "info", "warning" or "error".
func (s Severity) String() string {
	if s < Info || s > Error {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// MarshalText encodes the severity as String does.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText accepts what ParseSeverity accepts.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSeverity reads "info", "warning" or "error" in any case.
func ParseSeverity(s string) (Severity, error) {
	for i, name := range severityNames {
		if strings.EqualFold(s, name) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("analysis: unknown severity %q: want info, warning or error", s)
}

// The kinds of lint finding (Finding.Check).
const (
	// CheckNoEndpoint: a policy's selector selects no endpoint (warning),
	// or a rule's selector matches no endpoint or network set (info).
	CheckNoEndpoint = "selector-matches-nothing"
	// CheckShadowedRule: an earlier rule of the same policy, or of an
	// earlier policy of the same tier applying to every endpoint the rule's
	// policy applies to, matches everything the rule matches and ends the
	// evaluation first, so the rule is never reached.
	CheckShadowedRule = "shadowed-rule"
	// CheckAllowBeforeDeny: an earlier Allow rule matches everything a
	// Deny rule matches, so the Deny never denies anything.
	CheckAllowBeforeDeny = "allow-before-deny"
	// CheckPassOnlyTier: the policies of a tier that apply to an endpoint
	// only Log or Pass, so whatever they do not pass ends in the tier's
	// implicit deny.
	CheckPassOnlyTier = "log-or-pass-only-tier"
	// CheckUnknownNamedPort: a rule names a port no endpoint declares.
	CheckUnknownNamedPort = "unknown-named-port"
	// CheckDirectionWithoutRules: a policy governs a direction it has no
	// rules for, so it denies that direction entirely for the endpoints it
	// selects.
	CheckDirectionWithoutRules = "direction-without-rules"
	// CheckRulesWithoutDirection: a policy has rules for a direction its
	// types leave out, so they are never used.
	CheckRulesWithoutDirection = "rules-without-direction"
	// CheckHTTPRule: a rule matches HTTP, which only the tabby-authz proxy
	// enforces.
	CheckHTTPRule = "http-rule-needs-proxy"
)

// Finding is one problem Lint found.
type Finding struct {
	Severity Severity `json:"severity"`
	Check    string   `json:"check"`
	// Resource is "Kind namespace/name" or "Kind name".
	Resource string `json:"resource"`
	// Field is the path of the field at fault ("spec.ingress[1].source.selector").
	Field   string `json:"field"`
	Message string `json:"message"`
}

// LintReport is every finding of Lint, most severe first.
type LintReport struct {
	Findings []Finding `json:"findings"`
}

// Count returns how many findings have severity s or higher.
func (r *LintReport) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity >= s {
			n++
		}
	}
	return n
}

// Format writes one finding a line, then a count per severity.
func (r *LintReport) Format(w io.Writer) {
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%-7s %s %s: %s [%s]\n", f.Severity, f.Resource, f.Field, f.Message, f.Check)
	}
	counts := make([]int, len(severityNames))
	for _, f := range r.Findings {
		counts[f.Severity]++
	}
	fmt.Fprintf(w, "%d error(s), %d warning(s), %d info\n", counts[Error], counts[Warning], counts[Info])
}

// lintPolicy is a policy as Lint reads it.
type lintPolicy struct {
	key      v3.Key
	id       string
	pol      *engine.Policy
	raw      [2][]v3.Rule // indexed by engine.Direction
	selected []v3.Key     // endpoints only
}

// Lint checks the policies of the model for the mistakes its Check*
// constants describe. It reports a shadowed rule only when shadowing is
// certain (see sameOrWider), so a rule it does not report may still be
// unreachable; selector and shadowing findings hold for the endpoints of
// the model.
func (m *Model) Lint() *LintReport {
	l := linter{m: m}
	for _, o := range m.objs {
		key := v3.KeyOf(o)
		pol, ok := m.eng.Policy(key)
		if !ok {
			continue
		}
		lp := &lintPolicy{key: key, id: resourceID(key), pol: pol}
		lp.raw[engine.Ingress], lp.raw[engine.Egress] = rawRules(o)
		for _, k := range m.eng.SelectedBy(key) {
			if _, ok := m.byKey[k]; ok {
				lp.selected = append(lp.selected, k)
			}
		}
		l.pols = append(l.pols, lp)
	}
	l.namedPorts = m.declaredPortNames()
	for _, p := range l.pols {
		l.policy(p)
	}
	l.shadowAcrossPolicies()
	l.tiers()
	slices.SortFunc(l.out, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), strings.Compare(a.Resource, b.Resource),
			strings.Compare(a.Field, b.Field), strings.Compare(a.Check, b.Check))
	})
	if l.out == nil {
		l.out = []Finding{}
	}
	return &LintReport{Findings: l.out}
}

type linter struct {
	m          *Model
	pols       []*lintPolicy
	namedPorts map[string]bool
	out        []Finding
}

func (l *linter) add(sev Severity, check, resource, field, format string, args ...any) {
	l.out = append(l.out, Finding{Severity: sev, Check: check, Resource: resource, Field: field, Message: fmt.Sprintf(format, args...)})
}

// rawRules returns a policy's rules as written, for field names.
func rawRules(o v3.Object) (ingress, egress []v3.Rule) {
	switch p := o.(type) {
	case *v3.NetworkPolicy:
		return p.Spec.Ingress, p.Spec.Egress
	case *v3.GlobalNetworkPolicy:
		return p.Spec.Ingress, p.Spec.Egress
	case *v3.StagedNetworkPolicy:
		return p.Spec.Ingress, p.Spec.Egress
	case *v3.StagedGlobalNetworkPolicy:
		return p.Spec.Ingress, p.Spec.Egress
	}
	return nil, nil
}

// declaredPortNames are the names of the ports endpoints declare.
func (m *Model) declaredPortNames() map[string]bool {
	names := map[string]bool{}
	for _, o := range m.objs {
		switch r := o.(type) {
		case *v3.WorkloadEndpoint:
			for _, p := range r.Spec.Ports {
				names[p.Name] = true
			}
		case *v3.HostEndpoint:
			for _, p := range r.Spec.Ports {
				names[p.Name] = true
			}
		}
	}
	return names
}

func dirField(d engine.Direction) string {
	if d == engine.Ingress {
		return "spec.ingress"
	}
	return "spec.egress"
}

// policy runs the checks that concern one policy alone.
func (l *linter) policy(p *lintPolicy) {
	pol := p.pol
	if pol.Staged && pol.StagedAction == v3.StagedActionDelete {
		return
	}
	haveEndpoints := len(l.m.endpoints) > 0
	if haveEndpoints && len(p.selected) == 0 {
		l.add(Warning, CheckNoEndpoint, p.id, "spec.selector",
			"the policy applies to no endpoint (effective selector %s)", pol.Selector)
	}
	for _, d := range []engine.Direction{engine.Ingress, engine.Egress} {
		rules := pol.IngressRules
		governed := pol.Ingress
		if d == engine.Egress {
			rules, governed = pol.EgressRules, pol.Egress
		}
		switch {
		case governed && len(rules) == 0:
			l.add(Warning, CheckDirectionWithoutRules, p.id, "spec.types",
				"the policy governs %s but has no %s rules: it denies all %s traffic of the endpoints it selects (%d here) that no earlier policy decides (meant only for a default deny)",
				d, d, d, len(p.selected))
		case !governed && len(rules) > 0:
			l.add(Warning, CheckRulesWithoutDirection, p.id, dirField(d),
				"the policy has %d %s rule(s) but its types leave out %s: they are never used", len(rules), d, d)
		}
		for i := range rules {
			l.rule(p, d, i)
		}
		for j := range rules {
			shadowed := false
			for i := range j {
				if shadowed = l.shadows(p, p, d, i, j); shadowed {
					break
				}
			}
			if !shadowed && rules[j].Action == v3.Deny {
				l.allowOverlap(p, d, j)
			}
		}
	}
}

// allowOverlap reports the first earlier Allow rule that a Deny rule j
// certainly overlaps in the model without containing it: the flows both
// match are allowed, never denied. Deny or Pass rules before the Allow
// must match other protocols or IP versions, so that they cannot take the
// overlap.
func (l *linter) allowOverlap(p *lintPolicy, d engine.Direction, j int) {
	rules := rulesOf(p.pol, d)
	deny := &rules[j]
	pd, err := l.m.eng.RulePeers(p.key, d, j)
	if err != nil {
		return
	}
	for i := range j {
		allow := &rules[i]
		if allow.Action == v3.Log {
			continue
		}
		if allow.Action != v3.Allow {
			if !disjoint(allow, deny) {
				return
			}
			continue
		}
		// An earlier Allow that does not overlap leaves the overlap of a
		// later one allowed all the same.
		pa, err := l.m.eng.RulePeers(p.key, d, i)
		if err != nil || sameOrWider(deny, allow) || !overlaps(allow, deny, pa, pd) {
			continue
		}
		l.add(Warning, CheckAllowBeforeDeny, p.id, fmt.Sprintf("%s[%d]", dirField(d), j),
			"the earlier Allow rule %d is broader than this Deny in some conditions and overlaps it: flows both match are allowed, never denied (move the Deny first if they should be denied)", i)
		return
	}
}

// disjoint reports whether two rules certainly match no common flow by
// protocol or IP version.
func disjoint(a, b *engine.Rule) bool {
	return (a.Protocol != 0 && b.Protocol != 0 && a.Protocol != b.Protocol) ||
		(a.IPVersion != 0 && b.IPVersion != 0 && a.IPVersion != b.IPVersion)
}

// overlaps reports whether some flow between endpoints or network sets of
// the model certainly matches both rules. Conditions it cannot weigh
// make it answer false: HTTP, named ports, notSelector, notNets, nets
// beside a selector, and ICMP matches unless both rules have the same.
func overlaps(a, b *engine.Rule, pa, pb engine.RulePeers) bool {
	switch {
	case a.HTTP != nil || b.HTTP != nil,
		!reflect.DeepEqual(a.ICMP, b.ICMP) || !reflect.DeepEqual(a.NotICMP, b.NotICMP),
		a.IPVersion != 0 && b.IPVersion != 0 && a.IPVersion != b.IPVersion,
		a.Protocol != 0 && b.Protocol != 0 && a.Protocol != b.Protocol,
		a.Protocol != 0 && a.Protocol == b.NotProtocol, b.Protocol != 0 && b.Protocol == a.NotProtocol:
		return false
	}
	proto := max(a.Protocol, b.Protocol)
	usesPorts := false
	for _, en := range []*engine.Entity{&a.Source, &a.Destination, &b.Source, &b.Destination} {
		if len(en.NamedPorts)+len(en.NotNamedPorts) > 0 {
			return false
		}
		usesPorts = usesPorts || len(en.Ports)+len(en.NotPorts) > 0
	}
	if usesPorts && proto != 0 && !hasPorts(proto) {
		return false
	}
	return portsOverlap(&a.Source, &b.Source) && portsOverlap(&a.Destination, &b.Destination) &&
		peersOverlap(&a.Source, &b.Source, pa.Source, pb.Source) &&
		peersOverlap(&a.Destination, &b.Destination, pa.Destination, pb.Destination)
}

// portsOverlap reports whether some port meets both sides' port
// conditions.
func portsOverlap(a, b *engine.Entity) bool {
	lo, hi := 1, 65535
	for _, en := range []*engine.Entity{a, b} {
		if len(en.Ports) == 0 {
			continue
		}
		if len(en.Ports) > 1 {
			return false
		}
		lo, hi = max(lo, en.Ports[0].Min), min(hi, en.Ports[0].Max)
	}
	for p := lo; p <= hi; p++ {
		if !inAnyRange(a.NotPorts, p) && !inAnyRange(b.NotPorts, p) {
			return true
		}
	}
	return false
}

func inAnyRange(ranges []engine.PortRange, p int) bool {
	return slices.ContainsFunc(ranges, func(r engine.PortRange) bool { return r.Min <= p && p <= r.Max })
}

// peersOverlap reports whether some endpoint, network set or address
// meets both sides' peer conditions.
func peersOverlap(a, b *engine.Entity, pa, pb engine.PeerMatch) bool {
	if a.NotSelector != "" || b.NotSelector != "" || len(a.NotNets)+len(b.NotNets) > 0 {
		return false
	}
	hasNets := len(a.Nets)+len(b.Nets) > 0
	hasSel := a.Selector != "" || b.Selector != ""
	switch {
	case hasNets && hasSel:
		return false
	case hasNets:
		if len(a.Nets) == 0 || len(b.Nets) == 0 {
			return true
		}
		for _, x := range a.Nets {
			for _, y := range b.Nets {
				if x.Overlaps(y) {
					return true
				}
			}
		}
		return false
	case a.Selector == "":
		return b.Selector == "" || len(pb.Members) > 0
	case b.Selector == "":
		return len(pa.Members) > 0
	}
	for _, k := range pa.Members {
		if slices.Contains(pb.Members, k) {
			return true
		}
	}
	return false
}

// rule runs the checks that concern one rule alone.
func (l *linter) rule(p *lintPolicy, d engine.Direction, i int) {
	r := &p.pol.IngressRules
	if d == engine.Egress {
		r = &p.pol.EgressRules
	}
	rule := &(*r)[i]
	field := fmt.Sprintf("%s[%d]", dirField(d), i)
	if rule.HTTP != nil {
		l.add(Info, CheckHTTPRule, p.id, field+".http",
			"HTTP matches are enforced only by tabby-authz (Envoy ext_authz); the nftables dataplane never matches this rule")
	}
	var raw *v3.Rule
	if i < len(p.raw[d]) {
		raw = &p.raw[d][i]
	}
	for _, side := range []struct {
		name string
		en   *engine.Entity
		raw  *v3.EntityRule
		get  func(engine.RulePeers) engine.PeerMatch
	}{
		{"source", &rule.Source, rawEntity(raw, true), func(rp engine.RulePeers) engine.PeerMatch { return rp.Source }},
		{"destination", &rule.Destination, rawEntity(raw, false), func(rp engine.RulePeers) engine.PeerMatch { return rp.Destination }},
	} {
		sf := field + "." + side.name
		if side.en.Selector != "" && len(l.m.endpoints) > 0 {
			if rp, err := l.m.eng.RulePeers(p.key, d, i); err == nil && len(side.get(rp).Members) == 0 {
				l.add(Info, CheckNoEndpoint, p.id, sf+selectorField(side.raw),
					"the %s selector matches no endpoint or network set (effective selector %s)", side.name, side.en.Selector)
			}
		}
		for _, ports := range []struct {
			field string
			names []string
		}{{".ports", side.en.NamedPorts}, {".notPorts", side.en.NotNamedPorts}} {
			for _, name := range ports.names {
				if !l.namedPorts[name] {
					l.add(Warning, CheckUnknownNamedPort, p.id, sf+ports.field,
						"no endpoint declares a port named %q, so it matches nothing", name)
				}
			}
		}
	}
}

func rawEntity(r *v3.Rule, source bool) *v3.EntityRule {
	switch {
	case r == nil:
		return nil
	case source:
		return &r.Source
	}
	return &r.Destination
}

// selectorField names the field that gave an entity its selector.
func selectorField(er *v3.EntityRule) string {
	switch {
	case er == nil || strings.TrimSpace(er.Selector) != "":
		return ".selector"
	case strings.TrimSpace(er.NamespaceSelector) != "":
		return ".namespaceSelector"
	case er.ServiceAccounts != nil:
		return ".serviceAccounts"
	}
	return ".notSelector"
}

// shadows reports a finding and returns true when rule i of earlier (for
// direction d) makes rule j of later unreachable.
func (l *linter) shadows(earlier, later *lintPolicy, d engine.Direction, i, j int) bool {
	ri, rj := &rulesOf(earlier.pol, d)[i], &rulesOf(later.pol, d)[j]
	if ri.Action == v3.Log || !sameOrWider(ri, rj) {
		return false
	}
	by := fmt.Sprintf("rule %d (%s)", i, ri.Action)
	if earlier != later {
		by = fmt.Sprintf("rule %d (%s) of %s, which applies to every endpoint this policy applies to,", i, ri.Action, earlier.id)
	}
	field := fmt.Sprintf("%s[%d]", dirField(d), j)
	if ri.Action == v3.Allow && rj.Action == v3.Deny {
		l.add(Warning, CheckAllowBeforeDeny, later.id, field,
			"this Deny never denies anything: the earlier %s matches every flow it matches", by)
		return true
	}
	l.add(Warning, CheckShadowedRule, later.id, field,
		"this %s rule is never reached: %s matches every flow it matches and decides first", rj.Action, by)
	return true
}

func rulesOf(p *engine.Policy, d engine.Direction) []engine.Rule {
	if d == engine.Ingress {
		return p.IngressRules
	}
	return p.EgressRules
}

// shadowAcrossPolicies looks for rules shadowed by a rule of an earlier
// enforced policy of the same tier that applies to every endpoint the
// later policy applies to.
func (l *linter) shadowAcrossPolicies() {
	byTier := map[string][]*lintPolicy{}
	for _, p := range l.pols {
		if p.pol.Staged || p.pol.DoNotTrack || p.pol.PreDNAT || len(p.selected) == 0 {
			continue
		}
		byTier[p.pol.Tier] = append(byTier[p.pol.Tier], p)
	}
	for _, ps := range byTier {
		slices.SortFunc(ps, policyOrder)
		for b, later := range ps {
			for _, earlier := range ps[:b] {
				if !isSubset(later.selected, earlier.selected) {
					continue
				}
				for _, d := range []engine.Direction{engine.Ingress, engine.Egress} {
					if !governsDir(earlier.pol, d) || !governsDir(later.pol, d) {
						continue
					}
					for j := range rulesOf(later.pol, d) {
						if l.alreadyShadowed(later.id, d, j) {
							continue
						}
						for i := range rulesOf(earlier.pol, d) {
							if l.shadows(earlier, later, d, i, j) {
								break
							}
						}
					}
				}
			}
		}
	}
}

func (l *linter) alreadyShadowed(id string, d engine.Direction, j int) bool {
	field := fmt.Sprintf("%s[%d]", dirField(d), j)
	return slices.ContainsFunc(l.out, func(f Finding) bool {
		return f.Resource == id && f.Field == field && (f.Check == CheckShadowedRule || f.Check == CheckAllowBeforeDeny)
	})
}

func governsDir(p *engine.Policy, d engine.Direction) bool {
	if d == engine.Ingress {
		return p.Ingress
	}
	return p.Egress
}

// policyOrder sorts policies of one tier as Felix does: order (none =
// +Inf), then "<name>/<namespace>/<kind>".
func policyOrder(a, b *lintPolicy) int {
	oa, ob := math.Inf(1), math.Inf(1)
	if a.pol.Order != nil {
		oa = *a.pol.Order
	}
	if b.pol.Order != nil {
		ob = *b.pol.Order
	}
	return cmp.Or(cmp.Compare(oa, ob), strings.Compare(
		a.key.Name+"/"+a.key.Namespace+"/"+a.key.Kind, b.key.Name+"/"+b.key.Namespace+"/"+b.key.Kind))
}

// isSubset reports whether every key of a (sorted) is in b (sorted).
func isSubset(a, b []v3.Key) bool {
	for _, k := range a {
		if _, ok := slices.BinarySearchFunc(b, k, compareKeys); !ok {
			return false
		}
	}
	return true
}

func compareKeys(a, b v3.Key) int {
	return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
}

// tierTrap is one tier and direction in which the policies that apply to
// some endpoints only Log or Pass.
type tierTrap struct {
	tier      string
	dir       engine.Direction
	passes    bool
	endpoints []string
	policies  []string
}

// tiers finds, per endpoint, the tiers whose enforced policies can only
// Log or Pass, and which therefore deny whatever they do not pass.
func (l *linter) tiers() {
	traps := map[string]*tierTrap{}
	var order []string
	for _, ep := range l.m.endpoints {
		ip, ok := l.m.eng.PoliciesFor(ep.Key)
		if !ok {
			continue
		}
		for _, d := range []engine.Direction{engine.Ingress, engine.Egress} {
			tiers := ip.Ingress
			if d == engine.Egress {
				tiers = ip.Egress
			}
			for _, t := range tiers {
				trap, ok := logOrPassOnly(t, d)
				if !ok {
					continue
				}
				id := t.Tier + "/" + d.String()
				tt := traps[id]
				if tt == nil {
					tt = &tierTrap{tier: t.Tier, dir: d}
					traps[id] = tt
					order = append(order, id)
				}
				tt.passes = tt.passes || trap.passes
				tt.endpoints = append(tt.endpoints, ep.Name)
				for _, p := range trap.policies {
					if !slices.Contains(tt.policies, p) {
						tt.policies = append(tt.policies, p)
					}
				}
			}
		}
	}
	for _, id := range order {
		tt := traps[id]
		slices.Sort(tt.policies)
		res := resourceID(v3.Key{Kind: v3.KindTier, Name: tt.tier})
		if !tt.passes {
			l.add(Error, CheckPassOnlyTier, res, "spec.defaultAction",
				"the %s policies of this tier (%s) only Log: all %s traffic of %s ends in the tier's implicit deny",
				tt.dir, strings.Join(tt.policies, ", "), tt.dir, someOf(tt.endpoints))
			continue
		}
		l.add(Warning, CheckPassOnlyTier, res, "spec.defaultAction",
			"the %s policies of this tier (%s) only Log or Pass: %s traffic of %s that no Pass rule matches ends in the tier's implicit deny (set the tier's defaultAction to Pass or add Allow rules if that is not meant)",
			tt.dir, strings.Join(tt.policies, ", "), tt.dir, someOf(tt.endpoints))
	}
}

// someOf lists the first names and counts the rest.
func someOf(names []string) string {
	const most = 5
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:most], ", "), len(names)-most)
}

type trapInfo struct {
	passes   bool
	policies []string
}

// logOrPassOnly reports whether the enforced policies of one endpoint's
// tier have Log or Pass rules for direction d and no Allow or Deny rule,
// no unconditional Pass, and the tier denies at its end.
func logOrPassOnly(t engine.TierPolicies, d engine.Direction) (trapInfo, bool) {
	if t.DefaultAction == v3.Pass {
		return trapInfo{}, false
	}
	var info trapInfo
	logOrPass := 0
	for _, ref := range t.Policies {
		if ref.Staged {
			continue
		}
		info.policies = append(info.policies, resourceID(ref.Key))
		for _, r := range rulesOf(ref.Policy, d) {
			switch r.Action {
			case v3.Allow, v3.Deny:
				return trapInfo{}, false
			case v3.Pass:
				if sameOrWider(&r, &engine.Rule{}) {
					return trapInfo{}, false
				}
				info.passes = true
			}
			logOrPass++
		}
	}
	return info, logOrPass > 0
}

// sameOrWider reports whether rule a certainly matches every flow rule b
// matches: each condition of a is absent or the same as (or, for nets,
// ports and ICMP codes, contains) the one of b. It looks at the
// conditions, not the endpoints, so it holds whatever endpoints exist.
func sameOrWider(a, b *engine.Rule) bool {
	switch {
	case a.IPVersion != 0 && a.IPVersion != b.IPVersion,
		a.Protocol != 0 && a.Protocol != b.Protocol,
		a.NotProtocol != 0 && a.NotProtocol != b.NotProtocol && (b.Protocol == 0 || b.Protocol == a.NotProtocol),
		a.ICMP != nil && !icmpWider(a.ICMP, b.ICMP),
		a.NotICMP != nil && (b.NotICMP == nil || *a.NotICMP != *b.NotICMP),
		a.HTTP != nil && !reflect.DeepEqual(a.HTTP, b.HTTP):
		return false
	}
	return entityWider(&a.Source, &b.Source) && entityWider(&a.Destination, &b.Destination)
}

func icmpWider(a, b *engine.ICMPMatch) bool {
	return b != nil && a.Type == b.Type && (a.Code == -1 || a.Code == b.Code)
}

func entityWider(a, b *engine.Entity) bool {
	switch {
	case a.Selector != "" && a.Selector != b.Selector,
		a.NotSelector != "" && a.NotSelector != b.NotSelector,
		len(a.Nets) > 0 && (len(b.Nets) == 0 || !netsWithin(b.Nets, a.Nets)),
		len(a.NotNets) > 0 && !netsWithin(a.NotNets, b.NotNets):
		return false
	}
	if len(a.Ports)+len(a.NamedPorts) > 0 {
		if len(b.Ports)+len(b.NamedPorts) == 0 || !rangesWithin(b.Ports, a.Ports) || !namesWithin(b.NamedPorts, a.NamedPorts) {
			return false
		}
	}
	if len(a.NotPorts)+len(a.NotNamedPorts) > 0 {
		if len(b.NotPorts)+len(b.NotNamedPorts) == 0 || !rangesWithin(a.NotPorts, b.NotPorts) || !namesWithin(a.NotNamedPorts, b.NotNamedPorts) {
			return false
		}
	}
	return true
}

// netsWithin reports whether every prefix of inner lies in some prefix of
// outer.
func netsWithin(inner, outer []netip.Prefix) bool {
	for _, p := range inner {
		if !slices.ContainsFunc(outer, func(o netip.Prefix) bool { return o.Bits() <= p.Bits() && o.Contains(p.Addr()) }) {
			return false
		}
	}
	return true
}

// rangesWithin reports whether every range of inner lies in some range of
// outer.
func rangesWithin(inner, outer []engine.PortRange) bool {
	for _, r := range inner {
		if !slices.ContainsFunc(outer, func(o engine.PortRange) bool { return o.Min <= r.Min && r.Max <= o.Max }) {
			return false
		}
	}
	return true
}

func namesWithin(inner, outer []string) bool {
	for _, n := range inner {
		if !slices.Contains(outer, n) {
			return false
		}
	}
	return true
}
