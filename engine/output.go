package engine

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// Direction is ingress (traffic to an endpoint) or egress (from it).
type Direction uint8

// The two directions.
const (
	Ingress Direction = iota
	Egress
)

// String returns "ingress" or "egress".
func (d Direction) String() string {
	if d == Ingress {
		return "ingress"
	}
	return "egress"
}

// MarshalText encodes the direction as String does.
func (d Direction) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText accepts "ingress" or "egress".
func (d *Direction) UnmarshalText(b []byte) error {
	switch string(b) {
	case "ingress":
		*d = Ingress
	case "egress":
		*d = Egress
	default:
		return fmt.Errorf("engine: direction %q is neither ingress nor egress", b)
	}
	return nil
}

// EndpointPolicy is what applies to one endpoint: per direction the tiers
// in evaluation order, each with its applicable policies in order, then
// the profiles. Staged policies are listed (Staged set) where Felix lists
// them; they never decide enforced traffic.
type EndpointPolicy struct {
	Endpoint v3.Key `json:"endpoint"`
	// Ingress and Egress are the normal tiers, the ones Evaluate walks.
	Ingress  []TierPolicies `json:"ingress,omitempty"`
	Egress   []TierPolicies `json:"egress,omitempty"`
	Profiles []string       `json:"profiles,omitempty"`
	// Host endpoints only: doNotTrack policies (raw table), preDNAT
	// policies (ingress only) and applyOnForward policies (forwarded
	// traffic). Untracked and preDNAT tiers always default to Pass.
	UntrackedIngress []TierPolicies `json:"untrackedIngress,omitempty"`
	UntrackedEgress  []TierPolicies `json:"untrackedEgress,omitempty"`
	PreDNATIngress   []TierPolicies `json:"preDNATIngress,omitempty"`
	ForwardIngress   []TierPolicies `json:"forwardIngress,omitempty"`
	ForwardEgress    []TierPolicies `json:"forwardEgress,omitempty"`
}

// TierPolicies is one tier of an endpoint's policy: the policies of the
// tier that apply, in order, and what happens when none decides.
type TierPolicies struct {
	Tier          string      `json:"tier"`
	DefaultAction v3.Action   `json:"defaultAction"`
	Policies      []PolicyRef `json:"policies"`
}

// PolicyRef names a policy in an EndpointPolicy and points at its compiled
// form, which is immutable.
type PolicyRef struct {
	Key    v3.Key   `json:"key"`
	Order  *float64 `json:"order,omitempty"`
	Staged bool     `json:"staged,omitempty"`
	Policy *Policy  `json:"-"`
}

// EndpointUpdate reports the current policy of an endpoint, or its removal
// (Policy nil).
type EndpointUpdate struct {
	Endpoint v3.Key
	Policy   *EndpointPolicy
}

// SetUpdate reports that a rule selector set changed (members joined or
// left, or a member's addresses changed) or, with Deleted, that no rule
// uses it any more.
type SetUpdate struct {
	ID       string
	Selector string
	Deleted  bool
}

// SetMember is a member of a rule selector set with its addresses.
type SetMember struct {
	Key  v3.Key
	Nets []netip.Prefix
}

// RulePeers says what a rule's source and destination match.
type RulePeers struct {
	Source      PeerMatch `json:"source"`
	Destination PeerMatch `json:"destination"`
}

// PeerMatch lists what one side of a rule matches: the endpoints and
// network sets its selector selects (with Any when the rule has no
// selector and so matches any address its nets allow), those its
// notSelector excludes, and its nets.
type PeerMatch struct {
	Any         bool           `json:"any"`
	Selector    string         `json:"selector,omitempty"`
	Members     []v3.Key       `json:"members,omitempty"`
	NotSelector string         `json:"notSelector,omitempty"`
	NotMembers  []v3.Key       `json:"notMembers,omitempty"`
	Nets        []netip.Prefix `json:"nets,omitempty"`
	NotNets     []netip.Prefix `json:"notNets,omitempty"`
}

// Drain returns the endpoints whose computed policy changed since the last
// Drain, coalesced (one update per endpoint, carrying its current state)
// and sorted by key, and forgets them. An endpoint added and removed
// between two Drains is not reported.
func (e *Engine) Drain() []EndpointUpdate {
	if len(e.dirty) == 0 && len(e.removed) == 0 {
		return nil
	}
	out := make([]EndpointUpdate, 0, len(e.dirty)+len(e.removed))
	for m := range e.dirty {
		out = append(out, EndpointUpdate{Endpoint: m.key, Policy: e.endpointPolicy(m)})
		m.reported = true
	}
	for k := range e.removed {
		out = append(out, EndpointUpdate{Endpoint: k})
	}
	// Fresh maps rather than clear: clearing or ranging over a map costs
	// its capacity, and one large batch (the initial load) would otherwise
	// make every later Drain cost as much as the cluster is large.
	e.dirty, e.removed = map[*member]struct{}{}, map[v3.Key]struct{}{}
	slices.SortFunc(out, func(a, b EndpointUpdate) int { return compareKeys(a.Endpoint, b.Endpoint) })
	return out
}

// DrainSets returns the rule selector sets changed or deleted since the
// last DrainSets, sorted by ID, and forgets them. A dataplane applies these
// (reading members with SetMembers) before the endpoint updates from
// Drain, so that rules never refer to a set that is not there yet.
func (e *Engine) DrainSets() []SetUpdate {
	if len(e.dirtySets) == 0 && len(e.deletedSets) == 0 {
		return nil
	}
	out := make([]SetUpdate, 0, len(e.dirtySets)+len(e.deletedSets))
	for se := range e.dirtySets {
		out = append(out, SetUpdate{ID: se.sel.UniqueID(), Selector: se.canon})
	}
	for id, canon := range e.deletedSets {
		out = append(out, SetUpdate{ID: id, Selector: canon, Deleted: true})
	}
	// Fresh maps, as in Drain.
	e.dirtySets, e.deletedSets = map[*selEntry]struct{}{}, map[string]string{}
	// An ID is never both changed and deleted: recreating a set clears
	// its pending deletion.
	slices.SortFunc(out, func(a, b SetUpdate) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// PoliciesFor returns the computed policy of an endpoint, or false if the
// engine holds no such endpoint.
func (e *Engine) PoliciesFor(ep v3.Key) (*EndpointPolicy, bool) {
	m := e.ix.members[ep]
	if m == nil || !m.endpoint {
		return nil, false
	}
	return e.endpointPolicy(m), true
}

func (e *Engine) endpointPolicy(m *member) *EndpointPolicy {
	ep := &EndpointPolicy{Endpoint: m.key, Profiles: slices.Clone(m.profiles)}
	host := m.key.Kind == v3.KindHostEndpoint
	for _, p := range m.pols {
		pol := p.pol
		switch {
		case pol.DoNotTrack:
			if host {
				addRef(&ep.UntrackedIngress, &ep.UntrackedEgress, p, v3.Pass)
			}
		case pol.PreDNAT:
			if host {
				addRef(&ep.PreDNATIngress, nil, p, v3.Pass)
			}
		default:
			addRef(&ep.Ingress, &ep.Egress, p, p.tier.defaultAction)
			if host && pol.ApplyOnForward {
				addRef(&ep.ForwardIngress, &ep.ForwardEgress, p, p.tier.defaultAction)
			}
		}
	}
	return ep
}

// addRef appends p to the ingress and egress tier lists it governs.
func addRef(in, eg *[]TierPolicies, p *policyState, action v3.Action) {
	ref := PolicyRef{Key: p.key, Order: p.pol.Order, Staged: p.pol.Staged, Policy: p.pol}
	add := func(list *[]TierPolicies) {
		if list == nil {
			return
		}
		if n := len(*list); n == 0 || (*list)[n-1].Tier != p.tier.name {
			*list = append(*list, TierPolicies{Tier: p.tier.name, DefaultAction: action})
		}
		last := &(*list)[len(*list)-1]
		last.Policies = append(last.Policies, ref)
	}
	if p.pol.Ingress {
		add(in)
	}
	if p.pol.Egress {
		add(eg)
	}
}

// SelectedBy returns the endpoints a policy applies to, sorted by key; nil
// for an unknown policy or a staged delete.
func (e *Engine) SelectedBy(policy v3.Key) []v3.Key {
	p := e.policies[policy]
	if p == nil || p.entry == nil {
		return nil
	}
	return sortedKeys(p.entry.members)
}

// Policy returns the compiled form of a policy.
func (e *Engine) Policy(key v3.Key) (*Policy, bool) {
	p := e.policies[key]
	if p == nil {
		return nil, false
	}
	return p.pol, true
}

// ProfileRules returns the compiled rules of a profile, as the dataplane
// renders them; ok is false when no such profile exists (an endpoint's
// missing profile contributes nothing, as in Felix). The slices are
// immutable: a changed profile gets new ones.
func (e *Engine) ProfileRules(name string) (ingress, egress []Rule, ok bool) {
	p := e.profiles[name]
	if p == nil {
		return nil, nil, false
	}
	return p.ingress, p.egress, true
}

// RulePeers reports what the source and destination of rule index of a
// policy's ingress or egress rules match.
func (e *Engine) RulePeers(policy v3.Key, dir Direction, index int) (RulePeers, error) {
	p := e.policies[policy]
	if p == nil {
		return RulePeers{}, fmt.Errorf("rule peers of %s: %w", policy, ErrUnknownPolicy)
	}
	rules := p.pol.rules(dir)
	if index < 0 || index >= len(rules) {
		return RulePeers{}, fmt.Errorf("rule peers of %s %s rule %d: %w", policy, dir, index, ErrNoRule)
	}
	r := &rules[index]
	return RulePeers{Source: peerMatch(&r.Source), Destination: peerMatch(&r.Destination)}, nil
}

func peerMatch(en *Entity) PeerMatch {
	pm := PeerMatch{
		Any:         en.sel == nil,
		Selector:    en.Selector,
		NotSelector: en.NotSelector,
		Nets:        en.Nets,
		NotNets:     en.NotNets,
	}
	if en.sel != nil {
		pm.Members = sortedKeys(en.sel.members)
	}
	if en.notSel != nil {
		pm.NotMembers = sortedKeys(en.notSel.members)
	}
	return pm
}

// SetMembers returns the members of the rule selector set id (see
// Entity.SelectorSet) sorted by key, or false if no rule uses such a set.
func (e *Engine) SetMembers(id string) ([]SetMember, bool) {
	se := e.sets[id]
	if se == nil {
		return nil, false
	}
	out := make([]SetMember, 0, len(se.members))
	for m := range se.members {
		out = append(out, SetMember{Key: m.key, Nets: m.nets})
	}
	slices.SortFunc(out, func(a, b SetMember) int { return compareKeys(a.Key, b.Key) })
	return out, true
}

// Endpoints returns the keys of every workload and host endpoint, sorted.
func (e *Engine) Endpoints() []v3.Key {
	var out []v3.Key
	for k, m := range e.ix.members {
		if m.endpoint {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, compareKeys)
	return out
}

func sortedKeys(ms map[*member]struct{}) []v3.Key {
	out := make([]v3.Key, 0, len(ms))
	for m := range ms {
		out = append(out, m.key)
	}
	slices.SortFunc(out, compareKeys)
	return out
}
