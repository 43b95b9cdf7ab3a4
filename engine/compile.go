package engine

import (
	"fmt"
	"math"
	"net/netip"
	"strings"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/selector"
)

// Calico's label prefixes and profile name prefixes for Kubernetes
// namespaces and service accounts (calico-facts §5.4).
const (
	namespaceLabelPrefix      = "pcns."
	serviceAccountLabelPrefix = "pcsa."
	namespaceProfilePrefix    = "kns."
)

// Policy is a policy compiled for evaluation and rendering: selectors
// scoped and parsed, ports normalised, nets parsed. A *Policy is immutable;
// an update of the policy produces a new one.
type Policy struct {
	Key  v3.Key
	Tier string
	// Order is nil for "last" (+Inf).
	Order *float64
	// Staged is true for the two staged kinds; StagedAction is then Set or
	// Delete.
	Staged       bool
	StagedAction v3.StagedAction
	// Ingress and Egress say which directions the policy governs, from
	// spec.types or, when that is empty, Calico's defaulting.
	Ingress, Egress bool
	DoNotTrack      bool
	PreDNAT         bool
	ApplyOnForward  bool
	// Selector is the effective selector in canonical form: the policy's
	// selector with the namespace, namespaceSelector and
	// serviceAccountSelector folded in as Felix does.
	Selector     string
	IngressRules []Rule
	EgressRules  []Rule

	sel *selector.Selector
}

// Rule is one compiled rule. All match fields are ANDed; zero values mean
// "any".
type Rule struct {
	Index       int
	Action      v3.Action
	IPVersion   int
	Protocol    int
	NotProtocol int
	ICMP        *ICMPMatch
	NotICMP     *ICMPMatch
	Source      Entity
	Destination Entity
	HTTP        *v3.HTTPMatch
}

// ICMPMatch matches an ICMP type and, when Code is not -1, code.
type ICMPMatch struct {
	Type int
	Code int
}

// Entity is a compiled source or destination match.
type Entity struct {
	Nets    []netip.Prefix
	NotNets []netip.Prefix
	// Selector is the effective selector (canonical, scoped to namespaces
	// as Felix does) or "" when the rule selects by address only.
	// NotSelector is the user's notSelector in canonical form, which Felix
	// does not scope. SelectorSet and NotSelectorSet name the dataplane sets
	// holding their members (see Engine.SetMembers).
	Selector       string
	NotSelector    string
	SelectorSet    string
	NotSelectorSet string
	Ports          []PortRange
	NamedPorts     []string
	NotPorts       []PortRange
	NotNamedPorts  []string

	sel, notSel *selEntry
	// rawSel and rawNotSel are the parsed selectors before the index
	// shares them (compile runs before anything is applied).
	rawSel, rawNotSel *selector.Selector
}

// PortRange is the inclusive range Min..Max.
type PortRange struct {
	Min, Max int
}

func (r PortRange) String() string {
	if r.Min == r.Max {
		return fmt.Sprint(r.Min)
	}
	return fmt.Sprintf("%d:%d", r.Min, r.Max)
}

// policySpec is what the engine reads from the four policy kinds.
type policySpec struct {
	namespace      string
	tier           string
	order          *float64
	ingress        []v3.Rule
	egress         []v3.Rule
	selector       string
	types          []v3.PolicyType
	saSelector     string
	nsSelector     string
	global         bool
	staged         bool
	stagedAction   v3.StagedAction
	doNotTrack     bool
	preDNAT        bool
	applyOnForward bool
}

func specOf(obj v3.Object) (policySpec, bool) {
	ns := obj.GetNamespace()
	switch o := obj.(type) {
	case *v3.NetworkPolicy:
		s := o.Spec
		return policySpec{namespace: ns, tier: s.Tier, order: s.Order, ingress: s.Ingress, egress: s.Egress,
			selector: s.Selector, types: s.Types, saSelector: s.ServiceAccountSelector}, true
	case *v3.StagedNetworkPolicy:
		s := o.Spec
		return policySpec{namespace: ns, tier: s.Tier, order: s.Order, ingress: s.Ingress, egress: s.Egress,
			selector: s.Selector, types: s.Types, saSelector: s.ServiceAccountSelector,
			staged: true, stagedAction: s.StagedAction}, true
	case *v3.GlobalNetworkPolicy:
		s := o.Spec
		return policySpec{tier: s.Tier, order: s.Order, ingress: s.Ingress, egress: s.Egress,
			selector: s.Selector, types: s.Types, saSelector: s.ServiceAccountSelector,
			nsSelector: s.NamespaceSelector, global: true, doNotTrack: s.DoNotTrack, preDNAT: s.PreDNAT,
			applyOnForward: s.ApplyOnForward}, true
	case *v3.StagedGlobalNetworkPolicy:
		s := o.Spec
		return policySpec{tier: s.Tier, order: s.Order, ingress: s.Ingress, egress: s.Egress,
			selector: s.Selector, types: s.Types, saSelector: s.ServiceAccountSelector,
			nsSelector: s.NamespaceSelector, global: true, doNotTrack: s.DoNotTrack, preDNAT: s.PreDNAT,
			applyOnForward: s.ApplyOnForward, staged: true, stagedAction: s.StagedAction}, true
	}
	return policySpec{}, false
}

// compilePolicy turns a policy object into a *Policy. It parses everything
// and fails, naming the field, before anything is applied.
func compilePolicy(key v3.Key, obj v3.Object) (*Policy, error) {
	spec, ok := specOf(obj)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedKind, key.Kind)
	}
	p := &Policy{
		Key:            key,
		Tier:           spec.tier,
		Order:          spec.order,
		Staged:         spec.staged,
		StagedAction:   spec.stagedAction,
		DoNotTrack:     spec.doNotTrack,
		PreDNAT:        spec.preDNAT,
		ApplyOnForward: spec.applyOnForward,
	}
	if p.Tier == "" {
		p.Tier = v3.DefaultTierName
	}
	if p.Staged && p.StagedAction == "" {
		p.StagedAction = v3.StagedActionSet
	}
	p.Ingress, p.Egress = governs(spec.types, len(spec.ingress) > 0, len(spec.egress) > 0)
	if p.Staged && p.StagedAction == v3.StagedActionDelete {
		// A staged delete only removes its live counterpart; it selects
		// nothing and has no rules (validation makes the spec empty).
		return p, nil
	}
	sel, err := policySelector(key, spec)
	if err != nil {
		return nil, err
	}
	p.sel, p.Selector = sel, sel.String()
	if p.IngressRules, err = compileRules(key, "spec.ingress", spec.ingress, spec.namespace); err != nil {
		return nil, err
	}
	if p.EgressRules, err = compileRules(key, "spec.egress", spec.egress, spec.namespace); err != nil {
		return nil, err
	}
	return p, nil
}

// governs applies Calico's types defaulting: the listed types, or when
// there are none, Ingress unless there are only egress rules, plus Egress
// when there are egress rules.
func governs(types []v3.PolicyType, hasIngress, hasEgress bool) (ingress, egress bool) {
	if len(types) == 0 {
		return hasIngress || !hasEgress, hasEgress
	}
	for _, t := range types {
		switch {
		case strings.EqualFold(string(t), string(v3.PolicyTypeIngress)):
			ingress = true
		case strings.EqualFold(string(t), string(v3.PolicyTypeEgress)):
			egress = true
		}
	}
	return ingress, egress
}

// parseField parses a user selector, naming the field on error.
func parseField(key v3.Key, field, s string) (*selector.Selector, error) {
	sel, err := selector.Parse(s)
	if err != nil {
		return nil, &FieldError{Key: key, Field: field, Value: s, Err: err}
	}
	return sel, nil
}

// prefixed returns sel's canonical form with prefix on every label.
func prefixed(sel *selector.Selector, prefix, allRepl, globalRepl string) (string, error) {
	return rewriteCanonical(sel.String(), prefix, allRepl, globalRepl)
}

// policySelector builds the selector Felix evaluates for a policy
// (updateprocessors networkpolicyprocessor / globalnetworkpolicyprocessor):
//
//	NetworkPolicy:        (sel) && projectcalico.org/namespace == ns  [&& pcsa.(saSel)]
//	GlobalNetworkPolicy:  (sel) && pcns.(nsSel), then all() → has(namespace label);
//	                      then && pcsa.(saSel), then all() → has(serviceaccount label)
//
// The all() replacement covers the whole selector built so far, as in
// Calico, so a GlobalNetworkPolicy with a namespaceSelector never selects
// host endpoints even when its own selector is all().
func policySelector(key v3.Key, spec policySpec) (*selector.Selector, error) {
	sel, err := parseField(key, "spec.selector", spec.selector)
	if err != nil {
		return nil, err
	}
	cur := ""
	if strings.TrimSpace(spec.selector) != "" {
		cur = sel.String()
	}
	hasNS := "has(" + v3.LabelNamespace + ")"
	hasSA := "has(" + v3.LabelServiceAccount + ")"
	if !spec.global {
		nsTerm := v3.LabelNamespace + " == " + quote(spec.namespace)
		if cur == "" {
			cur = nsTerm
		} else {
			cur = "(" + cur + ") && " + nsTerm
		}
	}
	if strings.TrimSpace(spec.nsSelector) != "" {
		ns, err := parseField(key, "spec.namespaceSelector", spec.nsSelector)
		if err != nil {
			return nil, err
		}
		if cur, err = appendPrefixed(key, cur, ns, namespaceLabelPrefix); err != nil {
			return nil, err
		}
		if cur, err = replaceAll(key, cur, hasNS); err != nil {
			return nil, err
		}
	}
	if strings.TrimSpace(spec.saSelector) != "" {
		sa, err := parseField(key, "spec.serviceAccountSelector", spec.saSelector)
		if err != nil {
			return nil, err
		}
		if cur, err = appendPrefixed(key, cur, sa, serviceAccountLabelPrefix); err != nil {
			return nil, err
		}
		if spec.global {
			if cur, err = replaceAll(key, cur, hasSA); err != nil {
				return nil, err
			}
		}
	}
	return parseInternal(key, "spec.selector", cur)
}

func appendPrefixed(key v3.Key, cur string, sel *selector.Selector, prefix string) (string, error) {
	p, err := prefixed(sel, prefix, "", "")
	if err != nil {
		return "", fmt.Errorf("engine: %s: %w", key, err)
	}
	if cur == "" {
		return p, nil
	}
	return "(" + cur + ") && " + p, nil
}

func replaceAll(key v3.Key, s, repl string) (string, error) {
	canon, err := parseInternal(key, "spec.selector", s)
	if err != nil {
		return "", err
	}
	out, err := rewriteCanonical(canon.String(), "", repl, "")
	if err != nil {
		return "", fmt.Errorf("engine: %s: %w", key, err)
	}
	return out, nil
}

// parseInternal parses a selector the engine built from valid parts; failure
// is a bug in the rewriting, reported rather than hidden.
func parseInternal(key v3.Key, field, s string) (*selector.Selector, error) {
	sel, err := selector.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("engine: %s: %s: built selector %q does not parse: %w", key, field, s, err)
	}
	return sel, nil
}

func compileRules(key v3.Key, field string, rules []v3.Rule, ns string) ([]Rule, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	out := make([]Rule, len(rules))
	for i := range rules {
		r, err := compileRule(key, fmt.Sprintf("%s[%d]", field, i), &rules[i], ns)
		if err != nil {
			return nil, err
		}
		r.Index = i
		out[i] = r
	}
	return out, nil
}

func compileRule(key v3.Key, field string, r *v3.Rule, ns string) (Rule, error) {
	out := Rule{Action: r.Action, HTTP: r.HTTP}
	switch r.Action {
	case v3.Allow, v3.Deny, v3.Log, v3.Pass:
	default:
		return Rule{}, &FieldError{Key: key, Field: field + ".action", Value: string(r.Action), Err: errBadValue}
	}
	if r.IPVersion != nil {
		if *r.IPVersion != 4 && *r.IPVersion != 6 {
			return Rule{}, &FieldError{Key: key, Field: field + ".ipVersion", Value: fmt.Sprint(*r.IPVersion), Err: errBadValue}
		}
		out.IPVersion = *r.IPVersion
	}
	var err error
	if out.Protocol, err = protocolNumber(key, field+".protocol", r.Protocol); err != nil {
		return Rule{}, err
	}
	if out.NotProtocol, err = protocolNumber(key, field+".notProtocol", r.NotProtocol); err != nil {
		return Rule{}, err
	}
	out.ICMP = icmpMatch(r.ICMP)
	out.NotICMP = icmpMatch(r.NotICMP)
	if out.Source, err = compileEntity(key, field+".source", &r.Source, ns); err != nil {
		return Rule{}, err
	}
	if out.Destination, err = compileEntity(key, field+".destination", &r.Destination, ns); err != nil {
		return Rule{}, err
	}
	return out, nil
}

func protocolNumber(key v3.Key, field string, p *v3.Protocol) (int, error) {
	if p == nil {
		return 0, nil
	}
	n, ok := p.Number()
	if !ok {
		return 0, &FieldError{Key: key, Field: field, Value: p.String(), Err: errBadValue}
	}
	return n, nil
}

func icmpMatch(f *v3.ICMPFields) *ICMPMatch {
	if f == nil || f.Type == nil {
		return nil
	}
	m := &ICMPMatch{Type: *f.Type, Code: -1}
	if f.Code != nil {
		m.Code = *f.Code
	}
	return m
}

func compileEntity(key v3.Key, field string, er *v3.EntityRule, ns string) (Entity, error) {
	var out Entity
	var err error
	if out.Nets, err = parseNets(key, field+".nets", er.Nets); err != nil {
		return Entity{}, err
	}
	if out.NotNets, err = parseNets(key, field+".notNets", er.NotNets); err != nil {
		return Entity{}, err
	}
	if out.Ports, out.NamedPorts, err = splitPorts(key, field+".ports", er.Ports); err != nil {
		return Entity{}, err
	}
	if out.NotPorts, out.NotNamedPorts, err = splitPorts(key, field+".notPorts", er.NotPorts); err != nil {
		return Entity{}, err
	}
	sel, err := entitySelector(key, field, er, ns)
	if err != nil {
		return Entity{}, err
	}
	if sel != nil {
		out.rawSel, out.Selector = sel, sel.String()
	}
	if strings.TrimSpace(er.NotSelector) != "" {
		notSel, err := parseField(key, field+".notSelector", er.NotSelector)
		if err != nil {
			return Entity{}, err
		}
		out.rawNotSel, out.NotSelector = notSel, notSel.String()
	}
	return out, nil
}

// entitySelector builds the positive selector Felix uses for an EntityRule
// (updateprocessors/rules.go getEndpointSelector): the service-account and
// endpoint selectors ANDed, scoped by the namespace selector (pcns. labels;
// all() → any namespaced thing; global() → nothing namespaced) or, for a
// namespaced policy without one, by the policy's namespace. The scope is
// applied whenever any of selector, notSelector or namespaceSelector is set;
// a rule with none of them selects by address only (nil).
func entitySelector(key v3.Key, field string, er *v3.EntityRule, ns string) (*selector.Selector, error) {
	var parts []string
	if sa := er.ServiceAccounts; sa != nil {
		saPart := ""
		if strings.TrimSpace(sa.Selector) != "" {
			s, err := parseField(key, field+".serviceAccounts.selector", sa.Selector)
			if err != nil {
				return nil, err
			}
			if saPart, err = prefixed(s, serviceAccountLabelPrefix, "", ""); err != nil {
				return nil, fmt.Errorf("engine: %s: %w", key, err)
			}
		}
		if len(sa.Names) > 0 {
			quoted := make([]string, len(sa.Names))
			for i, n := range sa.Names {
				quoted[i] = quote(n)
			}
			names := v3.LabelServiceAccount + " in {" + strings.Join(quoted, ", ") + "}"
			if saPart != "" {
				saPart = "(" + saPart + ") && (" + names + ")"
			} else {
				saPart = names
			}
		}
		if saPart != "" {
			parts = append(parts, saPart)
		}
	}
	if strings.TrimSpace(er.Selector) != "" {
		s, err := parseField(key, field+".selector", er.Selector)
		if err != nil {
			return nil, err
		}
		parts = append(parts, s.String())
	}
	sel := ""
	switch len(parts) {
	case 1:
		sel = parts[0]
	case 2:
		sel = "(" + parts[0] + ") && (" + parts[1] + ")"
	}
	nsSel := ""
	hasNSSel := strings.TrimSpace(er.NamespaceSelector) != ""
	switch {
	case hasNSSel:
		s, err := parseField(key, field+".namespaceSelector", er.NamespaceSelector)
		if err != nil {
			return nil, err
		}
		if nsSel, err = prefixed(s, namespaceLabelPrefix,
			"has("+v3.LabelNamespace+")", "!has("+v3.LabelNamespace+")"); err != nil {
			return nil, fmt.Errorf("engine: %s: %w", key, err)
		}
	case ns != "":
		nsSel = v3.LabelNamespace + " == " + quote(ns)
	}
	hasNotSel := strings.TrimSpace(er.NotSelector) != ""
	if nsSel != "" && (sel != "" || hasNotSel || hasNSSel) {
		if sel != "" {
			sel = "(" + nsSel + ") && (" + sel + ")"
		} else {
			sel = nsSel
		}
	}
	if sel == "" {
		return nil, nil
	}
	return parseInternal(key, field+".selector", sel)
}

func parseNets(key v3.Key, field string, nets []string) ([]netip.Prefix, error) {
	if len(nets) == 0 {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(nets))
	for i, n := range nets {
		p, err := parseNet(n)
		if err != nil {
			return nil, &FieldError{Key: key, Field: fmt.Sprintf("%s[%d]", field, i), Value: n, Err: err}
		}
		out = append(out, p)
	}
	return out, nil
}

// parseNet accepts a CIDR or a bare address (as Calico's ParseCIDROrIP)
// and returns the masked network.
func parseNet(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func splitPorts(key v3.Key, field string, ports []v3.Port) ([]PortRange, []string, error) {
	var ranges []PortRange
	var names []string
	for i, p := range ports {
		if p.IsNamed() {
			names = append(names, p.PortName)
			continue
		}
		if p.MinPort < 0 || p.MaxPort > math.MaxUint16 || p.MinPort > p.MaxPort {
			return nil, nil, &FieldError{Key: key, Field: fmt.Sprintf("%s[%d]", field, i), Value: p.String(), Err: errBadValue}
		}
		ranges = append(ranges, PortRange{Min: p.MinPort, Max: p.MaxPort})
	}
	return ranges, names, nil
}

// profile is a compiled Profile.
type profile struct {
	key           v3.Key
	ingress       []Rule
	egress        []Rule
	labelsToApply map[string]string
}

func compileProfile(key v3.Key, p *v3.Profile) (*profile, error) {
	in, err := compileRules(key, "spec.ingress", p.Spec.Ingress, "")
	if err != nil {
		return nil, err
	}
	eg, err := compileRules(key, "spec.egress", p.Spec.Egress, "")
	if err != nil {
		return nil, err
	}
	return &profile{key: key, ingress: in, egress: eg, labelsToApply: p.Spec.LabelsToApply}, nil
}
