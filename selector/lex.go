package selector

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxLabelLength is the longest label name, in bytes, that a selector may
// mention; Calico rejects longer ones with "label too long".
const MaxLabelLength = 512

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokLabel
	tokString
	tokLParen
	tokRParen
	tokLBrace
	tokRBrace
	tokComma
	tokEq
	tokNe
	tokNot
	tokAnd
	tokOr
	tokIn
	tokNotIn
	tokContains
	tokStartsWith
	tokEndsWith
	tokHas
	tokAll
	tokGlobal
)

// token is one lexeme. pos is kept so that parse errors can point at the
// offending byte rather than just name it.
type token struct {
	kind tokKind
	pos  int    // byte offset of the token's first byte in the input
	val  string // label name, string literal contents, or the label in has()
}

// describe names a token for "unexpected ..." messages.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of selector"
	case tokLabel:
		return fmt.Sprintf("label %q", t.val)
	case tokString:
		return "string"
	case tokHas:
		return "has()"
	}
	return strconv.Quote(t.kind.text())
}

// text is the fixed spelling of a punctuation, operator or function token.
func (k tokKind) text() string {
	switch k {
	case tokLParen:
		return "("
	case tokRParen:
		return ")"
	case tokLBrace:
		return "{"
	case tokRBrace:
		return "}"
	case tokComma:
		return ","
	case tokEq:
		return "=="
	case tokNe:
		return "!="
	case tokNot:
		return "!"
	case tokAnd:
		return "&&"
	case tokOr:
		return "||"
	case tokIn:
		return "in"
	case tokNotIn:
		return "not in"
	case tokContains:
		return "contains"
	case tokStartsWith:
		return "starts with"
	case tokEndsWith:
		return "ends with"
	case tokAll:
		return "all()"
	case tokGlobal:
		return "global()"
	}
	return "token"
}

// tokenize splits the whole input before parsing starts, as Calico does, so
// that a lexical error anywhere wins over a grammar error earlier in the
// input and the two implementations report the same problem.
func tokenize(in string) ([]token, error) {
	toks := make([]token, 0, 8)
	i := 0
	for {
		i = skipSpace(in, i)
		if i == len(in) {
			return append(toks, token{kind: tokEOF, pos: i}), nil
		}
		var (
			kind  tokKind
			width int // bytes consumed; 0 means the case appended its own token
			err   error
		)
		switch c := in[i]; c {
		case '(':
			kind, width = tokLParen, 1
		case ')':
			kind, width = tokRParen, 1
		case '{':
			kind, width = tokLBrace, 1
		case '}':
			kind, width = tokRBrace, 1
		case ',':
			kind, width = tokComma, 1
		case '"', '\'':
			end := strings.IndexByte(in[i+1:], c)
			if end < 0 {
				return nil, errorAt(in, i, "unterminated string")
			}
			toks = append(toks, token{kind: tokString, pos: i, val: in[i+1 : i+1+end]})
			i += end + 2
		case '=':
			kind, width = tokEq, 2
			if !strings.HasPrefix(in[i:], "==") {
				err = errorAt(in, i, "expected ==")
			}
		case '!':
			kind, width = tokNot, 1
			if strings.HasPrefix(in[i:], "!=") {
				kind, width = tokNe, 2
			}
		case '&':
			kind, width = tokAnd, 2
			if !strings.HasPrefix(in[i:], "&&") {
				err = errorAt(in, i, "expected &&")
			}
		case '|':
			kind, width = tokOr, 2
			if !strings.HasPrefix(in[i:], "||") {
				err = errorAt(in, i, "expected ||")
			}
		default:
			if n := len(toks); n > 0 && toks[n-1].kind == tokLabel {
				kind, width = matchWordOperator(in[i:])
				if width == 0 {
					err = errorAt(in, i, fmt.Sprintf("expected operator after label %q", toks[n-1].val))
				}
			} else if strings.HasPrefix(in[i:], "has(") {
				i, err = lexHas(in, i, &toks)
			} else if strings.HasPrefix(in[i:], "all(") {
				i, err = lexEmptyCall(in, i, "all(", tokAll, &toks)
			} else if strings.HasPrefix(in[i:], "global(") {
				i, err = lexEmptyCall(in, i, "global(", tokGlobal, &toks)
			} else {
				var name string
				start := i
				if name, i, err = scanLabel(in, i); err == nil {
					toks = append(toks, token{kind: tokLabel, pos: start, val: name})
				}
			}
		}
		if err != nil {
			return nil, err
		}
		if width > 0 {
			toks = append(toks, token{kind: kind, pos: i})
			i += width
		}
	}
}

// lexHas reads "has(" [space] label [space] ")" starting at i.
func lexHas(in string, i int, toks *[]token) (int, error) {
	start := i
	name, j, err := scanLabel(in, skipSpace(in, i+len("has(")))
	if err != nil {
		return 0, err
	}
	j = skipSpace(in, j)
	if j == len(in) || in[j] != ')' {
		return 0, errorAt(in, j, "no closing ')' after has(")
	}
	*toks = append(*toks, token{kind: tokHas, pos: start, val: name})
	return j + 1, nil
}

// lexEmptyCall reads a zero-argument function such as "all(" [space] ")".
func lexEmptyCall(in string, i int, opening string, kind tokKind, toks *[]token) (int, error) {
	j := skipSpace(in, i+len(opening))
	if j == len(in) || in[j] != ')' {
		return 0, errorAt(in, j, "no closing ')' after "+opening)
	}
	*toks = append(*toks, token{kind: kind, pos: i})
	return j + 1, nil
}

// matchWordOperator returns the operator at the start of s and its width in
// bytes, or width 0 if there is none.
//
// Calico checks the word boundary after skipping the blanks that follow the
// last word, so it rejects "a in x" in the tokenizer; checking right after
// the word accepts exactly the same selectors but lets the parser give the
// more useful "expected set literal".
func matchWordOperator(s string) (tokKind, int) {
	// Only recognised straight after a label, which is what lets "in",
	// "contains" and so on still be used as label names elsewhere.
	wordOperators := [...]struct {
		words []string
		kind  tokKind
	}{
		{[]string{"contains"}, tokContains},
		{[]string{"starts", "with"}, tokStartsWith},
		{[]string{"ends", "with"}, tokEndsWith},
		{[]string{"not", "in"}, tokNotIn},
		{[]string{"in"}, tokIn},
	}
	for _, op := range wordOperators {
		n := 0
		for k, w := range op.words {
			if k > 0 {
				n = skipSpace(s, n)
			}
			if !strings.HasPrefix(s[n:], w) {
				n = -1
				break
			}
			n += len(w)
		}
		if n < 0 || n < len(s) && isLabelChar(s[n]) {
			continue
		}
		return op.kind, n
	}
	return tokEOF, 0
}

// scanLabel reads a label name starting at i and returns it with the offset
// just past it.
func scanLabel(in string, i int) (string, int, error) {
	j := i
	for j < len(in) && isLabelChar(in[j]) {
		j++
	}
	switch {
	case j == i:
		return "", 0, errorAt(in, i, "expected identifier")
	case j-i > MaxLabelLength:
		return "", 0, errorAt(in, i, fmt.Sprintf("label too long (%d bytes, max %d)", j-i, MaxLabelLength))
	}
	return in[i:j], j, nil
}

// skipSpace skips spaces and tabs only: Calico treats every other byte,
// newlines included, as significant.
func skipSpace(in string, i int) int {
	for i < len(in) && (in[i] == ' ' || in[i] == '\t') {
		i++
	}
	return i
}

func isLabelChar(c byte) bool {
	return 'a' <= c && c <= 'z' ||
		'A' <= c && c <= 'Z' ||
		'0' <= c && c <= '9' ||
		c == '_' || c == '.' || c == '/' || c == '-'
}
