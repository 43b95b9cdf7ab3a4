package analysis

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/k8s"
)

func keys(objs []v3.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = v3.KeyOf(o).String()
	}
	return out
}

func TestDecode(t *testing.T) {
	mixed, err := os.ReadFile("testdata/mixed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files []File
		// want are the keys of the objects, in order.
		want []string
		// wantNotes are substrings of the notes, one per note, in order.
		wantNotes []string
	}{
		{
			name:  "a file may mix Kubernetes and Calico documents, each converted or defaulted as Calico would",
			files: []File{{Name: "mixed.yaml", Data: mixed}},
			want: []string{
				"Profile(kns.shop)",
				"WorkloadEndpoint(shop/node--1-k8s-web-eth0)",
				"Profile(ksa.shop.web)",
				"NetworkPolicy(shop/knp.default.web-ingress)",
				"NetworkPolicy(shop/allow-db)",
				"GlobalNetworkSet(internet)",
				"NetworkPolicy(default/no-namespace)",
			},
			wantNotes: []string{
				"mixed.yaml: document 6 (Pod shop/host-agent): skipped: ",
				"mixed.yaml: document 7 (Deployment shop/web): skipped: analysis reads Kubernetes Namespaces, Pods, ServiceAccounts and NetworkPolicies, not Deployment",
			},
		},
		{
			name: "a resource defined twice is taken from its last definition, with a note naming both places",
			files: []File{
				{Name: "a.yaml", Data: []byte("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec: {order: 1}\n")},
				{Name: "b.yaml", Data: []byte("---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\n---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec: {order: 2}\n")},
			},
			want:      []string{"GlobalNetworkPolicy(p)", "Tier(t)"},
			wantNotes: []string{"b.yaml: document 2 (GlobalNetworkPolicy p): replaces the definition in a.yaml: document 1: the last one is used"},
		},
		{
			name:  "a JSON array of Calico resources is read, its items numbered as documents",
			files: []File{{Name: "list.json", Data: []byte(`[{"apiVersion":"projectcalico.org/v3","kind":"Tier","metadata":{"name":"a"}},{"apiVersion":"projectcalico.org/v3","kind":"Tier","metadata":{"name":"b"}}]`)}},
			want:  []string{"Tier(a)", "Tier(b)"},
		},
		{
			name:      "a file without resources is noted, not an error",
			files:     []File{{Name: "empty.yaml", Data: []byte("# nothing\n---\n")}},
			want:      []string{},
			wantNotes: []string{"empty.yaml: no resources"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, notes, err := Decode(tt.files)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tt.want, keys(objs)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			if len(notes) != len(tt.wantNotes) {
				t.Fatalf("notes: got %q, want %d matching %q", notes, len(tt.wantNotes), tt.wantNotes)
			}
			for i, n := range notes {
				if !strings.Contains(n, tt.wantNotes[i]) {
					t.Errorf("note %d = %q, want it to contain %q", i, n, tt.wantNotes[i])
				}
			}
		})
	}
}

func TestDecodeConvertsAsCalico(t *testing.T) {
	data, err := os.ReadFile("testdata/mixed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, _, err := Decode([]File{{Name: "mixed.yaml", Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	kobjs, ok, err := k8s.DecodeKubernetes(k8s.SplitYAML(data)[3])
	if err != nil || !ok {
		t.Fatalf("document 4 is not the Kubernetes policy: ok=%v err=%v", ok, err)
	}
	want := k8s.Convert(kobjs).Objects[0]
	got := objs[3]
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the Kubernetes policy is not what package k8s makes of it (-want +got):\n%s", diff)
	}
	np, ok := objs[4].(*v3.NetworkPolicy)
	if !ok || np.Spec.Tier != v3.DefaultTierName || len(np.Spec.Types) != 1 || np.Labels[v3.LabelTier] != v3.DefaultTierName {
		t.Errorf("the Calico policy was not defaulted as calicoctl apply would: %+v", objs[4])
	}
}

func TestDecodeProblems(t *testing.T) {
	tests := []struct {
		name  string
		files []File
		// want are the problems, one line each, in order.
		want []string
		// wantIs is a sentinel every problem wraps.
		wantIs error
	}{
		{
			name:   "an unknown field names the file, the document, the resource and the field",
			files:  []File{{Name: "p.yaml", Data: []byte("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\n---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec: {bogus: 1}\n")}},
			want:   []string{"p.yaml: document 2 (NetworkPolicy x/p): spec.bogus: unknown field"},
			wantIs: v3.ErrUnknownField,
		},
		{
			name:  "a Calico resource that does not validate names the field and the bad value",
			files: []File{{Name: "v.yaml", Data: []byte("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  selector: \"a ==\"\n")}},
			want:  []string{`v.yaml: document 1 (GlobalNetworkPolicy p): spec.selector: "a =="`},
		},
		{
			name:   "a Kubernetes policy the API server would refuse is an error naming the document",
			files:  []File{{Name: "k.yaml", Data: []byte("kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\nmetadata: {name: q}\nspec:\n  podSelector: {}\n  bogus: 2\n")}},
			want:   []string{`k.yaml: document 1: k8s: invalid object: decode networking.k8s.io/v1 NetworkPolicy q:`},
			wantIs: k8s.ErrInvalid,
		},
		{
			name:   "a Kubernetes object inside a JSON array cannot be converted",
			files:  []File{{Name: "a.json", Data: []byte(`[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n"}}]`)}},
			want:   []string{"a.json: document 1 (Namespace n): " + ErrKubernetesInList.Error()},
			wantIs: ErrKubernetesInList,
		},
		{
			name:  "a Kubernetes policy of an API version Tabby does not read is an error, not a silently ignored policy",
			files: []File{{Name: "v.yaml", Data: []byte("kind: NetworkPolicy\napiVersion: networking.k8s.io/v1beta1\nmetadata: {name: q, namespace: prod}\nspec: {podSelector: {}}\n")}},
			want:  []string{"v.yaml: document 1 (NetworkPolicy prod/q): a Kubernetes NetworkPolicy of an API version analysis does not read"},
		},
		{
			name:   "a Kubernetes object after a Calico one in a JSON stream cannot be converted",
			files:  []File{{Name: "s.json", Data: []byte(`{"apiVersion":"projectcalico.org/v3","kind":"Tier","metadata":{"name":"t"}} {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}`)}},
			want:   []string{"s.json: document 2 (Pod p): " + ErrKubernetesInList.Error()},
			wantIs: ErrKubernetesInList,
		},
		{
			name:   "text that is neither YAML nor JSON is a syntax error",
			files:  []File{{Name: "s.yaml", Data: []byte("apiVersion: [\n")}},
			want:   []string{"s.yaml: document 1: "},
			wantIs: v3.ErrSyntax,
		},
		{
			name: "problems of several files are all reported, in order",
			files: []File{
				{Name: "one.yaml", Data: []byte("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {nope: 1}\n")},
				{Name: "ok.yaml", Data: []byte("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: fine}\n")},
				{Name: "two.yaml", Data: []byte("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: u}\nspec: {nada: 1}\n")},
			},
			want: []string{
				"one.yaml: document 1 (Tier t): spec.nope: unknown field",
				"two.yaml: document 1 (Tier u): spec.nada: unknown field",
			},
			wantIs: v3.ErrUnknownField,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, _, err := Decode(tt.files)
			if objs != nil {
				t.Errorf("Decode returned objects with a problem: %v", keys(objs))
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %v is not a *LoadError", err)
			}
			if len(le.Problems) != len(tt.want) {
				t.Fatalf("problems:\n%v\nwant %d starting with %q", err, len(tt.want), tt.want)
			}
			for i, p := range le.Problems {
				if !strings.HasPrefix(p.Error(), tt.want[i]) {
					t.Errorf("problem %d = %q, want it to start with %q", i, p.Error(), tt.want[i])
				}
				if tt.wantIs != nil && !errors.Is(p, tt.wantIs) {
					t.Errorf("problem %d (%v) does not wrap %v", i, p, tt.wantIs)
				}
			}
		})
	}
}

func TestNew(t *testing.T) {
	objs, _, err := Decode([]File{{Name: "t.yaml", Data: []byte(`apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: {name: default}
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: h}
spec: {node: n, interfaceName: eth0, expectedIPs: [10.0.0.1]}
`)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a kind the engine does not evaluate is kept but plays no part", func(t *testing.T) {
		m, err := New(objs)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"FelixConfiguration(default)", "HostEndpoint(h)"}, keys(m.Objects())); diff != "" {
			t.Errorf("objects (-want +got):\n%s", diff)
		}
		if got := m.Endpoints(); len(got) != 1 || got[0].Name != "h" {
			t.Errorf("endpoints = %+v, want the host endpoint h", got)
		}
	})
	t.Run("a later object with the key of an earlier one replaces it", func(t *testing.T) {
		later := &v3.HostEndpoint{
			ObjectMeta: metav1.ObjectMeta{Name: "h"},
			Spec:       v3.HostEndpointSpec{Node: "n", InterfaceName: "eth0", ExpectedIPs: []string{"10.0.0.2"}},
		}
		m, err := New(append(objs[:2:2], later))
		if err != nil {
			t.Fatal(err)
		}
		eps := m.Endpoints()
		if len(m.Objects()) != 2 || len(eps) != 1 || eps[0].Addrs[0].String() != "10.0.0.2" {
			t.Errorf("objects %v, endpoints %+v: want the second host endpoint h only", keys(m.Objects()), eps)
		}
	})
	t.Run("a resource the engine cannot compile is an error naming it", func(t *testing.T) {
		bad := &v3.GlobalNetworkPolicy{}
		bad.Name = "broken"
		bad.Spec.Selector = "a =="
		_, err := New([]v3.Object{bad})
		if err == nil || !strings.Contains(err.Error(), "GlobalNetworkPolicy broken") {
			t.Errorf("New = %v, want an error naming GlobalNetworkPolicy broken", err)
		}
	})
}
