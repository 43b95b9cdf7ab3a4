package conformance

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	v3 "github.com/tabby-project/tabby/api/v3"
)

func TestResourcesModel(t *testing.T) {
	m := NewModel()
	objs, err := Resources(m, Case{Name: "nothing"})
	if err != nil {
		t.Fatal(err)
	}
	var profiles []string
	pods := map[Peer]*v3.WorkloadEndpoint{}
	for _, o := range objs {
		switch o := o.(type) {
		case *v3.Profile:
			profiles = append(profiles, o.Name)
		case *v3.WorkloadEndpoint:
			pods[Peer{Namespace: o.Namespace, Name: o.Spec.Pod}] = o
		default:
			t.Errorf("unexpected %s", v3.KeyOf(o))
		}
	}
	if diff := cmp.Diff([]string{"kns.x", "kns.y", "kns.z"}, profiles); diff != "" {
		t.Errorf("profiles (-want +got):\n%s", diff)
	}
	for _, p := range m.Peers() {
		wep := pods[p]
		if wep == nil {
			t.Errorf("no workload endpoint for %s", p)
			continue
		}
		want := struct {
			Labels   map[string]string
			Node     string
			Nets     []string
			Profiles []string
			Ports    int
		}{
			Labels: map[string]string{"pod": p.Name, v3.LabelNamespace: p.Namespace, v3.LabelOrchestrator: v3.OrchestratorKubernetes},
			Node:   m.Node(p), Nets: []string{m.IP(p) + "/32"}, Profiles: []string{"kns." + p.Namespace},
			Ports: len(m.Ports) * len(m.Protocols),
		}
		got := want
		got.Labels, got.Node, got.Nets, got.Profiles, got.Ports = wep.Labels, wep.Spec.Node, wep.Spec.IPNetworks, wep.Spec.Profiles, len(wep.Spec.Ports)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", p, diff)
		}
	}
}

func TestResourcesCase(t *testing.T) {
	m := NewModel()
	tests := []struct {
		name string
		yaml string
		// want is the key of the last object, fact what check says of it.
		want    v3.Key
		check   func(o v3.Object) string
		fact    string
		wantErr string
	}{
		{
			name: "a Kubernetes policy becomes knp.default.<name> in tier default",
			yaml: knp("y", "p", "podSelector: {}\n"),
			want: v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "y", Name: "knp.default.p"},
			check: func(o v3.Object) string {
				np := o.(*v3.NetworkPolicy)
				return np.Spec.Tier + " " + np.Spec.Selector
			},
			fact: "default projectcalico.org/orchestrator == 'k8s'",
		},
		{
			name: "a Calico policy is defaulted as calicoctl does",
			yaml: calico("NetworkPolicy", "x", "p", "selector: all()\negress:\n- action: Allow\n"),
			want: v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "x", Name: "p"},
			check: func(o v3.Object) string {
				np := o.(*v3.NetworkPolicy)
				return np.Spec.Tier + " " + fmtTypes(np.Spec.Types)
			},
			fact: "default Egress",
		},
		{
			name:  "a namespaced Calico kind without a namespace lands in default",
			yaml:  calico("NetworkPolicy", "", "p", "selector: all()\n"),
			want:  v3.Key{Kind: v3.KindNetworkPolicy, Namespace: "default", Name: "p"},
			check: func(o v3.Object) string { return o.(*v3.NetworkPolicy).Spec.Tier },
			fact:  "default",
		},
		{
			name:    "an invalid Calico document fails naming its place",
			yaml:    calico("NetworkPolicy", "x", "p", "selector: all()\n") + calico("NetworkPolicy", "x", "q", "selector: \"pod ==\"\n"),
			wantErr: "document 2",
		},
		{
			name:    "a Kubernetes policy Calico would convert with a warning fails",
			yaml:    knp("x", "p", "podSelector: {}\npolicyTypes: [Ingress]\negress:\n- {}\n"),
			wantErr: "warning",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Resources(m, Case{Name: tt.name, YAML: tt.yaml})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			last := objs[len(objs)-1]
			if got := v3.KeyOf(last); got != tt.want {
				t.Fatalf("last object %s, want %s", got, tt.want)
			}
			if got := tt.check(last); got != tt.fact {
				t.Errorf("got %q, want %q", got, tt.fact)
			}
		})
	}
}

func fmtTypes(ts []v3.PolicyType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}

// TestResourcesEveryCase loads every case and checks that no document fell
// into YAML 1.1's booleans: a selector comparing a label with "true" or
// "false" means a bare y, n, yes, on... was read as a boolean.
func TestResourcesEveryCase(t *testing.T) {
	m := NewModel()
	model, err := Resources(m, Case{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range slices.Concat(KubernetesCases(), CalicoCases()) {
		t.Run(c.Name, func(t *testing.T) {
			objs, err := Resources(m, c)
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) <= len(model) {
				t.Fatalf("the case added no object")
			}
			for _, o := range objs[len(model):] {
				for _, s := range selectors(o) {
					if strings.Contains(s, "'true'") || strings.Contains(s, "'false'") {
						t.Errorf("%s: selector %q compares with a boolean read from YAML", v3.KeyOf(o), s)
					}
				}
			}
		})
	}
}

func selectors(o v3.Object) []string {
	var spec struct {
		sel, ns string
		rules   []v3.Rule
	}
	switch p := o.(type) {
	case *v3.NetworkPolicy:
		spec.sel, spec.rules = p.Spec.Selector, slices.Concat(p.Spec.Ingress, p.Spec.Egress)
	case *v3.GlobalNetworkPolicy:
		spec.sel, spec.ns, spec.rules = p.Spec.Selector, p.Spec.NamespaceSelector, slices.Concat(p.Spec.Ingress, p.Spec.Egress)
	default:
		return nil
	}
	out := []string{spec.sel, spec.ns}
	for _, r := range spec.rules {
		for _, e := range []v3.EntityRule{r.Source, r.Destination} {
			out = append(out, e.Selector, e.NotSelector, e.NamespaceSelector)
		}
	}
	return out
}
