package engine

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/selector"
)

func TestRegistrationTerm(t *testing.T) {
	// members are label sets added to the index before the selector.
	many := func(n int, labels map[string]string) []map[string]string {
		out := make([]map[string]string, n)
		for i := range out {
			out[i] = labels
		}
		return out
	}
	tests := []struct {
		name     string
		members  []map[string]string
		selector string
		want     term
	}{
		{
			name:     "a selector without a label requirement is unrestricted",
			selector: "app == 'a' || tier == 'fe'",
			want:     term{},
		},
		{
			name:     "in an empty index the namespace label comes first",
			selector: "app == 'a' && projectcalico.org/namespace == 'x'",
			want:     term{kind: termEq, label: v3.LabelNamespace, values: []string{"x"}},
		},
		{
			name:     "in an empty index the orchestrator label comes after any other equality",
			selector: "has(projectcalico.org/namespace) && projectcalico.org/orchestrator == 'k8s' && app == 'a'",
			want:     term{kind: termEq, label: "app", values: []string{"a"}},
		},
		{
			name:     "in an empty index a set of values comes before the orchestrator label",
			selector: "projectcalico.org/orchestrator == 'k8s' && app in {'a', 'b'}",
			want:     term{kind: termIn, label: "app", values: []string{"a", "b"}},
		},
		{
			name:     "in an empty index the orchestrator label comes before mere presence",
			selector: "has(projectcalico.org/namespace) && projectcalico.org/orchestrator == 'k8s'",
			want:     term{kind: termEq, label: v3.LabelOrchestrator, values: []string{"k8s"}},
		},
		{
			name: "the requirement the fewest members meet wins over the namespace label",
			members: append(many(20, map[string]string{v3.LabelNamespace: "x", "tier": "fe"}),
				map[string]string{v3.LabelNamespace: "x", "tier": "fe", "app": "a"}),
			selector: "app == 'a' && projectcalico.org/namespace == 'x' && tier == 'fe'",
			want:     term{kind: termEq, label: "app", values: []string{"a"}},
		},
		{
			name:     "a requirement no member meets yet wins",
			members:  many(5, map[string]string{v3.LabelNamespace: "x"}),
			selector: "projectcalico.org/namespace == 'x' && has(canary)",
			want:     term{kind: termHas, label: "canary"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := newIndex(func(*selEntry, *member, bool) {})
			for i, l := range tt.members {
				ix.addMember(&member{key: wepKey("x", fmt.Sprint(i)), endpoint: true, labels: l})
			}
			e := ix.ref(policyDomain, selector.MustParse(tt.selector))
			if diff := cmp.Diff(tt.want, e.reg, cmp.AllowUnexported(term{})); diff != "" {
				t.Errorf("registered under (-want +got):\n%s", diff)
			}
		})
	}
}
