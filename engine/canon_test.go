package engine

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tabby-project/tabby/selector"
)

func TestRewriteCanonical(t *testing.T) {
	tests := []struct {
		name, in, prefix, allRepl, globalRepl, want string
	}{
		{"every label gets the prefix", `a == "x" && has(b) && c in {"1", "2"}`, "pcns.", "", "",
			`(pcns.a == "x" && has(pcns.b) && pcns.c in {"1", "2"})`},
		{"quoted values are left alone", `a == "has(b) && c == 'd'"`, "p.", "", "", `p.a == "has(b) && c == 'd'"`},
		{"a single-quoted value keeps its quotes", `a != 'say "hi"'`, "p.", "", "", `p.a != 'say "hi"'`},
		{"every operator is kept", `a contains "x" || b starts with "y" || c ends with "z" || d not in {}`, "p.", "", "",
			`(p.a contains "x" || p.b starts with "y" || p.c ends with "z" || p.d not in {})`},
		{"negations and groups are kept", `!(a == "x" || !has(b))`, "p.", "", "", `!(p.a == "x" || !has(p.b))`},
		{"labels that look like keywords are labels", `has == "x" && all == "y"`, "p.", "", "", `(p.has == "x" && p.all == "y")`},
		{"all() is replaced when asked", `all()`, "pcns.", "has(projectcalico.org/namespace)", "", `has(projectcalico.org/namespace)`},
		{"all() inside an expression is replaced", `!all() || a == "all()"`, "", "has(n)", "", `(!has(n) || a == "all()")`},
		{"global() is replaced when asked", `global()`, "pcns.", "has(n)", "!has(n)", `!has(n)`},
		{"all() is kept when not asked", `all()`, "p.", "", "", `all()`},
		{"set members with commas and braces survive", `a in {"x,y", "}{"}`, "p.", "", "", `p.a in {"x,y", "}{"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rewriteCanonical(selector.MustParse(tt.in).String(), tt.prefix, tt.allRepl, tt.globalRepl)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if _, err := selector.Parse(got); err != nil {
				t.Errorf("rewritten selector does not parse: %v", err)
			}
		})
	}
}

func TestRestrictions(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []term
	}{
		{"an equality is a restriction", `a == "x"`, []term{{termEq, "a", []string{"x"}}}},
		{"every conjunct is found", `a == "x" && has(b) && c in {"1", "2"} && d != "y"`,
			[]term{{termEq, "a", []string{"x"}}, {termHas, "b", nil}, {termIn, "c", []string{"1", "2"}}}},
		{"an empty set restricts to nothing", `a in {}`, []term{{termIn, "a", []string{}}}},
		{"a disjunction restricts nothing", `a == "x" || b == "y"`, nil},
		{"a negated group restricts nothing", `!(a == "x" && b == "y")`, nil},
		{"a nested disjunction is skipped but its siblings count", `a == "x" && (b == "y" || c == "z")`,
			[]term{{termEq, "a", []string{"x"}}}},
		{"all() restricts nothing", `all()`, nil},
		{"a quoted && does not split", `a == "p && q"`, []term{{termEq, "a", []string{"p && q"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := restrictions(selector.MustParse(tt.in).String())
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(term{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// randSelector writes a random selector from a small vocabulary chosen to
// make matches and tricky quoting likely.
func randSelector(r *rand.Rand, depth int) string {
	labels := []string{"a", "b", "c.d/e-f", "has", "all"}
	values := []string{`"x"`, `"y"`, `""`, `'q"'`, `"a && b"`, `"{,}"`, `"all()"`}
	l := labels[r.Intn(len(labels))]
	v := values[r.Intn(len(values))]
	if depth > 0 && r.Intn(3) == 0 {
		op := " && "
		if r.Intn(2) == 0 {
			op = " || "
		}
		s := "(" + randSelector(r, depth-1) + op + randSelector(r, depth-1) + ")"
		if r.Intn(4) == 0 {
			s = "!" + s
		}
		return s
	}
	switch r.Intn(10) {
	case 0:
		return "has(" + l + ")"
	case 1:
		return "!has(" + l + ")"
	case 2:
		return l + " != " + v
	case 3:
		return l + " in {" + v + ", " + values[r.Intn(len(values))] + "}"
	case 4:
		return l + " not in {" + v + "}"
	case 5:
		return l + " contains " + v
	case 6:
		return l + " starts with " + v
	case 7:
		return "all()"
	}
	return l + " == " + v
}

func randLabels(r *rand.Rand) map[string]string {
	out := map[string]string{}
	for _, k := range []string{"a", "b", "c.d/e-f", "has", "all"} {
		if r.Intn(3) > 0 {
			out[k] = []string{"x", "y", "", `q"`, "a && b", "{,}", "all()", "xy"}[r.Intn(8)]
		}
	}
	return out
}

// TestCanonicalProperties checks, for random selectors and labels, that
// prefixing every label of a selector selects exactly the prefixed labels,
// and that every restriction found holds for every labelset the selector
// matches.
func TestCanonicalProperties(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		sel := selector.MustParse(randSelector(r, 3))
		canon := sel.String()
		pre, err := rewriteCanonical(canon, "p.", "", "")
		if err != nil {
			t.Fatalf("%s: %v", canon, err)
		}
		psel, err := selector.Parse(pre)
		if err != nil {
			t.Fatalf("%s rewritten as %s does not parse: %v", canon, pre, err)
		}
		terms := restrictions(canon)
		for j := 0; j < 20; j++ {
			labels := randLabels(r)
			prefixedLabels := map[string]string{}
			for k, v := range labels {
				prefixedLabels["p."+k] = v
			}
			// Unprefixed noise must not influence the prefixed selector.
			for k, v := range randLabels(r) {
				prefixedLabels[k] = v
			}
			match := sel.Matches(selector.Map(labels))
			if got := psel.Matches(selector.Map(prefixedLabels)); got != match {
				t.Fatalf("%s matches %v: %v, but %s matches %v: %v", canon, labels, match, pre, prefixedLabels, got)
			}
			if !match {
				continue
			}
			for _, tm := range terms {
				v, ok := labels[tm.label]
				if !ok || (tm.kind != termHas && !contains(tm.values, v)) {
					t.Fatalf("%s matches %v but restriction %+v does not hold", canon, labels, tm)
				}
			}
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestQuote(t *testing.T) {
	for _, v := range []string{"plain", `has "double"`, "has 'single'", ""} {
		t.Run("a quoted value parses back: "+v, func(t *testing.T) {
			sel, err := selector.Parse("k == " + quote(v))
			if err != nil {
				t.Fatal(err)
			}
			if !sel.Matches(selector.Map{"k": v}) || strings.Contains(sel.String(), "\\") {
				t.Errorf("%s does not select k=%q", sel, v)
			}
		})
	}
}
