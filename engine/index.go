package engine

import (
	"net/netip"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/selector"
)

// domain says what a selector entry selects from.
type domain uint8

const (
	// policyDomain entries are policy selectors: they select endpoints.
	policyDomain domain = iota
	// setDomain entries are rule selectors: they select endpoints and
	// network sets, like Felix's IP sets.
	setDomain
	numDomains
)

// member is anything a selector can select: a workload or host endpoint, or
// a (global) network set.
type member struct {
	key      v3.Key
	endpoint bool
	obj      v3.Object
	// own is the object's label map (not copied; objects are owned by the
	// engine once upserted). labels is own plus inherited and implicit
	// labels, the view every selector is evaluated against.
	own    map[string]string
	labels map[string]string
	// profiles are the profiles whose labels the member inherits, in
	// order: an endpoint's spec.profiles, a NetworkSet's kns.<namespace>.
	profiles []string
	// nets are an endpoint's addresses (single-address prefixes) or a
	// network set's CIDRs; addrs the endpoint addresses alone.
	nets  []netip.Prefix
	addrs []netip.Addr
	ports []namedPort
	// pols are the policies whose selector matches an endpoint, sorted in
	// evaluation order (policyLess). Network sets have none.
	pols []*policyState
	// matched records, per domain, the selector entries matching the
	// member, so that a relabel can be diffed and a delete undone.
	matched [numDomains]map[*selEntry]struct{}
	// reported is true once Drain has emitted the endpoint as present.
	reported bool
}

// namedPort is a port an endpoint declares by name.
type namedPort struct {
	name  string
	proto int
	port  int
}

// selEntry is one distinct selector of a domain, shared by every user of
// the same canonical form, with the set of members it currently matches.
type selEntry struct {
	dom   domain
	sel   *selector.Selector
	canon string
	// terms are the selector's top-level requirements; reg is the one it is
	// filed under in the selector index (kind termOther: unrestricted).
	terms []term
	reg   term
	refs  int
	// members is what the selector matches now. For the policy domain only
	// endpoints are members.
	members map[*member]struct{}
	// policies are the policies using the entry as their selector.
	policies map[*policyState]struct{}
}

// selIndex files the entries of one domain by the label requirement they
// were registered under, so that a member's candidates can be found from its
// labels without visiting every selector.
type selIndex struct {
	entries      map[string]*selEntry
	unrestricted map[*selEntry]struct{}
	byKV         map[string]map[string]map[*selEntry]struct{}
	byKey        map[string]map[*selEntry]struct{}
}

// index is the label and selector index shared by the engine: members by
// label, selectors by label requirement, and the match relation between them.
//
// Invariants: for every entry e of a domain and every member m eligible for
// that domain, m ∈ e.members ⇔ e ∈ m.matched[dom] ⇔ e.sel matches m.labels.
// Additions and removals are keyed identically (by label key and value as
// stored in m.labels, and by the entry's reg term).
type index struct {
	members map[v3.Key]*member
	// byKV and byKey index members by label value and by label key.
	byKV  map[string]map[string]map[*member]struct{}
	byKey map[string]map[*member]struct{}
	sels  [numDomains]selIndex
	// onMatch is told every change of the match relation.
	onMatch func(e *selEntry, m *member, matched bool)
}

func newIndex(onMatch func(e *selEntry, m *member, matched bool)) *index {
	ix := &index{
		members: map[v3.Key]*member{},
		byKV:    map[string]map[string]map[*member]struct{}{},
		byKey:   map[string]map[*member]struct{}{},
		onMatch: onMatch,
	}
	for d := range ix.sels {
		ix.sels[d] = selIndex{
			entries:      map[string]*selEntry{},
			unrestricted: map[*selEntry]struct{}{},
			byKV:         map[string]map[string]map[*selEntry]struct{}{},
			byKey:        map[string]map[*selEntry]struct{}{},
		}
	}
	return ix
}

// eligible reports whether m can be matched by selectors of domain d.
func eligible(d domain, m *member) bool { return d == setDomain || m.endpoint }

// addMember indexes a new member with labels and matches it.
func (ix *index) addMember(m *member) {
	ix.members[m.key] = m
	for k, v := range m.labels {
		addKV(ix.byKV, ix.byKey, k, v, m)
	}
	for d := range numDomains {
		if eligible(d, m) {
			ix.rematch(d, m)
		}
	}
}

// removeMember unmatches m from every entry and drops it from the index.
func (ix *index) removeMember(m *member) {
	for d := range numDomains {
		for e := range m.matched[d] {
			delete(e.members, m)
			ix.onMatch(e, m, false)
		}
		m.matched[d] = nil
	}
	for k, v := range m.labels {
		delKV(ix.byKV, ix.byKey, k, v, m)
	}
	delete(ix.members, m.key)
}

// relabel changes m's labels and updates the match relation. Only the
// selectors that could match the new labels and those that matched the old
// ones are evaluated.
func (ix *index) relabel(m *member, labels map[string]string) {
	for k, v := range m.labels {
		if nv, ok := labels[k]; !ok || nv != v {
			delKV(ix.byKV, ix.byKey, k, v, m)
		}
	}
	for k, v := range labels {
		if ov, ok := m.labels[k]; !ok || ov != v {
			addKV(ix.byKV, ix.byKey, k, v, m)
		}
	}
	m.labels = labels
	for d := range numDomains {
		if eligible(d, m) {
			ix.rematch(d, m)
		}
	}
}

// rematch brings m.matched[d] in line with m.labels: entries that matched
// and no longer do are dropped, candidates that now match are added.
func (ix *index) rematch(d domain, m *member) {
	l := selector.Map(m.labels)
	for e := range m.matched[d] {
		if !e.sel.Matches(l) {
			delete(m.matched[d], e)
			delete(e.members, m)
			ix.onMatch(e, m, false)
		}
	}
	ix.candidateSelectors(d, m.labels, func(e *selEntry) {
		if _, ok := m.matched[d][e]; ok || !e.sel.Matches(l) {
			return
		}
		ix.match(e, m)
	})
}

func (ix *index) match(e *selEntry, m *member) {
	if m.matched[e.dom] == nil {
		m.matched[e.dom] = map[*selEntry]struct{}{}
	}
	m.matched[e.dom][e] = struct{}{}
	e.members[m] = struct{}{}
	ix.onMatch(e, m, true)
}

// candidateSelectors calls f once for every entry of domain d that could
// match labels: the unrestricted ones and those filed under a label of labels.
func (ix *index) candidateSelectors(d domain, labels map[string]string, f func(*selEntry)) {
	si := &ix.sels[d]
	for e := range si.unrestricted {
		f(e)
	}
	for k, v := range labels {
		if byV, ok := si.byKV[k]; ok {
			for e := range byV[v] {
				f(e)
			}
		}
		for e := range si.byKey[k] {
			f(e)
		}
	}
}

// ref returns the entry of domain d for sel, creating and populating it on
// first use, and counts a reference to it.
func (ix *index) ref(d domain, sel *selector.Selector) *selEntry {
	si := &ix.sels[d]
	canon := sel.String()
	if e, ok := si.entries[canon]; ok {
		e.refs++
		return e
	}
	e := &selEntry{
		dom:      d,
		sel:      sel,
		canon:    canon,
		terms:    restrictions(canon),
		refs:     1,
		members:  map[*member]struct{}{},
		policies: map[*policyState]struct{}{},
	}
	e.reg = ix.registrationTerm(e.terms)
	si.entries[canon] = e
	si.register(e)
	ix.candidateMembers(e, func(m *member) {
		if eligible(d, m) && e.sel.Matches(selector.Map(m.labels)) {
			ix.match(e, m)
		}
	})
	return e
}

// unref drops a reference to e, deleting it with its matches when unused.
func (ix *index) unref(e *selEntry) {
	e.refs--
	if e.refs > 0 {
		return
	}
	for m := range e.members {
		delete(m.matched[e.dom], e)
		ix.onMatch(e, m, false)
	}
	e.members = nil
	si := &ix.sels[e.dom]
	si.unregister(e)
	delete(si.entries, e.canon)
}

// candidateMembers calls f for every member that could match e: the
// members of the smallest label bucket among e's requirements, or every
// member when e has none.
func (ix *index) candidateMembers(e *selEntry, f func(*member)) {
	best, bestLen := -1, len(ix.members)
	for i, t := range e.terms {
		if n := ix.bucketSize(t); n < bestLen || best < 0 && n <= bestLen {
			best, bestLen = i, n
		}
	}
	if best < 0 {
		for _, m := range ix.members {
			f(m)
		}
		return
	}
	t := e.terms[best]
	if t.kind == termHas {
		for m := range ix.byKey[t.label] {
			f(m)
		}
		return
	}
	for _, v := range t.values {
		for m := range ix.byKV[t.label][v] {
			f(m)
		}
	}
}

// bucketSize is the number of members that meet requirement t now.
func (ix *index) bucketSize(t term) int {
	switch t.kind {
	case termHas:
		return len(ix.byKey[t.label])
	case termEq, termIn:
		n := 0
		for _, v := range t.values {
			n += len(ix.byKV[t.label][v])
		}
		return n
	}
	return len(ix.members)
}

// registrationTerm picks the requirement an entry is filed under. Every
// relabelling of a member meeting it evaluates the entry, so the best is
// the one fewest members meet: the smallest bucket now, and among equal
// buckets (all empty while a cluster loads its policies first) the most
// selective kind: the namespace label, which partitions clusters best, then
// any other equality, then a set of values, then the orchestrator label,
// which every pod of an orchestrator shares (so every Kubernetes rule
// selector has the term projectcalico.org/orchestrator == "k8s"), then mere
// presence. The first in canonical order breaks the remaining ties.
func (ix *index) registrationTerm(terms []term) term {
	rank := func(t term) int {
		switch {
		case t.kind == termEq && t.label == v3.LabelNamespace:
			return 5
		case t.kind == termEq && t.label == v3.LabelOrchestrator:
			return 2
		case t.kind == termEq:
			return 4
		case t.kind == termIn:
			return 3
		case t.kind == termHas:
			return 1
		}
		return 0
	}
	best, bestSize := term{}, 0
	for _, t := range terms {
		size := ix.bucketSize(t)
		if best.kind == termOther || size < bestSize || size == bestSize && rank(t) > rank(best) {
			best, bestSize = t, size
		}
	}
	return best
}

func (si *selIndex) register(e *selEntry) {
	t := e.reg
	switch t.kind {
	case termHas:
		set := si.byKey[t.label]
		if set == nil {
			set = map[*selEntry]struct{}{}
			si.byKey[t.label] = set
		}
		set[e] = struct{}{}
	case termEq, termIn:
		byV := si.byKV[t.label]
		if byV == nil {
			byV = map[string]map[*selEntry]struct{}{}
			si.byKV[t.label] = byV
		}
		for _, v := range t.values {
			set := byV[v]
			if set == nil {
				set = map[*selEntry]struct{}{}
				byV[v] = set
			}
			set[e] = struct{}{}
		}
	default:
		si.unrestricted[e] = struct{}{}
	}
}

func (si *selIndex) unregister(e *selEntry) {
	t := e.reg
	switch t.kind {
	case termHas:
		delete(si.byKey[t.label], e)
		if len(si.byKey[t.label]) == 0 {
			delete(si.byKey, t.label)
		}
	case termEq, termIn:
		byV := si.byKV[t.label]
		for _, v := range t.values {
			delete(byV[v], e)
			if len(byV[v]) == 0 {
				delete(byV, v)
			}
		}
		if len(byV) == 0 {
			delete(si.byKV, t.label)
		}
	default:
		delete(si.unrestricted, e)
	}
}

func addKV(byKV map[string]map[string]map[*member]struct{}, byKey map[string]map[*member]struct{}, k, v string, m *member) {
	byV := byKV[k]
	if byV == nil {
		byV = map[string]map[*member]struct{}{}
		byKV[k] = byV
	}
	set := byV[v]
	if set == nil {
		set = map[*member]struct{}{}
		byV[v] = set
	}
	set[m] = struct{}{}
	keySet := byKey[k]
	if keySet == nil {
		keySet = map[*member]struct{}{}
		byKey[k] = keySet
	}
	keySet[m] = struct{}{}
}

func delKV(byKV map[string]map[string]map[*member]struct{}, byKey map[string]map[*member]struct{}, k, v string, m *member) {
	if byV := byKV[k]; byV != nil {
		delete(byV[v], m)
		if len(byV[v]) == 0 {
			delete(byV, v)
		}
		if len(byV) == 0 {
			delete(byKV, k)
		}
	}
	if keySet := byKey[k]; keySet != nil {
		delete(keySet, m)
		if len(keySet) == 0 {
			delete(byKey, k)
		}
	}
}
