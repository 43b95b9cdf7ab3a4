package selector

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// fuzzSeeds are inputs beyond canonicalTests that reach the error paths and
// the odder corners of the grammar.
var fuzzSeeds = []string{
	`!has(a) || b == 'x'`,
	`(app == "web" && tier in {"a","b","c"}) || has(debug)`,
	`a == '"' && b == "it's"`,
	`a in {}`,
	`a notin {'x',} && b startswith 'y' || c endswith"z"`,
	"a\t!=\t'b'",
	`!(!(a == "b" || !(c != "d" && e contains "f")))`,
	`((((a == 'b') && (c == 'd')) || e in {'x', 'y', 'x'}))`,
	`a == 'b`,
	`a = 'b'`,
	`a == b`,
	`has(a`,
	`(a == 'b'`,
	`a == 'b' c`,
	"a == 'b'\n",
	strings.Repeat("k", 513) + ` == "v"`,
	`a in {,}`,
	`global() && !global()`,
}

// fuzzLabelSets returns label sets on which the selector and its reparsed
// form must agree: some fixed ones, plus ones built from the selector's own
// keys and values so that the comparisons actually get exercised.
func fuzzLabelSets(sel *Selector) []Map {
	sets := []Map{
		nil,
		{"a": "b"},
		{"a": "", "b": "x", "c": "d"},
		{"app": "web", "tier": "a", "debug": ""},
	}
	var values []string
	sel.root.walk(func(n *node) {
		if n.op >= opEq && n.op <= opEndsWith {
			values = append(values, n.value)
		}
		values = append(values, n.set...)
	})
	values = append(values, "", "zz")
	keys := sel.LabelKeys()
	const maxSets = 64
	for _, v := range values {
		every := Map{}
		for _, k := range keys {
			every[k] = v
			if len(sets) < maxSets {
				sets = append(sets, Map{k: v})
			}
		}
		if len(sets) < maxSets {
			sets = append(sets, every)
		}
	}
	return sets
}

func FuzzParse(f *testing.F) {
	for _, tt := range canonicalTests {
		f.Add(tt.in)
		f.Add(tt.want)
	}
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sel, err := Parse(in)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) returned %T, want *ParseError", in, err)
			}
			if pe.Input != in || pe.Pos < 0 || pe.Pos > len(in) || pe.Msg == "" {
				t.Fatalf("Parse(%q) returned malformed error %+v", in, pe)
			}
			_ = pe.Error()
			return
		}
		s := sel.String()
		again, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) printed %q, which does not parse: %v", in, s, err)
		}
		if again.String() != s {
			t.Fatalf("Parse(%q) printed %q, which reprints as %q", in, s, again.String())
		}
		if again.UniqueID() != sel.UniqueID() || again.UsesGlobal() != sel.UsesGlobal() ||
			!slices.Equal(again.LabelKeys(), sel.LabelKeys()) {
			t.Fatalf("Parse(%q) and its reparse %q disagree on id, global or keys", in, s)
		}
		keys := sel.LabelKeys()
		if !slices.IsSorted(keys) || len(slices.Compact(slices.Clone(keys))) != len(keys) {
			t.Fatalf("LabelKeys(%q) = %q is not sorted and unique", in, keys)
		}
		for _, labels := range fuzzLabelSets(sel) {
			if got, want := again.Matches(labels), sel.Matches(labels); got != want {
				t.Fatalf("on %v, %q matches %v but its reparse %q matches %v", labels, in, want, s, got)
			}
		}
	})
}
