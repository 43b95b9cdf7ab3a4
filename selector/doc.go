// Package selector implements Calico's label selector language: it parses a
// selector, prints it in a canonical form, evaluates it against a set of
// labels and reports which label keys it reads.
//
// The accepted language, the evaluation rules and the canonical form follow
// Calico's libcalico-go/lib/selector exactly, except where this comment says
// otherwise, so that a policy written for Calico selects the same endpoints
// under Tabby.
//
// # Grammar
//
//	selector := <empty> | or
//	or       := and { "||" and }
//	and      := unary { "&&" unary }
//	unary    := { "!" } operand
//	operand  := "has(" label ")" | "all()" | "global()" | "(" or ")"
//	          | label ( "==" | "!=" | "contains" | "starts with" | "ends with" ) string
//	          | label ( "in" | "not in" ) "{" [ string { "," string } [ "," ] ] "}"
//	label    := 1 to 512 bytes of [a-zA-Z0-9_./-]
//	string   := '"' any bytes but '"' '"' | "'" any bytes but "'" "'"
//
// Tokens may be separated by spaces and tabs, and by nothing else: a newline
// is an error. The words of "not in", "starts with" and "ends with" may be
// separated by any run of spaces and tabs, including none ("notin"), but an
// operator word must not run on into a label character ("a inx" is an
// error). Inside has( ) and all( ) spaces are allowed. Strings have no escape
// sequences; a value containing '"' must be written in single quotes and
// vice versa. A run of "!" toggles, so "!!x" means x. The empty (or
// all-whitespace) selector means all().
//
// # Evaluation
//
// "l == v", "contains", "starts with", "ends with" and "in" are false when the
// label is absent; "l != v" and "not in" are true when it is absent. global()
// is true here: its meaning (select non-namespaced resources) belongs to the
// caller that puts it in a namespaceSelector. && and || short-circuit, which
// matters only for speed since evaluation has no side effects.
//
// # Canonical form
//
// [Selector.String] prints one space either side of binary operators, "!"
// directly before its operand, double quotes around values unless the value
// contains '"', set members sorted byte-wise and de-duplicated, and every &&
// or || group wrapped in parentheses, top level included:
//
//	a=='b'&&c in {'y','x','y'}   =>   (a == "b" && c in {"x", "y"})
//
// Beyond Calico, Tabby flattens nested groups of the same operator
// ("(a && b) && c" prints as "(a && b && c)") and collapses double negation
// introduced by parentheses ("!(!has(a))" prints as "has(a)"). Calico keeps
// both nestings, so for those inputs Tabby's String and UniqueID differ from
// Calico's; Calico's own output for the second case ("!!has(a)") would not
// even reparse to itself.
//
// # Invariants
//
//   - Parse(s.String()) succeeds and prints s.String() again, and the two
//     selectors match exactly the same label sets (checked by FuzzParse).
//   - Two selectors that print the same are interchangeable, so String and
//     UniqueID can key caches and name dataplane sets.
//   - A *Selector is immutable after Parse and safe for concurrent use.
//   - Matches does not allocate, so it can run per endpoint per policy.
//   - Parentheses may nest at most [MaxNesting] deep, which bounds recursion
//     for hostile input; Calico has no such limit.
package selector
