package engine

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/selector"
)

// Engine holds the policy model and answers evaluation queries. The zero
// value is not usable; call New.
//
// An Engine is not safe for concurrent use: Upsert, Delete, Drain and
// DrainSets change it. Evaluate and the query methods only read it, so a
// caller may run them concurrently with each other under a read lock, with
// the mutating methods under the write lock.
type Engine struct {
	ix       *index
	policies map[v3.Key]*policyState
	tiers    map[string]*tierState
	profiles map[string]*profileState
	// profileUsers are the members inheriting from each profile name,
	// whether or not the profile exists yet.
	profileUsers map[string]map[*member]struct{}
	// addrs indexes endpoints by address, each slice sorted by key.
	addrs map[netip.Addr][]*member
	// nets indexes network sets by CIDR; netBits counts the prefix lengths
	// in use per family (index 0 IPv4, 1 IPv6) so a lookup tries only those.
	nets    map[netip.Prefix][]*member
	netBits [2]map[int]int
	// dirty endpoints and removed endpoint keys since the last Drain.
	dirty   map[*member]struct{}
	removed map[v3.Key]struct{}
	// sets by ID, and the sets changed or deleted since the last DrainSets.
	sets        map[string]*selEntry
	dirtySets   map[*selEntry]struct{}
	deletedSets map[string]string
}

// policyState is the engine's record of one policy: the compiled *Policy
// and what it holds in the indexes.
type policyState struct {
	key  v3.Key
	pol  *Policy
	tier *tierState
	// order is the policy order with nil as +Inf; sortName is
	// "<name>/<namespace>/<kind>", Felix's tie-break.
	order    float64
	sortName string
	entry    *selEntry
	ruleSets []*selEntry
	// shadowed is true for a live policy with a staged counterpart: the
	// staged ("would have") walk skips it.
	shadowed bool
}

// inNormal reports whether the policy is in an endpoint's normal tiers
// (doNotTrack and preDNAT policies are in their own lists).
func (p *policyState) inNormal() bool { return !p.pol.DoNotTrack && !p.pol.PreDNAT }

func (p *policyState) governs(d Direction) bool {
	if d == Ingress {
		return p.pol.Ingress
	}
	return p.pol.Egress
}

// activeIn reports whether the policy takes part in the enforced walk
// (staged false) or in the staged walk, where staged Set policies act as
// live and live policies with a staged counterpart are replaced.
func (p *policyState) activeIn(staged bool) bool {
	if !staged {
		return !p.pol.Staged
	}
	if p.pol.Staged {
		return p.pol.StagedAction != v3.StagedActionDelete
	}
	return !p.shadowed
}

func (p *Policy) rules(d Direction) []Rule {
	if d == Ingress {
		return p.IngressRules
	}
	return p.EgressRules
}

// tierState is a tier as the engine knows it. A tier referenced by a policy
// but never upserted exists with exists=false and sorts after all others.
type tierState struct {
	name          string
	exists        bool
	hasOrder      bool
	order         float64
	defaultAction v3.Action
	policies      map[*policyState]struct{}
	// upserted is true while a Tier object is held.
	upserted bool
}

// wellKnownTiers are the tiers Calico creates at start-up. The engine treats
// them as existing with these settings until a Tier object says otherwise,
// so that policies in "default" sort correctly without the Tier resource.
var wellKnownTiers = map[string]struct {
	order         float64
	defaultAction v3.Action
}{
	v3.DefaultTierName: {1e6, v3.Deny},
	"kube-admin":       {1000, v3.Pass},
	"kube-baseline":    {1e7, v3.Pass},
}

type profileState struct {
	*profile
	ruleSets []*selEntry
}

// New returns an empty engine.
func New() *Engine {
	e := &Engine{
		policies:     map[v3.Key]*policyState{},
		tiers:        map[string]*tierState{},
		profiles:     map[string]*profileState{},
		profileUsers: map[string]map[*member]struct{}{},
		addrs:        map[netip.Addr][]*member{},
		nets:         map[netip.Prefix][]*member{},
		netBits:      [2]map[int]int{{}, {}},
		dirty:        map[*member]struct{}{},
		removed:      map[v3.Key]struct{}{},
		sets:         map[string]*selEntry{},
		dirtySets:    map[*selEntry]struct{}{},
		deletedSets:  map[string]string{},
	}
	e.ix = newIndex(e.onMatch)
	return e
}

// Upsert adds or replaces a resource: NetworkPolicy, GlobalNetworkPolicy,
// their Staged variants, Tier, Profile, NetworkSet, GlobalNetworkSet,
// WorkloadEndpoint or HostEndpoint. Objects are expected to be defaulted
// and validated already; the engine nevertheless refuses, with a
// *FieldError naming the field, anything it cannot compile (a selector that
// does not parse, a bad CIDR or protocol), and then changes nothing. Other
// kinds give ErrUnsupportedKind.
//
// The engine keeps references into obj: the caller must not modify it
// afterwards. References to resources not seen yet (a tier, a profile) are
// fine and resolve when those arrive.
func (e *Engine) Upsert(obj v3.Object) error {
	key := v3.KeyOf(obj)
	switch o := obj.(type) {
	case *v3.NetworkPolicy, *v3.GlobalNetworkPolicy, *v3.StagedNetworkPolicy, *v3.StagedGlobalNetworkPolicy:
		return e.upsertPolicy(key, obj)
	case *v3.Tier:
		e.upsertTier(o)
		return nil
	case *v3.Profile:
		return e.upsertProfile(key, o)
	case *v3.WorkloadEndpoint, *v3.HostEndpoint, *v3.NetworkSet, *v3.GlobalNetworkSet:
		return e.upsertMember(key, obj)
	}
	return fmt.Errorf("upsert %s: %w", key, ErrUnsupportedKind)
}

// Delete removes the resource with key. Deleting a key the engine does not
// hold is a no-op.
func (e *Engine) Delete(key v3.Key) {
	switch key.Kind {
	case v3.KindNetworkPolicy, v3.KindGlobalNetworkPolicy, v3.KindStagedNetworkPolicy, v3.KindStagedGlobalNetworkPolicy:
		e.deletePolicy(key)
	case v3.KindTier:
		e.deleteTier(key.Name)
	case v3.KindProfile:
		e.deleteProfile(key.Name)
	case v3.KindWorkloadEndpoint, v3.KindHostEndpoint, v3.KindNetworkSet, v3.KindGlobalNetworkSet:
		e.deleteMember(key)
	}
}

// onMatch keeps endpoint policy lists and set change tracking in step with
// the selector index.
func (e *Engine) onMatch(se *selEntry, m *member, matched bool) {
	switch se.dom {
	case policyDomain:
		for p := range se.policies {
			if matched {
				insertPolicy(m, p)
			} else {
				removePolicy(m, p)
			}
		}
		if len(se.policies) > 0 {
			e.dirty[m] = struct{}{}
		}
	case setDomain:
		if se.refs > 0 {
			e.dirtySets[se] = struct{}{}
		}
	}
}

// policyCmp orders policies as Felix evaluates them: by tier (existing
// tiers first, then order with nil last, then name), then by policy order
// (nil = +Inf), then by "<name>/<namespace>/<kind>".
func policyCmp(a, b *policyState) int {
	if a.tier != b.tier {
		if c := tierCmp(a.tier, b.tier); c != 0 {
			return c
		}
	}
	if a.order != b.order {
		return cmp.Compare(a.order, b.order)
	}
	return strings.Compare(a.sortName, b.sortName)
}

func tierCmp(a, b *tierState) int {
	if a.exists != b.exists {
		if a.exists {
			return -1
		}
		return 1
	}
	if a.hasOrder != b.hasOrder {
		if a.hasOrder {
			return -1
		}
		return 1
	}
	if a.hasOrder && a.order != b.order {
		return cmp.Compare(a.order, b.order)
	}
	return strings.Compare(a.name, b.name)
}

func insertPolicy(m *member, p *policyState) {
	i, found := slices.BinarySearchFunc(m.pols, p, policyCmp)
	if found {
		return
	}
	m.pols = slices.Insert(m.pols, i, p)
}

func removePolicy(m *member, p *policyState) {
	if i, found := slices.BinarySearchFunc(m.pols, p, policyCmp); found && m.pols[i] == p {
		m.pols = slices.Delete(m.pols, i, i+1)
		return
	}
	panic(fmt.Sprintf("engine: policy %s missing from the list of %s", p.key, m.key))
}

// --- policies ---

func (e *Engine) upsertPolicy(key v3.Key, obj v3.Object) error {
	pol, err := compilePolicy(key, obj)
	if err != nil {
		return fmt.Errorf("upsert %s: %w", key, err)
	}
	ps := &policyState{
		key:      key,
		pol:      pol,
		order:    math.Inf(1),
		sortName: key.Name + "/" + key.Namespace + "/" + key.Kind,
	}
	if pol.Order != nil {
		ps.order = *pol.Order
	}
	// Take the new references (tier, selectors) before dropping the old
	// ones so that what the two versions share survives the swap.
	ps.tier = e.tier(pol.Tier)
	ps.tier.policies[ps] = struct{}{}
	if pol.sel != nil {
		ps.entry = e.ix.ref(policyDomain, pol.sel)
	}
	ps.ruleSets = e.refRuleSets(pol.IngressRules, pol.EgressRules)
	if old := e.policies[key]; old != nil {
		e.detachPolicy(old)
	}
	e.policies[key] = ps
	if ps.entry != nil {
		ps.entry.policies[ps] = struct{}{}
		for m := range ps.entry.members {
			insertPolicy(m, ps)
			e.dirty[m] = struct{}{}
		}
	}
	e.updateShadow(key)
	return nil
}

func (e *Engine) deletePolicy(key v3.Key) {
	old := e.policies[key]
	if old == nil {
		return
	}
	e.detachPolicy(old)
	delete(e.policies, key)
	e.updateShadow(key)
}

// detachPolicy undoes everything attaching ps did.
func (e *Engine) detachPolicy(ps *policyState) {
	if ps.entry != nil {
		delete(ps.entry.policies, ps)
		for m := range ps.entry.members {
			removePolicy(m, ps)
			e.dirty[m] = struct{}{}
		}
		e.ix.unref(ps.entry)
	}
	e.unrefSets(ps.ruleSets)
	delete(ps.tier.policies, ps)
	e.releaseTier(ps.tier)
}

// counterpart returns the key of the live policy a staged one shadows, or
// of the staged policy that shadows a live one.
func counterpart(key v3.Key) (v3.Key, bool) {
	switch key.Kind {
	case v3.KindNetworkPolicy:
		key.Kind = v3.KindStagedNetworkPolicy
	case v3.KindStagedNetworkPolicy:
		key.Kind = v3.KindNetworkPolicy
	case v3.KindGlobalNetworkPolicy:
		key.Kind = v3.KindStagedGlobalNetworkPolicy
	case v3.KindStagedGlobalNetworkPolicy:
		key.Kind = v3.KindGlobalNetworkPolicy
	default:
		return v3.Key{}, false
	}
	return key, true
}

// updateShadow recomputes the shadowed flag of the live policy of the pair
// key belongs to. A staged policy replaces its live counterpart of the same
// namespace and name (policy names are unique per namespace across tiers).
func (e *Engine) updateShadow(key v3.Key) {
	other, ok := counterpart(key)
	if !ok {
		return
	}
	live, staged := key, other
	if strings.HasPrefix(key.Kind, "Staged") {
		live, staged = other, key
	}
	if lp := e.policies[live]; lp != nil {
		lp.shadowed = e.policies[staged] != nil
	}
}

// refRuleSets takes set-domain references for every rule selector.
func (e *Engine) refRuleSets(lists ...[]Rule) []*selEntry {
	var refs []*selEntry
	for _, rules := range lists {
		for i := range rules {
			for _, en := range []*Entity{&rules[i].Source, &rules[i].Destination} {
				if en.rawSel != nil {
					en.sel = e.refSet(en.rawSel)
					en.SelectorSet = en.sel.sel.UniqueID()
					refs = append(refs, en.sel)
				}
				if en.rawNotSel != nil {
					en.notSel = e.refSet(en.rawNotSel)
					en.NotSelectorSet = en.notSel.sel.UniqueID()
					refs = append(refs, en.notSel)
				}
			}
		}
	}
	return refs
}

func (e *Engine) refSet(sel *selector.Selector) *selEntry {
	se := e.ix.ref(setDomain, sel)
	if se.refs == 1 {
		id := se.sel.UniqueID()
		e.sets[id] = se
		e.dirtySets[se] = struct{}{}
		delete(e.deletedSets, id)
	}
	return se
}

func (e *Engine) unrefSets(refs []*selEntry) {
	for _, se := range refs {
		e.ix.unref(se)
		if se.refs == 0 {
			id := se.sel.UniqueID()
			delete(e.sets, id)
			delete(e.dirtySets, se)
			e.deletedSets[id] = se.canon
		}
	}
}

// --- tiers ---

// tier returns the state of tier name, creating it (as not existing, or
// with its well-known settings) when first referenced.
func (e *Engine) tier(name string) *tierState {
	if t := e.tiers[name]; t != nil {
		return t
	}
	t := &tierState{name: name, defaultAction: v3.Deny, policies: map[*policyState]struct{}{}}
	if wk, ok := wellKnownTiers[name]; ok {
		t.exists, t.hasOrder, t.order, t.defaultAction = true, true, wk.order, wk.defaultAction
	}
	e.tiers[name] = t
	return t
}

// releaseTier forgets a tier nothing holds any more.
func (e *Engine) releaseTier(t *tierState) {
	if !t.upserted && len(t.policies) == 0 {
		delete(e.tiers, t.name)
	}
}

func (e *Engine) upsertTier(obj *v3.Tier) {
	t := e.tier(obj.Name)
	t.upserted = true
	hasOrder, order := obj.Spec.Order != nil, 0.0
	if hasOrder {
		order = *obj.Spec.Order
	}
	action := v3.Deny
	if obj.Spec.DefaultAction != nil && *obj.Spec.DefaultAction == v3.Pass {
		action = v3.Pass
	}
	e.setTier(t, true, hasOrder, order, action)
}

func (e *Engine) deleteTier(name string) {
	t := e.tiers[name]
	if t == nil || !t.upserted {
		return
	}
	t.upserted = false
	if wk, ok := wellKnownTiers[name]; ok {
		e.setTier(t, true, true, wk.order, wk.defaultAction)
	} else {
		e.setTier(t, false, false, 0, v3.Deny)
	}
	e.releaseTier(t)
}

// setTier changes a tier's sort key or default action and brings the
// endpoints holding its policies up to date.
func (e *Engine) setTier(t *tierState, exists, hasOrder bool, order float64, action v3.Action) {
	resort := t.exists != exists || t.hasOrder != hasOrder || (hasOrder && t.order != order)
	changed := resort || t.defaultAction != action
	t.exists, t.hasOrder, t.order, t.defaultAction = exists, hasOrder, order, action
	if !changed {
		return
	}
	affected := map[*member]struct{}{}
	for p := range t.policies {
		if p.entry != nil {
			for m := range p.entry.members {
				affected[m] = struct{}{}
			}
		}
	}
	for m := range affected {
		if resort {
			slices.SortFunc(m.pols, policyCmp)
		}
		e.dirty[m] = struct{}{}
	}
}

// --- profiles ---

func (e *Engine) upsertProfile(key v3.Key, obj *v3.Profile) error {
	p, err := compileProfile(key, obj)
	if err != nil {
		return fmt.Errorf("upsert %s: %w", key, err)
	}
	ps := &profileState{profile: p}
	ps.ruleSets = e.refRuleSets(p.ingress, p.egress)
	old := e.profiles[key.Name]
	e.profiles[key.Name] = ps
	if old != nil {
		e.unrefSets(old.ruleSets)
	}
	relabel := old == nil || !maps.Equal(old.labelsToApply, p.labelsToApply)
	e.profileChanged(key.Name, relabel)
	return nil
}

func (e *Engine) deleteProfile(name string) {
	old := e.profiles[name]
	if old == nil {
		return
	}
	delete(e.profiles, name)
	e.unrefSets(old.ruleSets)
	e.profileChanged(name, len(old.labelsToApply) > 0)
}

// profileChanged refreshes the members using a profile: their inherited
// labels when relabel is set, and their computed policy in any case.
func (e *Engine) profileChanged(name string, relabel bool) {
	for m := range e.profileUsers[name] {
		if relabel {
			e.ix.relabel(m, e.labelsOf(m))
		}
		if m.endpoint {
			e.dirty[m] = struct{}{}
		}
	}
}

// --- endpoints and network sets ---

func (e *Engine) upsertMember(key v3.Key, obj v3.Object) error {
	nm, err := newMember(key, obj)
	if err != nil {
		return fmt.Errorf("upsert %s: %w", key, err)
	}
	m := e.ix.members[key]
	if m == nil {
		m = nm
		e.indexAddrs(m, true)
		e.indexProfiles(m, true)
		m.labels = e.labelsOf(m)
		e.ix.addMember(m)
		if _, ok := e.removed[key]; ok {
			// The consumer still has the previous incarnation.
			delete(e.removed, key)
			m.reported = true
		}
	} else {
		e.indexAddrs(m, false)
		e.indexProfiles(m, false)
		netsChanged := !slices.Equal(m.nets, nm.nets)
		m.obj, m.own, m.profiles, m.nets, m.addrs, m.ports = nm.obj, nm.own, nm.profiles, nm.nets, nm.addrs, nm.ports
		e.indexAddrs(m, true)
		e.indexProfiles(m, true)
		e.ix.relabel(m, e.labelsOf(m))
		if netsChanged {
			for se := range m.matched[setDomain] {
				e.dirtySets[se] = struct{}{}
			}
		}
	}
	if m.endpoint {
		e.dirty[m] = struct{}{}
	}
	return nil
}

func (e *Engine) deleteMember(key v3.Key) {
	m := e.ix.members[key]
	if m == nil {
		return
	}
	e.ix.removeMember(m)
	e.indexAddrs(m, false)
	e.indexProfiles(m, false)
	delete(e.dirty, m)
	if m.reported {
		e.removed[key] = struct{}{}
	}
}

// newMember reads the parts of an endpoint or network set the engine uses.
func newMember(key v3.Key, obj v3.Object) (*member, error) {
	m := &member{key: key, obj: obj, own: obj.GetLabels()}
	var nets []string
	field := ""
	switch o := obj.(type) {
	case *v3.WorkloadEndpoint:
		m.endpoint = true
		m.profiles = o.Spec.Profiles
		nets, field = o.Spec.IPNetworks, "spec.ipNetworks"
		for i, p := range o.Spec.Ports {
			n, err := protocolNumber(key, fmt.Sprintf("spec.ports[%d].protocol", i), &p.Protocol)
			if err != nil {
				return nil, err
			}
			m.ports = append(m.ports, namedPort{name: p.Name, proto: n, port: int(p.Port)})
		}
	case *v3.HostEndpoint:
		m.endpoint = true
		m.profiles = o.Spec.Profiles
		nets, field = o.Spec.ExpectedIPs, "spec.expectedIPs"
		for i, p := range o.Spec.Ports {
			n, err := protocolNumber(key, fmt.Sprintf("spec.ports[%d].protocol", i), &p.Protocol)
			if err != nil {
				return nil, err
			}
			m.ports = append(m.ports, namedPort{name: p.Name, proto: n, port: int(p.Port)})
		}
	case *v3.NetworkSet:
		// Calico gives network sets their namespace's profile as parent so
		// that they inherit the namespace labels.
		m.profiles = []string{namespaceProfilePrefix + key.Namespace}
		nets, field = o.Spec.Nets, "spec.nets"
	case *v3.GlobalNetworkSet:
		nets, field = o.Spec.Nets, "spec.nets"
	}
	for i, s := range nets {
		p, err := parseNet(s)
		if err != nil {
			return nil, &FieldError{Key: key, Field: fmt.Sprintf("%s[%d]", field, i), Value: s, Err: err}
		}
		if m.endpoint {
			// An endpoint's networks are its addresses.
			a := p.Addr()
			m.addrs = append(m.addrs, a)
			p = netip.PrefixFrom(a, a.BitLen())
		}
		m.nets = append(m.nets, p)
	}
	return m, nil
}

// labelsOf computes a member's effective labels: inherited profile labels
// (earlier profiles win), overridden by the member's own labels (a workload
// endpoint's own pcns./pcsa. labels are dropped, as Calico does), overridden
// by the labels Calico sets itself.
func (e *Engine) labelsOf(m *member) map[string]string {
	out := make(map[string]string, len(m.own)+4)
	for _, name := range m.profiles {
		if p := e.profiles[name]; p != nil {
			for k, v := range p.labelsToApply {
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
		}
	}
	wep, _ := m.obj.(*v3.WorkloadEndpoint)
	for k, v := range m.own {
		if wep != nil && (strings.HasPrefix(k, namespaceLabelPrefix) || strings.HasPrefix(k, serviceAccountLabelPrefix)) {
			continue
		}
		out[k] = v
	}
	switch o := m.obj.(type) {
	case *v3.WorkloadEndpoint:
		out[v3.LabelNamespace] = o.Namespace
		if o.Spec.Orchestrator != "" {
			out[v3.LabelOrchestrator] = o.Spec.Orchestrator
		}
		if o.Spec.ServiceAccountName != "" {
			out[v3.LabelServiceAccount] = o.Spec.ServiceAccountName
		}
	case *v3.NetworkSet:
		out[v3.LabelNamespace] = o.Namespace
	}
	return out
}

func (e *Engine) indexProfiles(m *member, add bool) {
	for _, name := range m.profiles {
		users := e.profileUsers[name]
		if add {
			if users == nil {
				users = map[*member]struct{}{}
				e.profileUsers[name] = users
			}
			users[m] = struct{}{}
			continue
		}
		delete(users, m)
		if len(users) == 0 {
			delete(e.profileUsers, name)
		}
	}
}

// indexAddrs adds (or removes) an endpoint's addresses or a network set's
// CIDRs to the address indexes.
func (e *Engine) indexAddrs(m *member, add bool) {
	keyCmp := func(a, b *member) int { return compareKeys(a.key, b.key) }
	if m.endpoint {
		for _, a := range m.addrs {
			e.addrs[a] = updateSorted(e.addrs[a], m, add, keyCmp)
			if len(e.addrs[a]) == 0 {
				delete(e.addrs, a)
			}
		}
		return
	}
	for _, p := range m.nets {
		before := len(e.nets[p])
		e.nets[p] = updateSorted(e.nets[p], m, add, keyCmp)
		after := len(e.nets[p])
		if after == 0 {
			delete(e.nets, p)
		}
		fam := 0
		if p.Addr().Is6() {
			fam = 1
		}
		switch {
		case before == 0 && after > 0:
			e.netBits[fam][p.Bits()]++
		case before > 0 && after == 0:
			if e.netBits[fam][p.Bits()]--; e.netBits[fam][p.Bits()] == 0 {
				delete(e.netBits[fam], p.Bits())
			}
		}
	}
}

// updateSorted inserts m into (or removes it from) a slice sorted by key,
// copying rather than mutating so readers of the old slice are unaffected.
func updateSorted(s []*member, m *member, add bool, f func(a, b *member) int) []*member {
	i, found := slices.BinarySearchFunc(s, m, f)
	switch {
	case add && !found:
		return slices.Insert(slices.Clip(s), i, m)
	case !add && found:
		return slices.Delete(slices.Clone(s), i, i+1)
	}
	return s
}

func compareKeys(a, b v3.Key) int {
	if c := strings.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}
