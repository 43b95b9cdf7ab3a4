package selector

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// canonicalTests pair an input with its canonical String(). They are shared
// with the fuzz seed corpus, so every one is also checked for idempotence.
var canonicalTests = []struct {
	name string
	in   string
	want string
}{
	// Empty and constant selectors.
	{"empty selector should mean all()", "", "all()"},
	{"blank selector of spaces and tabs should mean all()", "  \t ", "all()"},
	{"all() should print as itself", "all()", "all()"},
	{"all( ) with spaces inside should be accepted", "all(  )", "all()"},
	{"global() should print as itself", "global()", "global()"},
	{"global( ) with a tab inside should be accepted", "global(\t)", "global()"},
	{"negated all() should keep its bang", "!all()", "!all()"},

	// Comparisons and quoting.
	{"single-quoted value should print double-quoted", "a == 'b'", `a == "b"`},
	{"operators without spaces should gain one space either side", `a=="b"`, `a == "b"`},
	{"inequality should print with spaces", `a!='b'`, `a != "b"`},
	{"value containing a double quote should print single-quoted", `a == '"'`, `a == '"'`},
	{"value containing an apostrophe should print double-quoted", `a == "it's"`, `a == "it's"`},
	{"empty value should be kept", `a == ""`, `a == ""`},
	{"spaces inside a value should be kept verbatim", `a == ' x  y '`, `a == " x  y "`},
	{"newline inside a value should be kept verbatim", "a == 'x\ny'", "a == \"x\ny\""},
	{"operator text inside a value should not be parsed", `a == "b && c || !d"`, `a == "b && c || !d"`},
	{"non-ASCII value should be kept byte for byte", `a == "héllo"`, `a == "héllo"`},
	{"label with every allowed punctuation mark should be accepted", `projectcalico.org/name-x_1 == "v"`, `projectcalico.org/name-x_1 == "v"`},
	{"label starting with a digit should be accepted", `3d == "x"`, `3d == "x"`},
	{"label of exactly 512 bytes should be accepted", strings.Repeat("l", 512) + `=="x"`, strings.Repeat("l", 512) + ` == "x"`},
	{"contains should print with spaces", `a contains'x'`, `a contains "x"`},
	{"starts with should print as two words", `a starts with 'x'`, `a starts with "x"`},
	{"startswith written as one word should be accepted", `a startswith 'x'`, `a starts with "x"`},
	{"starts with split by several blanks should be accepted", "a starts \t  with \"x\"", `a starts with "x"`},
	{"ends with should print as two words", `a ends with 'x'`, `a ends with "x"`},
	{"endswith written as one word should be accepted", `a endswith"x"`, `a ends with "x"`},
	{"keywords should be usable as label names", `in == "x" && contains == "y" && not == "z"`, `(in == "x" && contains == "y" && not == "z")`},
	{"has without a parenthesis should be a label", `has == "x"`, `has == "x"`},
	{"all without a parenthesis should be a label", `all != "x"`, `all != "x"`},

	// has().
	{"has with spaces inside should be accepted", `has( a )`, `has(a)`},
	{"has with tabs inside should be accepted", "has(\ta\t)", `has(a)`},
	{"negated has should print without a space", `! has(a)`, `!has(a)`},

	// Negation.
	{"double negation should collapse", `!!has(a)`, `has(a)`},
	{"triple negation should leave one bang", `!!!has(a)`, `!has(a)`},
	{"negation through parentheses should collapse", `!(!has(a))`, `has(a)`},
	{"negation of a comparison should keep its bang", `!a == 'b'`, `!a == "b"`},
	{"negated group should keep its parentheses", `!(a == 'b' && c == 'd')`, `!(a == "b" && c == "d")`},
	{"negated group should not be flattened into its parent", `has(x) && !(has(a) && has(b))`, `(has(x) && !(has(a) && has(b)))`},

	// && and || and precedence.
	{"and at top level should be parenthesised", `a == 'b' && c == 'd'`, `(a == "b" && c == "d")`},
	{"or at top level should be parenthesised", `a == 'b' || c == 'd'`, `(a == "b" || c == "d")`},
	{"and without spaces should gain spaces", `has(a)&&has(b)`, `(has(a) && has(b))`},
	{"and should bind tighter than a preceding or", `a == '1' || b == '2' && c == '3'`, `(a == "1" || (b == "2" && c == "3"))`},
	{"and should bind tighter than a following or", `a == '1' && b == '2' || c == '3'`, `((a == "1" && b == "2") || c == "3")`},
	{"or of two ands should group each and", `a=='1'&&b=='2'||c=='3'&&d=='4'`, `((a == "1" && b == "2") || (c == "3" && d == "4"))`},
	{"not should bind tighter than and", `!has(a) && has(b)`, `(!has(a) && has(b))`},
	{"not should bind tighter than or", `!has(a) || b == 'x'`, `(!has(a) || b == "x")`},
	{"nots inside an or of an and should stay on their operands", `!has(a) || !has(b) && has(c)`, `(!has(a) || (!has(b) && has(c)))`},
	{"parentheses should override precedence", `(a == '1' || b == '2') && c == '3'`, `((a == "1" || b == "2") && c == "3")`},
	{"redundant parentheses should vanish", `((a == 'b'))`, `a == "b"`},
	{"many redundant parentheses should vanish", `((((has(a)))))`, `has(a)`},
	{"parentheses nested exactly MaxNesting deep should be accepted", strings.Repeat("(", MaxNesting) + "has(a)" + strings.Repeat(")", MaxNesting), `has(a)`},
	{"parentheses around a whole and should not double up", `(a == 'b' && c == 'd')`, `(a == "b" && c == "d")`},
	{"nested and on the left should be flattened", `(has(a) && has(b)) && has(c)`, `(has(a) && has(b) && has(c))`},
	{"nested and on the right should be flattened", `has(a) && (has(b) && has(c))`, `(has(a) && has(b) && has(c))`},
	{"nested or should be flattened", `has(a) || (has(b) || (has(c) || has(d)))`, `(has(a) || has(b) || has(c) || has(d))`},
	{"and inside or should not be flattened", `has(a) || (has(b) && has(c))`, `(has(a) || (has(b) && has(c)))`},
	{"repeated operands should be kept", `has(a) && has(a)`, `(has(a) && has(a))`},
	{"global() should combine like any operand", `global() && has(a)`, `(global() && has(a))`},

	// Sets.
	{"set should be sorted and de-duplicated", `a in {'z', 'b', 'z', 'a'}`, `a in {"a", "b", "z"}`},
	{"set should sort byte-wise with upper case first", `a in {"b", "B", "a"}`, `a in {"B", "a", "b"}`},
	{"empty set should print as braces", `a in {}`, `a in {}`},
	{"empty set with blanks should print as braces", "a in { \t}", `a in {}`},
	{"trailing comma in a set should be accepted", `a in {'x',}`, `a in {"x"}`},
	{"set without blanks should gain them", `a in{'y','x'}`, `a in {"x", "y"}`},
	{"not in should print as two words", `a not in {"x"}`, `a not in {"x"}`},
	{"notin written as one word should be accepted", `a notin {"x"}`, `a not in {"x"}`},
	{"not and in split by a tab should be accepted", "a not\tin {'x'}", `a not in {"x"}`},
	{"not in directly followed by a brace should be accepted", `a not in{'x'}`, `a not in {"x"}`},
	{"empty not in set should print as braces", `a not in {}`, `a not in {}`},
	{"set element containing a double quote should be single-quoted alone", `a in {'"', "b"}`, `a in {'"', "b"}`},
	{"punctuation inside set elements should be kept", `a in {"x,y", "{}"}`, `a in {"x,y", "{}"}`},

	// Blanks.
	{"tabs between tokens should be accepted", "a\t==\t'b'\t&&\thas(c)", `(a == "b" && has(c))`},
	{"leading and trailing blanks should be ignored", "  a == 'b' \t", `a == "b"`},
	{"canonical form should read back as itself", `(a == "b" && c in {"x", "y"})`, `(a == "b" && c in {"x", "y"})`},
}

func TestParseCanonical(t *testing.T) {
	t.Parallel()
	for _, tt := range canonicalTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sel, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q) failed: %v", tt.in, err)
			}
			if got := sel.String(); got != tt.want {
				t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
			again, err := Parse(sel.String())
			if err != nil {
				t.Fatalf("reparse of %q failed: %v", sel.String(), err)
			}
			if again.String() != sel.String() || again.UniqueID() != sel.UniqueID() {
				t.Errorf("reparse of %q printed %q", sel.String(), again.String())
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tooLong := strings.Repeat("l", MaxLabelLength+1)
	tests := []struct {
		name    string
		in      string
		wantMsg string
		wantPos int
	}{
		{"unterminated double-quoted string should be rejected at its quote", `a == "b`, "unterminated string", 5},
		{"string opened with one quote and closed with the other should be unterminated", `a == 'b"`, "unterminated string", 5},
		{"single equals sign should be rejected", `a = 'b'`, "expected ==", 2},
		{"unquoted value should be rejected", `a == b`, "expected string", 5},
		{"missing value should be rejected at the end", `a == `, "expected string", 5},
		{"set as the value of contains should be rejected", `a contains {'x'}`, "expected string", 11},
		{"has without a closing parenthesis should be rejected", `has(a`, "no closing ')' after has(", 5},
		{"has with two labels should be rejected", `has(a b)`, "no closing ')' after has(", 6},
		{"has with no label should be rejected", `has()`, "expected identifier", 4},
		{"has followed by a space should be a label missing its operator", `has (a)`, `expected operator after label "has"`, 4},
		{"all( without a closing parenthesis should be rejected", `all(`, "no closing ')' after all(", 4},
		{"global with an argument should be rejected", `global(a)`, "no closing ')' after global(", 7},
		{"unclosed parenthesis should be rejected at the end", `(a == 'b'`, "expected )", 9},
		{"empty parentheses should be rejected", `()`, `unexpected ")"`, 1},
		{"trailing label should be unexpected content", `a == 'b' c`, "unexpected content at end of selector", 9},
		{"extra closing parenthesis should be unexpected content", `a == 'b')`, "unexpected content at end of selector", 8},
		{"two comparisons without an operator should be unexpected content", `has(a) has(b)`, "unexpected content at end of selector", 7},
		{"newline between tokens should be rejected", "a == 'b'\n&& has(c)", "expected identifier", 8},
		{"newline after a label should be rejected", "a\n== 'b'", `expected operator after label "a"`, 1},
		{"carriage return should be rejected", "has(a)\r", "expected identifier", 6},
		{"label of 513 bytes should be too long", tooLong + ` == "x"`, "label too long (513 bytes, max 512)", 0},
		{"label of 513 bytes in has should be too long", "has(" + tooLong + ")", "label too long (513 bytes, max 512)", 4},
		{"unknown operator word should be rejected", `a is 'b'`, `expected operator after label "a"`, 2},
		{"operator running into a label character should be rejected", `a inx {}`, `expected operator after label "a"`, 2},
		{"starts without with should be rejected", `a starts 'x'`, `expected operator after label "a"`, 2},
		{"label alone should be missing its operator", `a`, `expected operator after label "a"`, 1},
		{"label followed by a parenthesis should be missing its operator", `(a)`, `expected operator after label "a"`, 2},
		{"single ampersand should be rejected", `a == 'b' & has(c)`, "expected &&", 9},
		{"single bar should be rejected", `a == 'b' | has(c)`, "expected ||", 9},
		{"set starting with a comma should be rejected", `a in {,}`, "expected }", 6},
		{"set with a double comma should be rejected", `a in {'x',,}`, "expected }", 10},
		{"set of an unquoted word should be rejected", `a in {b}`, "expected }", 6},
		{"set without a comma between elements should be rejected", `a in {'x' 'y'}`, "expected }", 10},
		{"unclosed set should be rejected at the end", `a in {'x'`, "expected }", 9},
		{"in without braces should be rejected", `a in 'x'`, "expected set literal", 5},
		{"in followed by a label should want a set", `a in x`, "expected set literal", 5},
		{"dangling and should be rejected at the end", `has(a) &&`, "unexpected end of selector", 9},
		{"dangling or should be rejected at the end", `a == 'b' ||`, "unexpected end of selector", 11},
		{"leading and should be rejected", `&& has(a)`, `unexpected "&&"`, 0},
		{"not-equals without a label should be rejected", `!= 'a'`, `unexpected "!="`, 0},
		{"lone bang should be rejected at the end", `!`, "unexpected end of selector", 1},
		{"string as the first operand should be rejected", `'x' == a`, "unexpected string", 0},
		{"dollar sign should not start a label", `a == 'b' && $x`, "expected identifier", 12},
		{"non-ASCII label should be rejected", `é == 'x'`, "expected identifier", 0},
		{"lexical error should win over an earlier grammar error", `a == b && c == 'd`, "unterminated string", 15},
		{"parentheses nested too deeply should be rejected", strings.Repeat("(", MaxNesting+1) + "has(a)" + strings.Repeat(")", MaxNesting+1), "parentheses nested deeper than 1000", MaxNesting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sel, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want error %q", tt.in, sel, tt.wantMsg)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error %T is not a *ParseError", tt.in, err)
			}
			if pe.Msg != tt.wantMsg || pe.Pos != tt.wantPos || pe.Input != tt.in {
				t.Errorf("Parse(%q) error = {Msg: %q, Pos: %d}, want {Msg: %q, Pos: %d}", tt.in, pe.Msg, pe.Pos, tt.wantMsg, tt.wantPos)
			}
		})
	}
}

func TestParseErrorMessage(t *testing.T) {
	t.Parallel()
	long := "a == 'b' && " + strings.Repeat("c", 300) + " = 'd'"
	middle := "x" + strings.Repeat(" ", 300) + "= 'd'" + strings.Repeat(" ", 300)
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"short input should be quoted whole", "a == ", `selector "a == ": expected string at position 5`},
		{"quotes in the input should be escaped", `a == "b`, `selector "a == \"b": unterminated string at position 5`},
		{"long input should be cut before a late position",
			long, `selector "...` + long[213:] + `": expected == at position 313`},
		{"long input should be cut on both sides of a middle position",
			middle, `selector "...` + middle[201:401] + `...": expected == at position 301`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want error", tt.in)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Error() = %q\nwant      %q", got, tt.want)
			}
		})
	}
}

func TestMustParsePanicsOnBadInput(t *testing.T) {
	t.Parallel()
	defer func() {
		r := recover()
		if _, ok := r.(*ParseError); !ok {
			t.Errorf("MustParse panicked with %#v, want a *ParseError", r)
		}
	}()
	MustParse("a ==")
	t.Error("MustParse did not panic")
}

func TestLabelKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"all() should read no labels", "all()", nil},
		{"global() should read no labels", "global()", nil},
		{"has should read its label", "has(a)", []string{"a"}},
		{"negated has should read its label", "!has(a)", []string{"a"}},
		{"every operator should contribute its label", `a == "1" || b != "1" || c contains "1" || d starts with "1" || e ends with "1" || f in {} || g not in {"1"}`, []string{"a", "b", "c", "d", "e", "f", "g"}},
		{"keys should be sorted and de-duplicated", `z == "1" && (a == "2" || has(z)) && !m in {"x"} && a != "3"`, []string{"a", "m", "z"}},
		{"values should not be mistaken for keys", `a == "b"`, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sel := MustParse(tt.in)
			got := sel.LabelKeys()
			if !slices.Equal(got, tt.want) {
				t.Errorf("LabelKeys(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if len(got) > 0 {
				got[0] = "mutated"
				if sel.LabelKeys()[0] == "mutated" {
					t.Error("LabelKeys returned the selector's own slice")
				}
			}
		})
	}
}

func TestUsesGlobal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"global() alone should use global", "global()", true},
		{"negated global() should use global", "!global()", true},
		{"global() deep inside should use global", `has(a) || (b == "c" && !global())`, true},
		{"all() should not use global", "all()", false},
		{"a label called global should not use global", `global == "x"`, false},
		{"global inside a value should not use global", `a == "global()"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := MustParse(tt.in).UsesGlobal(); got != tt.want {
				t.Errorf("UsesGlobal(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestIsAll(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"empty selector should be all", "", true},
		{"all() should be all", "all()", true},
		{"double-negated all() in parentheses should be all", "!(!(all()))", true},
		{"negated all() should not be all", "!all()", false},
		{"all() combined with another operand should not be all", "all() || has(a)", false},
		{"global() should not be all", "global()", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := MustParse(tt.in).IsAll(); got != tt.want {
				t.Errorf("IsAll(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestUniqueID(t *testing.T) {
	t.Parallel()
	t.Run("equal selectors written differently should share an id", func(t *testing.T) {
		a := MustParse(`a=='b'&&c in {'y','x'}`)
		b := MustParse(`(a == "b") && (c in {"x", "y", "x"})`)
		if a.UniqueID() != b.UniqueID() || !a.Equal(b) {
			t.Errorf("ids differ: %s (%s) vs %s (%s)", a.UniqueID(), a, b.UniqueID(), b)
		}
	})
	t.Run("different selectors should have different ids", func(t *testing.T) {
		if a, b := MustParse(`a == "b"`), MustParse(`a != "b"`); a.UniqueID() == b.UniqueID() || a.Equal(b) {
			t.Errorf("%s and %s share id %s", a, b, a.UniqueID())
		}
	})
	t.Run("id should follow Calico's scheme", func(t *testing.T) {
		// sha224("s:all()") in unpadded base64url, computed independently of
		// this package so a change of scheme is caught.
		const want = "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"
		if got := MustParse("").UniqueID(); got != want {
			t.Errorf("UniqueID() = %q, want %q", got, want)
		}
	})
}

func TestZeroAndNilSelectorsShouldBehaveAsAll(t *testing.T) {
	t.Parallel()
	all := MustParse("")
	for name, sel := range map[string]*Selector{"zero": {}, "nil": nil} {
		t.Run(name+" selector should behave as all()", func(t *testing.T) {
			if sel.String() != "all()" || !sel.IsAll() || sel.UniqueID() != all.UniqueID() ||
				!sel.Matches(Map(nil)) || sel.LabelKeys() != nil || sel.UsesGlobal() || !sel.Equal(all) {
				t.Errorf("%s selector does not behave as all()", name)
			}
		})
	}
}
