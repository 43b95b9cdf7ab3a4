package k8s_test

import (
	"testing"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/conformance"
	"github.com/tabby-project/tabby/k8s"
	"github.com/tabby-project/tabby/selector"
)

// TestConformanceCasesConvert runs every Kubernetes document of the
// conformance suite through the decoder and Convert: each must convert
// without a report, into policies whose selectors all parse.
func TestConformanceCasesConvert(t *testing.T) {
	converted := 0
	for _, c := range conformance.KubernetesCases() {
		t.Run(c.Name, func(t *testing.T) {
			for i, doc := range k8s.SplitYAML([]byte(c.YAML)) {
				objs, ok, err := k8s.DecodeKubernetes(doc)
				if err != nil {
					t.Fatalf("document %d: %v", i, err)
				}
				if !ok {
					continue
				}
				res := k8s.Convert(objs)
				for _, r := range res.Reports {
					t.Errorf("document %d: %s", i, r)
				}
				for _, o := range res.Objects {
					np, isPolicy := o.(*v3.NetworkPolicy)
					if !isPolicy {
						continue
					}
					converted++
					for _, s := range selectorsOf(np) {
						if _, err := selector.Parse(s); err != nil {
							t.Errorf("%s: selector %q does not parse: %v", np.Name, s, err)
						}
					}
				}
			}
		})
	}
	if converted == 0 {
		t.Fatal("no conformance case held a Kubernetes NetworkPolicy")
	}
}

func selectorsOf(np *v3.NetworkPolicy) []string {
	out := []string{np.Spec.Selector}
	for _, rules := range [][]v3.Rule{np.Spec.Ingress, np.Spec.Egress} {
		for _, r := range rules {
			for _, s := range []string{r.Source.Selector, r.Source.NamespaceSelector, r.Destination.Selector, r.Destination.NamespaceSelector} {
				if s != "" {
					out = append(out, s)
				}
			}
		}
	}
	return out
}
