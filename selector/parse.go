package selector

import (
	"fmt"
	"slices"
)

// MaxNesting is how deeply parentheses may nest. The parser, the printer and
// the matcher all recurse once per level, so the limit keeps a hostile
// selector from using unbounded stack. Real selectors nest a few levels.
const MaxNesting = 1000

// parser is a recursive-descent parser over the token slice, one function
// per precedence level (|| lowest, then &&, then unary !).
type parser struct {
	in    string
	toks  []token // always ends with tokEOF, so peek never runs off the end
	next  int
	depth int
}

func (p *parser) peek() token { return p.toks[p.next] }

func (p *parser) take() token {
	t := p.toks[p.next]
	if t.kind != tokEOF {
		p.next++
	}
	return t
}

// parse parses a whole selector.
func (p *parser) parse() (*node, error) {
	if p.peek().kind == tokEOF {
		return &node{op: opAll}, nil
	}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, errorAt(p.in, t.pos, "unexpected content at end of selector")
	}
	return n, nil
}

func (p *parser) parseOr() (*node, error) {
	return p.parseChain(opOr, tokOr, p.parseAnd)
}

func (p *parser) parseAnd() (*node, error) {
	return p.parseChain(opAnd, tokAnd, p.parseUnary)
}

// parseChain parses operand { sep operand } into one flat group.
func (p *parser) parseChain(op opKind, sep tokKind, operand func() (*node, error)) (*node, error) {
	first, err := operand()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != sep {
		return first, nil
	}
	operands := []*node{first}
	for p.peek().kind == sep {
		p.take()
		n, err := operand()
		if err != nil {
			return nil, err
		}
		operands = append(operands, n)
	}
	return group(op, operands), nil
}

func (p *parser) parseUnary() (*node, error) {
	negated := false
	for p.peek().kind == tokNot {
		p.take()
		negated = !negated
	}
	n, err := p.parseOperand()
	if err != nil || !negated {
		return n, err
	}
	return negate(n), nil
}

func (p *parser) parseOperand() (*node, error) {
	t := p.take()
	switch t.kind {
	case tokHas:
		return &node{op: opHas, label: t.val}, nil
	case tokAll:
		return &node{op: opAll}, nil
	case tokGlobal:
		return &node{op: opGlobal}, nil
	case tokLParen:
		if p.depth == MaxNesting {
			return nil, errorAt(p.in, t.pos, fmt.Sprintf("parentheses nested deeper than %d", MaxNesting))
		}
		p.depth++
		n, err := p.parseOr()
		p.depth--
		if err != nil {
			return nil, err
		}
		if rp := p.take(); rp.kind != tokRParen {
			return nil, errorAt(p.in, rp.pos, "expected )")
		}
		return n, nil
	case tokLabel:
		return p.parseComparison(t.val)
	}
	return nil, errorAt(p.in, t.pos, "unexpected "+t.describe())
}

// parseComparison parses what follows a label: an operator and a string
// or a set.
func (p *parser) parseComparison(label string) (*node, error) {
	opTok := p.take()
	var op opKind
	switch opTok.kind {
	case tokEq:
		op = opEq
	case tokNe:
		op = opNe
	case tokContains:
		op = opContains
	case tokStartsWith:
		op = opStartsWith
	case tokEndsWith:
		op = opEndsWith
	case tokIn:
		return p.parseSet(opIn, label)
	case tokNotIn:
		return p.parseSet(opNotIn, label)
	default:
		// The tokenizer already rejects a word after a label; this catches
		// punctuation and the end of input.
		return nil, errorAt(p.in, opTok.pos, fmt.Sprintf("expected operator after label %q", label))
	}
	v := p.take()
	if v.kind != tokString {
		return nil, errorAt(p.in, v.pos, "expected string")
	}
	return &node{op: op, label: label, value: v.val}, nil
}

// parseSet parses "{" [ string { "," string } [ "," ] ] "}". The optional
// trailing comma and the "expected }" for a leading one mirror Calico's loop.
func (p *parser) parseSet(op opKind, label string) (*node, error) {
	if t := p.take(); t.kind != tokLBrace {
		return nil, errorAt(p.in, t.pos, "expected set literal")
	}
	var set []string
	for p.peek().kind == tokString {
		set = append(set, p.take().val)
		if p.peek().kind != tokComma {
			break
		}
		p.take()
	}
	if t := p.take(); t.kind != tokRBrace {
		return nil, errorAt(p.in, t.pos, "expected }")
	}
	slices.Sort(set)
	return &node{op: op, label: label, set: slices.Compact(set)}, nil
}
