package selector

import "testing"

func TestMatches(t *testing.T) {
	t.Parallel()
	web := Map{"app": "web", "tier": "frontend", "env": "prod", "quote": `say "hi"`, "empty": ""}
	tests := []struct {
		name   string
		sel    string
		labels Map
		want   bool
	}{
		// Constants.
		{"all() should match no labels", "all()", nil, true},
		{"empty selector should match any labels", "", web, true},
		{"negated all() should match nothing", "!all()", web, false},
		{"global() should evaluate true", "global()", nil, true},
		{"negated global() should evaluate false", "!global()", web, false},

		// has.
		{"has should match a present label", "has(app)", web, true},
		{"has should match a present label with an empty value", "has(empty)", web, true},
		{"has should not match an absent label", "has(db)", web, false},
		{"negated has should match an absent label", "!has(db)", web, true},
		{"negated has should not match a present label", "!has(app)", web, false},
		{"has should not match against a nil map", "has(app)", nil, false},

		// == and !=.
		{"equality should match an equal value", `app == "web"`, web, true},
		{"equality should not match a different value", `app == "db"`, web, false},
		{"equality should not match an absent label", `db == "web"`, web, false},
		{"equality with the empty value should not match an absent label", `db == ""`, web, false},
		{"equality with the empty value should match a present empty label", `empty == ""`, web, true},
		{"equality should be case sensitive", `app == "Web"`, web, false},
		{"equality with a quote inside should match", `quote == 'say "hi"'`, web, true},
		{"inequality should match a different value", `app != "db"`, web, true},
		{"inequality should not match an equal value", `app != "web"`, web, false},
		{"inequality should match an absent label", `db != "x"`, web, true},
		{"negated equality should match an absent label", `!db == "x"`, web, true},

		// contains, starts with, ends with.
		{"contains should match a substring", `tier contains "ont"`, web, true},
		{"contains should not match a missing substring", `tier contains "back"`, web, false},
		{"contains of the empty string should match a present label", `app contains ""`, web, true},
		{"contains should not match an absent label", `db contains ""`, web, false},
		{"starts with should match a prefix", `tier starts with "front"`, web, true},
		{"starts with should not match a suffix", `tier startswith "end"`, web, false},
		{"starts with should not match an absent label", `db starts with ""`, web, false},
		{"ends with should match a suffix", `tier ends with "end"`, web, true},
		{"ends with should not match a prefix", `tier endswith "front"`, web, false},
		{"ends with should not match an absent label", `db ends with ""`, web, false},

		// in and not in.
		{"in should match a member", `tier in {"backend", "frontend"}`, web, true},
		{"in should not match a non-member", `tier in {"backend", "db"}`, web, false},
		{"in should not match an absent label", `db in {"x"}`, web, false},
		{"in the empty set should match nothing", `app in {}`, web, false},
		{"in should find a member of a long set", `app in {"a","b","c","d","e","f","g","h","web","z"}`, web, true},
		{"in should find the empty value as a member", `empty in {""}`, web, true},
		{"not in should match a non-member", `tier not in {"backend"}`, web, true},
		{"not in should not match a member", `tier not in {"frontend"}`, web, false},
		{"not in should match an absent label", `db not in {"x"}`, web, true},
		{"not in the empty set should match a present label", `app notin {}`, web, true},

		// Combinations and precedence.
		{"and should need both sides", `app == "web" && env == "prod"`, web, true},
		{"and should fail if one side fails", `app == "web" && env == "dev"`, web, false},
		{"or should need one side", `app == "db" || env == "prod"`, web, true},
		{"or should fail if both sides fail", `app == "db" || env == "dev"`, web, false},
		{"not has or comparison should match when the label is absent", `!has(a) || b == 'x'`, Map{"b": "y"}, true},
		{"not has or comparison should match via the comparison", `!has(a) || b == 'x'`, Map{"a": "1", "b": "x"}, true},
		{"not has or comparison should fail when neither holds", `!has(a) || b == 'x'`, Map{"a": "1", "b": "y"}, false},
		{"and should bind tighter than or", `app == "db" && env == "dev" || has(tier)`, web, true},
		{"parentheses should change the grouping", `app == "db" && (env == "dev" || has(tier))`, web, false},
		{"not should bind tighter than and", `!app == "db" && has(tier)`, web, true},
		{"negated group should invert the group", `!(app == "web" && env == "prod")`, web, false},
		{"double negation should not change the result", `!!(app == "web")`, web, true},
		{"long and chain should match when every operand holds", `has(app) && has(tier) && has(env) && app != "x" && tier in {"frontend"}`, web, true},
		{"long or chain should match when only the last operand holds", `has(a) || has(b) || has(c) || has(quote)`, web, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := MustParse(tt.sel).Matches(tt.labels); got != tt.want {
				t.Errorf("Parse(%q).Matches(%v) = %v, want %v", tt.sel, tt.labels, got, tt.want)
			}
		})
	}
}

// countingLabels records lookups, to show that && and || stop early.
type countingLabels struct {
	Map
	gets int
}

func (c *countingLabels) Get(key string) (string, bool) {
	c.gets++
	return c.Map.Get(key)
}

func TestMatchesShortCircuits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		sel      string
		wantGets int
	}{
		{"and should stop at the first false operand", `has(x) && has(a) && has(b)`, 1},
		{"or should stop at the first true operand", `has(a) || has(b) || has(x)`, 1},
		{"or should try every false operand", `has(x) || has(y) || has(a)`, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := &countingLabels{Map: Map{"a": "1", "b": "2"}}
			MustParse(tt.sel).Matches(l)
			if l.gets != tt.wantGets {
				t.Errorf("Matches made %d lookups, want %d", l.gets, tt.wantGets)
			}
		})
	}
}

func TestMatchesDoesNotAllocate(t *testing.T) {
	sel := MustParse(benchSelector)
	for name, labels := range map[string]Map{"matching": benchLabels, "missing": {"app": "db"}, "nil": nil} {
		t.Run("matching against "+name+" labels should not allocate", func(t *testing.T) {
			allocs := testing.AllocsPerRun(1000, func() {
				sel.Matches(labels)
			})
			if allocs != 0 {
				t.Errorf("Matches allocated %v times per run, want 0", allocs)
			}
		})
	}
}
