package nft

import (
	"maps"
	"slices"
)

// Changes summarises a difference between two models, as Diff computes it
// and Apply sends it.
type Changes struct {
	// TableCreated is true when the table is created (or re-created) with
	// everything in it.
	TableCreated bool
	// ChainsAdded are new chains; ChainsReplaced existing chains whose
	// rules are rewritten (flushed and re-added, which resets their
	// counters); ChainsRemoved chains deleted.
	ChainsAdded, ChainsReplaced, ChainsRemoved int
	// RulesWritten counts the rules of added and replaced chains.
	RulesWritten int
	// SetsAdded and SetsRemoved count sets and maps; ElementsAdded and
	// ElementsRemoved their elements changed in sets that stay.
	SetsAdded, SetsRemoved         int
	ElementsAdded, ElementsRemoved int
	// Messages is the number of netlink messages of the transaction,
	// without the batch begin and end.
	Messages int
}

// Empty reports whether there is nothing to change.
func (c Changes) Empty() bool { return c == Changes{} }

// maxElemsPerMessage bounds the elements of one netlink message: the
// element list is a netlink attribute, whose length is 16 bits.
const maxElemsPerMessage = 256

// plan is the difference between a programmed model (nil: nothing known)
// and a desired one, in the order Apply sends it.
type plan struct {
	create    bool
	addSets   []*set
	addChains []*chain
	flush     []*chain
	fill      []*chain
	delElems  map[string][]elem
	addElems  map[string][]elem
	delChains []string
	delSets   []string
	// old is the model changed from (empty when the table is created);
	// desired the model changed to.
	old, desired *Model
	changes      Changes
}

// Diff returns what Apply would change to go from model old (nil: a table
// that does not exist) to model desired.
func Diff(old, desired *Model) Changes { return diff(old, desired).changes }

func chunks(n int) int { return (n + maxElemsPerMessage - 1) / maxElemsPerMessage }

func diff(old, desired *Model) *plan {
	p := &plan{desired: desired, delElems: map[string][]elem{}, addElems: map[string][]elem{}}
	// Names determine kinds: a set or chain of the same name in both
	// models has the same type or hook, so only contents are compared.
	if old == nil {
		p.create = true
		old = &Model{table: desired.table}
	}
	p.old = old
	c := &p.changes
	c.TableCreated = p.create
	if p.create {
		c.Messages++
	}
	for _, name := range slices.Sorted(maps.Keys(desired.sets)) {
		s := desired.sets[name]
		prev, ok := old.sets[name]
		if !ok {
			p.addSets = append(p.addSets, s)
			c.SetsAdded++
			c.Messages += 1 + chunks(len(s.elems))
			continue
		}
		var dels, adds []elem
		for e, v := range prev.elems {
			if nv, ok := s.elems[e]; !ok || nv != v {
				dels = append(dels, e)
			}
		}
		for e, v := range s.elems {
			if pv, ok := prev.elems[e]; !ok || pv != v {
				adds = append(adds, e)
			}
		}
		if len(dels) > 0 {
			p.delElems[name] = sortElems(dels)
			c.ElementsRemoved += len(dels)
			c.Messages += chunks(len(dels))
		}
		if len(adds) > 0 {
			p.addElems[name] = sortElems(adds)
			c.ElementsAdded += len(adds)
			c.Messages += chunks(len(adds))
		}
	}
	for _, ch := range desired.sortedChains() {
		prev, ok := old.chains[ch.name]
		switch {
		case !ok:
			p.addChains = append(p.addChains, ch)
			p.fill = append(p.fill, ch)
			c.ChainsAdded++
			c.Messages++
		case !sameRules(prev.rules, ch.rules):
			p.flush = append(p.flush, ch)
			p.fill = append(p.fill, ch)
			c.ChainsReplaced++
			c.Messages++
		default:
			continue
		}
		c.RulesWritten += len(ch.rules)
		c.Messages += len(ch.rules)
	}
	for _, name := range slices.Sorted(maps.Keys(old.chains)) {
		if _, ok := desired.chains[name]; !ok {
			p.delChains = append(p.delChains, name)
			c.ChainsRemoved++
			c.Messages += 2
		}
	}
	for _, name := range slices.Sorted(maps.Keys(old.sets)) {
		if _, ok := desired.sets[name]; !ok {
			p.delSets = append(p.delSets, name)
			c.SetsRemoved++
			c.Messages++
		}
	}
	return p
}

func sameRules(a, b []rule) bool {
	return slices.EqualFunc(a, b, func(x, y rule) bool { return x.equal(&y) })
}

func sortElems(es []elem) []elem {
	slices.SortFunc(es, func(a, b elem) int {
		if a.key != b.key {
			if a.key < b.key {
				return -1
			}
			return 1
		}
		switch {
		case a.end < b.end:
			return -1
		case a.end > b.end:
			return 1
		}
		return 0
	})
	return es
}
