package k8s

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/selector"
)

// policySelectors returns every selector string of a converted policy.
func policySelectors(np *v3.NetworkPolicy) []string {
	out := []string{np.Spec.Selector}
	for _, rules := range [][]v3.Rule{np.Spec.Ingress, np.Spec.Egress} {
		for _, r := range rules {
			for _, e := range []v3.EntityRule{r.Source, r.Destination} {
				for _, s := range []string{e.Selector, e.NamespaceSelector} {
					if s != "" {
						out = append(out, s)
					}
				}
			}
		}
	}
	return out
}

func TestConvertedSelectorsParse(t *testing.T) {
	var objs []v3.Object
	for _, f := range []string{"seed003.yaml", "seed002-front-end.yaml", "default-deny-allow-dns.yaml"} {
		objs = append(objs, Convert(decodeFile(t, f)).Objects...)
	}
	var policies []*v3.NetworkPolicy
	for _, o := range objs {
		if np, ok := o.(*v3.NetworkPolicy); ok {
			policies = append(policies, np)
		}
	}
	if len(policies) == 0 {
		t.Fatal("no policies converted")
	}
	for _, np := range policies {
		for _, s := range policySelectors(np) {
			if _, err := selector.Parse(s); err != nil {
				t.Errorf("%s: selector %q does not parse: %v", np.Name, s, err)
			}
		}
	}
}

// TestSelectorsMatchWhatKubernetesSelects checks the meaning of the
// selector strings, not only their spelling: each Kubernetes selector form,
// converted and parsed, selects exactly the endpoints Kubernetes would
// select.
func TestSelectorsMatchWhatKubernetesSelects(t *testing.T) {
	k8sPod := func(kv ...string) selector.Map {
		m := selector.Map{"projectcalico.org/orchestrator": "k8s"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name     string
		in       *metav1.LabelSelector
		matches  []selector.Map
		excludes []selector.Map
	}{
		{
			name:     "an empty pod selector selects every Kubernetes pod and nothing else",
			in:       &metav1.LabelSelector{},
			matches:  []selector.Map{k8sPod(), k8sPod("app", "x")},
			excludes: []selector.Map{{}, {"projectcalico.org/orchestrator": "openstack"}},
		},
		{
			name:     "matchLabels require every label",
			in:       labels("app", "web", "tier", "front"),
			matches:  []selector.Map{k8sPod("app", "web", "tier", "front", "extra", "1")},
			excludes: []selector.Map{k8sPod("app", "web"), k8sPod("app", "web", "tier", "back"), {"app": "web", "tier": "front"}},
		},
		{
			name: "In, NotIn, Exists and DoesNotExist select as Kubernetes does",
			in: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "env", Operator: metav1.LabelSelectorOpIn, Values: []string{"prod", "staging"}},
				{Key: "team", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"red"}},
				{Key: "app", Operator: metav1.LabelSelectorOpExists},
				{Key: "legacy", Operator: metav1.LabelSelectorOpDoesNotExist},
			}},
			matches: []selector.Map{
				k8sPod("env", "prod", "app", "a"),
				k8sPod("env", "staging", "app", "", "team", "blue"),
			},
			excludes: []selector.Map{
				k8sPod("env", "dev", "app", "a"),
				k8sPod("app", "a"),
				k8sPod("env", "prod", "app", "a", "team", "red"),
				k8sPod("env", "prod"),
				k8sPod("env", "prod", "app", "a", "legacy", ""),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := selector.Parse(PodSelector(tt.in))
			if err != nil {
				t.Fatalf("PodSelector %q does not parse: %v", PodSelector(tt.in), err)
			}
			k8sSel, err := metav1.LabelSelectorAsSelector(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.matches {
				if !s.Matches(m) {
					t.Errorf("%s does not match %v", s, m)
				}
			}
			for _, m := range tt.excludes {
				if s.Matches(m) {
					t.Errorf("%s matches %v", s, m)
				}
			}
			// Among Kubernetes pods, Calico's selector and Kubernetes' own
			// agree on every sample.
			for _, m := range append(append([]selector.Map{}, tt.matches...), tt.excludes...) {
				if m["projectcalico.org/orchestrator"] != "k8s" {
					continue
				}
				plain := map[string]string{}
				for k, v := range m {
					if k != "projectcalico.org/orchestrator" {
						plain[k] = v
					}
				}
				if got, want := s.Matches(m), k8sSel.Matches(k8slabels.Set(plain)); got != want {
					t.Errorf("%s on %v = %v, Kubernetes says %v", s, m, got, want)
				}
			}
			ns, err := selector.Parse(NamespaceSelector(tt.in))
			if err != nil {
				t.Fatalf("NamespaceSelector %q does not parse: %v", NamespaceSelector(tt.in), err)
			}
			for _, m := range tt.matches {
				plain := selector.Map{}
				for k, v := range m {
					if k != "projectcalico.org/orchestrator" {
						plain[k] = v
					}
				}
				if !ns.Matches(plain) {
					t.Errorf("namespace selector %s does not match %v", ns, plain)
				}
			}
		})
	}
}
