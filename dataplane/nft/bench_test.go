package nft

import (
	"testing"
)

// BenchmarkRender300Endpoints20Policies4000Members renders a node of 300
// endpoints, each selected by the same 20 policies of 10 rules whose
// source is a selector of 4000 members.
func BenchmarkRender300Endpoints20Policies4000Members(b *testing.B) {
	in := largeInput(300, 20, 4000, 1000)
	var st Stats
	b.ReportAllocs()
	for b.Loop() {
		m, err := Render(Config{}, in)
		if err != nil {
			b.Fatal(err)
		}
		st = m.Stats()
	}
	b.ReportMetric(float64(st.Rules), "rules")
	b.ReportMetric(float64(st.Elements), "elements")
}

// BenchmarkDiff300Endpoints20PoliciesOnePolicyChange diffs the models
// before and after one policy's ports change.
func BenchmarkDiff300Endpoints20PoliciesOnePolicyChange(b *testing.B) {
	before, err := Render(Config{}, largeInput(300, 20, 4000, 1000))
	if err != nil {
		b.Fatal(err)
	}
	after, err := Render(Config{}, largeInput(300, 20, 4000, 500))
	if err != nil {
		b.Fatal(err)
	}
	var ch Changes
	b.ReportAllocs()
	for b.Loop() {
		ch = Diff(before, after)
	}
	b.ReportMetric(float64(ch.Messages), "messages")
}
