package engine

import (
	"fmt"
	"strings"
)

// This file works on the canonical text of a selector, as printed by
// selector.(*Selector).String. Calico builds the selectors Felix evaluates by
// rewriting the user's selectors (prefixing every label with "pcns." or
// "pcsa.", replacing all() and global()), and the selector package exposes no
// syntax tree, so the rewriting is done here on the canonical form, whose
// shape is fixed and documented:
//
//	has(l)   all()   global()   !x   (x && y)   (x || y)
//	l == "v"   l != "v"   l contains "v"   l starts with "v"   l ends with "v"
//	l in {"a", "b"}   l not in {}
//
// Labels are runs of [a-zA-Z0-9_./-]; a value is quoted with '"', or with '\''
// when it contains '"', and has no escapes.

// rewriteCanonical returns canon with prefix put in front of every label and,
// when allRepl or globalRepl are not empty, every all() or global() operand
// replaced by them. Calico replaces the text "all()" wherever it appears
// (inside quoted values too); only operands are replaced here.
func rewriteCanonical(canon, prefix, allRepl, globalRepl string) (string, error) {
	var b strings.Builder
	b.Grow(len(canon) + 4*len(prefix))
	s := canon
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '!' || c == '(' || c == ')' || c == ' ':
			b.WriteByte(c)
			i++
		case strings.HasPrefix(s[i:], "&&") || strings.HasPrefix(s[i:], "||"):
			b.WriteString(s[i : i+2])
			i += 2
		case strings.HasPrefix(s[i:], "has("):
			end := strings.IndexByte(s[i+4:], ')')
			if end < 0 {
				return "", fmt.Errorf("canonical selector %q: unterminated has( at %d", canon, i)
			}
			b.WriteString("has(")
			b.WriteString(prefix)
			b.WriteString(s[i+4 : i+4+end])
			b.WriteByte(')')
			i += 4 + end + 1
		case strings.HasPrefix(s[i:], "all()"):
			if allRepl != "" {
				b.WriteString(allRepl)
			} else {
				b.WriteString("all()")
			}
			i += len("all()")
		case strings.HasPrefix(s[i:], "global()"):
			if globalRepl != "" {
				b.WriteString(globalRepl)
			} else {
				b.WriteString("global()")
			}
			i += len("global()")
		case isLabelChar(c):
			j := i
			for j < len(s) && isLabelChar(s[j]) {
				j++
			}
			b.WriteString(prefix)
			b.WriteString(s[i:j])
			end, err := comparisonEnd(s, j)
			if err != nil {
				return "", fmt.Errorf("canonical selector %q: %w", canon, err)
			}
			b.WriteString(s[j:end])
			i = end
		default:
			return "", fmt.Errorf("canonical selector %q: unexpected %q at %d", canon, c, i)
		}
	}
	return b.String(), nil
}

// comparisonEnd returns the offset just past the operator and value that
// follow a label ending at i: a quoted string or a {...} set of them.
func comparisonEnd(s string, i int) (int, error) {
	k := strings.IndexAny(s[i:], "\"'{")
	if k < 0 {
		return 0, fmt.Errorf("no value after label at %d", i)
	}
	i += k
	if s[i] != '{' {
		return quotedEnd(s, i)
	}
	for i++; i < len(s); {
		switch s[i] {
		case '}':
			return i + 1, nil
		case '"', '\'':
			end, err := quotedEnd(s, i)
			if err != nil {
				return 0, err
			}
			i = end
		default:
			i++
		}
	}
	return 0, fmt.Errorf("unterminated set")
}

// quotedEnd returns the offset just past the quoted string starting at i.
func quotedEnd(s string, i int) (int, error) {
	end := strings.IndexByte(s[i+1:], s[i])
	if end < 0 {
		return 0, fmt.Errorf("unterminated string at %d", i)
	}
	return i + 1 + end + 1, nil
}

func isLabelChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == '/' || c == '-'
}

// termKind classifies a top-level conjunct of a selector by what it
// requires of a label, which is what the indexes key on.
type termKind uint8

const (
	termOther termKind = iota // anything that restricts no single label
	termEq                    // label == value
	termIn                    // label in {values}
	termHas                   // has(label)
)

// term is a requirement every labelset matched by the selector meets:
// the label is present (termHas) and, for termEq and termIn, its value is
// one of values.
type term struct {
	kind   termKind
	label  string
	values []string
}

// restrictions returns the requirements among the top-level conjuncts of the
// canonical selector canon. A selector that is not an && group has at most
// one (itself). Conjuncts that restrict no single label are left out.
func restrictions(canon string) []term {
	var out []term
	for _, c := range topConjuncts(canon) {
		if t := parseTerm(c); t.kind != termOther {
			out = append(out, t)
		}
	}
	return out
}

// topConjuncts splits "(a && b && c)" into its operands; anything else is
// returned whole.
func topConjuncts(s string) []string {
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return []string{s}
	}
	var parts []string
	depth, start := 0, 1
	for i := 1; i < len(s)-1; {
		switch {
		case s[i] == '"' || s[i] == '\'':
			end, err := quotedEnd(s, i)
			if err != nil {
				return []string{s}
			}
			i = end
			continue
		case s[i] == '(':
			depth++
		case s[i] == ')':
			depth--
			if depth < 0 {
				// The opening parenthesis closes before the end: not one group.
				return []string{s}
			}
		case depth == 0 && strings.HasPrefix(s[i:], " || "):
			return []string{s}
		case depth == 0 && strings.HasPrefix(s[i:], " && "):
			parts = append(parts, s[start:i])
			i += len(" && ")
			start = i
			continue
		}
		i++
	}
	if parts == nil {
		return []string{s}
	}
	return append(parts, s[start:len(s)-1])
}

// parseTerm recognises has(l), l == "v" and l in {...}.
func parseTerm(c string) term {
	if strings.HasPrefix(c, "has(") && strings.HasSuffix(c, ")") {
		l := c[4 : len(c)-1]
		if isLabel(l) {
			return term{kind: termHas, label: l}
		}
		return term{}
	}
	j := 0
	for j < len(c) && isLabelChar(c[j]) {
		j++
	}
	if j == 0 {
		return term{}
	}
	label, rest := c[:j], c[j:]
	switch {
	case strings.HasPrefix(rest, " == "):
		v, ok := quotedWhole(rest[len(" == "):])
		if !ok {
			return term{}
		}
		return term{kind: termEq, label: label, values: []string{v}}
	case strings.HasPrefix(rest, " in {") && strings.HasSuffix(rest, "}"):
		body := rest[len(" in {") : len(rest)-1]
		values := []string{}
		for body != "" {
			end, err := quotedEnd(body, 0)
			if err != nil || (body[0] != '"' && body[0] != '\'') {
				return term{}
			}
			values = append(values, body[1:end-1])
			body = strings.TrimPrefix(body[end:], ", ")
		}
		return term{kind: termIn, label: label, values: values}
	}
	return term{}
}

// quotedWhole returns the contents of s if s is exactly one quoted string.
func quotedWhole(s string) (string, bool) {
	if len(s) < 2 || (s[0] != '"' && s[0] != '\'') {
		return "", false
	}
	end, err := quotedEnd(s, 0)
	if err != nil || end != len(s) {
		return "", false
	}
	return s[1 : len(s)-1], true
}

func isLabel(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLabelChar(s[i]) {
			return false
		}
	}
	return true
}

// quote quotes v as the canonical form does.
func quote(v string) string {
	if strings.IndexByte(v, '"') >= 0 {
		return "'" + v + "'"
	}
	return `"` + v + `"`
}
