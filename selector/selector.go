package selector

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

// Labels is a read-only view of a set of labels.
//
// Get returns the value of key and whether key is present; a present label
// may have the empty value. Implementations used with Matches on a hot path
// should not allocate in Get.
type Labels interface {
	Get(key string) (value string, ok bool)
}

// Map adapts a plain map to Labels. A nil Map has no labels. Passing a Map
// as Labels does not allocate, because a map is a single pointer.
type Map map[string]string

// Get returns m[key] and whether key is present.
func (m Map) Get(key string) (string, bool) {
	v, ok := m[key]
	return v, ok
}

// Selector is a parsed, canonicalised and compiled label selector.
//
// A Selector is immutable and safe for concurrent use. The zero Selector,
// and a nil *Selector, behave like the empty selector: all().
type Selector struct {
	root   *node
	str    string   // canonical form
	id     string   // UniqueID
	keys   []string // sorted, unique label keys read by root
	global bool     // global() appears somewhere in root
}

// canonicalAll is the canonical form of the empty selector.
const canonicalAll = "all()"

// Parse parses s. The empty or all-blank string parses as all().
//
// On bad input the error is a *ParseError giving the byte offset of the
// problem; the messages follow Calico's wording.
func Parse(s string) (*Selector, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := parser{in: s, toks: toks}
	root, err := p.parse()
	if err != nil {
		return nil, err
	}
	return newSelector(root), nil
}

// MustParse is Parse for selectors known to be valid, such as constants and
// test fixtures. It panics if s does not parse.
func MustParse(s string) *Selector {
	sel, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return sel
}

// newSelector computes everything derived from root once, so that the
// accessors are cheap and the Selector never changes after construction.
func newSelector(root *node) *Selector {
	var b strings.Builder
	root.write(&b)
	sel := &Selector{root: root, str: b.String()}
	sel.id = uniqueID(sel.str)
	root.walk(func(n *node) {
		switch {
		case n.op == opGlobal:
			sel.global = true
		case n.label != "":
			sel.keys = append(sel.keys, n.label)
		}
	})
	slices.Sort(sel.keys)
	sel.keys = slices.Compact(sel.keys)
	return sel
}

// uniqueID follows Calico's hash.MakeUniqueID("s", canonical): the prefix is
// hashed too, and base64url is used without padding so the result can name
// a dataplane set.
func uniqueID(canonical string) string {
	const prefix = "s:"
	sum := sha256.Sum224([]byte(prefix + canonical))
	return prefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// String returns the canonical form of s, described in the package
// documentation. Selectors that differ only in spelling (blanks, quotes,
// set order and duplicates, redundant parentheses and negations, notin for
// not in) print identically, and Parse(s.String()) prints the same again.
// It does not prove deeper equivalences: "a == 'b'" and "!a != 'b'" print
// differently although they match the same labels.
func (s *Selector) String() string {
	if s == nil || s.root == nil {
		return canonicalAll
	}
	return s.str
}

// Matches reports whether the labels l satisfy s. It does not allocate
// (beyond whatever l.Get does).
func (s *Selector) Matches(l Labels) bool {
	if s == nil || s.root == nil {
		return true
	}
	return s.root.eval(l)
}

// LabelKeys returns, sorted and without duplicates, every label key that s
// reads, whatever the operator (has(k) and k != "v" included), so that an
// index can re-evaluate s only when one of these keys changes. It returns
// nil for a selector that reads no labels, such as all(). The caller owns
// the returned slice.
func (s *Selector) LabelKeys() []string {
	if s == nil {
		return nil
	}
	return slices.Clone(s.keys)
}

// UsesGlobal reports whether global() appears anywhere in s, negated or not.
// Matches treats global() as true; a caller that gives it a meaning (Calico
// uses it in namespaceSelector to pick non-namespaced resources) must check
// this.
func (s *Selector) UsesGlobal() bool {
	return s != nil && s.global
}

// IsAll reports whether the canonical form of s is exactly "all()", which is
// the case for the empty selector. It does not try to prove that other
// selectors, such as "all() || has(a)", match everything.
func (s *Selector) IsAll() bool {
	return s.String() == canonicalAll
}

// UniqueID returns a short, stable identifier derived from the canonical
// form: "s:" followed by the unpadded base64url SHA-224 of "s:" + String(),
// 40 bytes in all. It is the same scheme as Calico's selector IDs and is
// meant for naming dataplane sets.
func (s *Selector) UniqueID() string {
	if s == nil || s.root == nil {
		return uniqueID(canonicalAll)
	}
	return s.id
}

// Equal reports whether s and o have the same canonical form. A nil
// selector equals all().
func (s *Selector) Equal(o *Selector) bool {
	return s.String() == o.String()
}

// ParseError reports why and where a selector failed to parse.
type ParseError struct {
	Input string // the selector as given to Parse
	Pos   int    // byte offset in Input of the problem; len(Input) for "ran out of input"
	Msg   string // what was wrong, in Calico's wording where Calico has one
}

// maxQuotedInput bounds how much of the input Error repeats, so that a huge
// selector does not produce a huge log line.
const maxQuotedInput = 200

// Error formats e as `selector "<input>": <msg> at position <pos>`. Inputs
// longer than maxQuotedInput bytes are shortened to a window around Pos.
func (e *ParseError) Error() string {
	in := e.Input
	if len(in) > maxQuotedInput {
		lo := max(0, min(e.Pos, len(in))-maxQuotedInput/2)
		hi := min(len(in), lo+maxQuotedInput)
		in = in[lo:hi]
		if lo > 0 {
			in = "..." + in
		}
		if hi < len(e.Input) {
			in += "..."
		}
	}
	return fmt.Sprintf("selector %q: %s at position %d", in, e.Msg, e.Pos)
}

func errorAt(in string, pos int, msg string) *ParseError {
	return &ParseError{Input: in, Pos: pos, Msg: msg}
}
