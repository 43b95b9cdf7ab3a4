package selector

import (
	"slices"
	"strings"
)

type opKind uint8

const (
	opAll opKind = iota
	opGlobal
	opHas
	opEq
	opNe
	opContains
	opStartsWith
	opEndsWith
	opIn
	opNotIn
	opNot
	opAnd
	opOr
)

// node is both the syntax tree and the compiled matcher. Everything eval
// needs is prepared by the parser (sets sorted and de-duplicated, groups
// flattened, double negation removed), so evaluation is a walk over
// pointers with no allocation, and the same tree prints the canonical form.
type node struct {
	op    opKind
	label string   // for the label operators and has()
	value string   // for ==, !=, contains, starts with, ends with
	set   []string // for in and not in: sorted, unique
	kids  []*node  // one for !, two or more for && and ||, none of the same op
}

func (n *node) eval(l Labels) bool {
	switch n.op {
	case opAll, opGlobal:
		return true
	case opHas:
		_, ok := l.Get(n.label)
		return ok
	case opEq:
		v, ok := l.Get(n.label)
		return ok && v == n.value
	case opNe:
		v, ok := l.Get(n.label)
		return !ok || v != n.value
	case opContains:
		v, ok := l.Get(n.label)
		return ok && strings.Contains(v, n.value)
	case opStartsWith:
		v, ok := l.Get(n.label)
		return ok && strings.HasPrefix(v, n.value)
	case opEndsWith:
		v, ok := l.Get(n.label)
		return ok && strings.HasSuffix(v, n.value)
	case opIn:
		v, ok := l.Get(n.label)
		return ok && inSet(n.set, v)
	case opNotIn:
		v, ok := l.Get(n.label)
		return !ok || !inSet(n.set, v)
	case opNot:
		return !n.kids[0].eval(l)
	case opAnd:
		for _, k := range n.kids {
			if !k.eval(l) {
				return false
			}
		}
		return true
	case opOr:
		for _, k := range n.kids {
			if k.eval(l) {
				return true
			}
		}
		return false
	}
	panic("selector: node with unknown op")
}

// inSet reports whether v is in set. Sets in real policies are short, so a
// sorted slice is smaller than a map and binary search about as fast.
func inSet(set []string, v string) bool {
	_, found := slices.BinarySearch(set, v)
	return found
}

// infix is how String spells a binary operator, blanks included.
func (op opKind) infix() string {
	switch op {
	case opEq:
		return " == "
	case opNe:
		return " != "
	case opContains:
		return " contains "
	case opStartsWith:
		return " starts with "
	case opEndsWith:
		return " ends with "
	case opIn:
		return " in "
	case opNotIn:
		return " not in "
	case opAnd:
		return " && "
	case opOr:
		return " || "
	}
	panic("selector: infix of a non-binary op")
}

// write appends the canonical form of n to b.
func (n *node) write(b *strings.Builder) {
	switch n.op {
	case opAll:
		b.WriteString("all()")
	case opGlobal:
		b.WriteString("global()")
	case opHas:
		b.WriteString("has(")
		b.WriteString(n.label)
		b.WriteByte(')')
	case opEq, opNe, opContains, opStartsWith, opEndsWith:
		b.WriteString(n.label)
		b.WriteString(n.op.infix())
		writeQuoted(b, n.value)
	case opIn, opNotIn:
		b.WriteString(n.label)
		b.WriteString(n.op.infix())
		b.WriteByte('{')
		for i, v := range n.set {
			if i > 0 {
				b.WriteString(", ")
			}
			writeQuoted(b, v)
		}
		b.WriteByte('}')
	case opNot:
		b.WriteByte('!')
		n.kids[0].write(b)
	case opAnd, opOr:
		// Always parenthesised, even at top level, because that is Calico's
		// canonical form and it makes "!" in front of a group unambiguous.
		b.WriteByte('(')
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(n.op.infix())
			}
			k.write(b)
		}
		b.WriteByte(')')
	default:
		panic("selector: node with unknown op")
	}
}

// writeQuoted quotes v so that it reads back unchanged. Literals have no
// escapes, and a parsed value can contain at most one kind of quote (the one
// that did not delimit it), so one of the two quote characters always works.
func writeQuoted(b *strings.Builder, v string) {
	q := byte('"')
	if strings.IndexByte(v, '"') >= 0 {
		q = '\''
	}
	b.WriteByte(q)
	b.WriteString(v)
	b.WriteByte(q)
}

// walk calls f on n and every node below it, parents first.
func (n *node) walk(f func(*node)) {
	f(n)
	for _, k := range n.kids {
		k.walk(f)
	}
}

// negate returns !n, removing a double negation instead of nesting it so
// that "!(!x)" and "x" print, and therefore hash, the same.
func negate(n *node) *node {
	if n.op == opNot {
		return n.kids[0]
	}
	return &node{op: opNot, kids: []*node{n}}
}

// group joins operands with && or ||, splicing in operands that are
// already groups of the same operator: "(a && b) && c" is one three-way
// group, so it prints like "a && b && c".
func group(op opKind, operands []*node) *node {
	if len(operands) == 1 {
		return operands[0]
	}
	kids := make([]*node, 0, len(operands))
	for _, o := range operands {
		if o.op == op {
			kids = append(kids, o.kids...)
		} else {
			kids = append(kids, o)
		}
	}
	return &node{op: op, kids: kids}
}
