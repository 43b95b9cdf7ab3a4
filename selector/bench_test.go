package selector

import "testing"

// benchSelector is shaped like a typical policy selector: an equality and a
// set test under && alongside a has() under ||.
const benchSelector = `(app == "web" && tier in {"a","b","c"}) || has(debug)`

// benchLabels is a realistic endpoint label set of ten labels, of the kind
// Calico adds to a Kubernetes pod.
var benchLabels = Map{
	"app":                              "web",
	"tier":                             "b",
	"env":                              "prod",
	"version":                          "v1.2.3",
	"team":                             "payments",
	"pod-template-hash":                "5d8f7c9b6",
	"projectcalico.org/namespace":      "shop",
	"projectcalico.org/orchestrator":   "k8s",
	"projectcalico.org/serviceaccount": "default",
	"app.kubernetes.io/managed-by":     "helm",
}

var benchSink bool

func BenchmarkMatch(b *testing.B) {
	sel := MustParse(benchSelector)
	b.ReportAllocs()
	for b.Loop() {
		benchSink = sel.Matches(benchLabels)
	}
}

func BenchmarkMatchMiss(b *testing.B) {
	sel := MustParse(benchSelector)
	labels := Map{"app": "db", "tier": "z", "env": "prod"}
	b.ReportAllocs()
	for b.Loop() {
		benchSink = sel.Matches(labels)
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(benchSelector); err != nil {
			b.Fatal(err)
		}
	}
}
