package k8s

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v3 "github.com/tabby-project/tabby/api/v3"
)

func TestSplitYAML(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"one document without markers is one document", "a: 1\nb: 2\n", []string{"a: 1\nb: 2\n"}},
		{"a leading marker starts no empty document", "---\na: 1\n", []string{"a: 1\n"}},
		{"markers separate documents", "a: 1\n---\nb: 2\n---\nc: 3", []string{"a: 1\n", "b: 2\n", "c: 3"}},
		{"documents of only comments and blanks are dropped", "# head\n---\n\n  \n# x\n---\na: 1\n---\n", []string{"a: 1\n"}},
		{"a marker may carry a comment", "a: 1\n--- # next\nb: 2\n", []string{"a: 1\n", "b: 2\n"}},
		{"CRLF line ends are understood", "a: 1\r\n---\r\nb: 2\r\n", []string{"a: 1\r\n", "b: 2\r\n"}},
		{"longer dash runs and indented markers are content", "a: |\n  ---\n----\nb: 1\n", []string{"a: |\n  ---\n----\nb: 1\n"}},
		{"nothing is no documents", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, d := range SplitYAML([]byte(tt.in)) {
				got = append(got, string(d))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SplitYAML(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestDecodeKubernetes(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		want   []runtime.Object
		wantOK bool
	}{
		{
			name: "a Namespace decodes to the upstream type",
			doc:  "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n  labels: {ns: x}\n",
			want: []runtime.Object{&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
				ObjectMeta: metav1.ObjectMeta{Name: "x", Labels: map[string]string{"ns": "x"}}}},
			wantOK: true,
		},
		{
			name: "a ServiceAccount decodes to the upstream type",
			doc:  `{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "api", "namespace": "shop"}}`,
			want: []runtime.Object{&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
				ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "shop"}}},
			wantOK: true,
		},
		{
			name: "a Pod decodes with its status",
			doc:  "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\nspec:\n  nodeName: n1\n  containers: [{name: c, image: i}]\nstatus: {podIP: 10.0.0.1}\n",
			want: []runtime.Object{&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
				ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "x"},
				Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "i"}}},
				Status:     corev1.PodStatus{PodIP: "10.0.0.1"}}},
			wantOK: true,
		},
		{
			name: "an extensions/v1beta1 NetworkPolicy is read as networking.k8s.io/v1",
			doc:  "apiVersion: extensions/v1beta1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector:\n",
			want: []runtime.Object{&networkingv1.NetworkPolicy{TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
				ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "x"}}},
			wantOK: true,
		},
		{
			name: "a List gives its items in order",
			doc: `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: x}
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: p, namespace: x}
  spec: {podSelector: {}}
`,
			want: []runtime.Object{
				&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: "x"}},
				&networkingv1.NetworkPolicy{TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
					ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "x"}},
			},
			wantOK: true,
		},
		{
			name:   "a projectcalico.org/v3 document is left to the Calico decoder",
			doc:    "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {selector: all()}\n",
			wantOK: false,
		},
		{
			name:   "a Kubernetes kind this package does not convert is left alone",
			doc:    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
			wantOK: false,
		},
		{
			name:   "a NetworkPolicy of an unknown group is left alone",
			doc:    "apiVersion: example.com/v1\nkind: NetworkPolicy\nmetadata: {name: d}\n",
			wantOK: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := DecodeKubernetes([]byte(tt.doc))
			if err != nil {
				t.Fatalf("DecodeKubernetes: %v", err)
			}
			if ok != tt.wantOK {
				t.Fatalf("DecodeKubernetes ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeKubernetes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeKubernetesErrors(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		wantOK   bool
		sentinel error
		mention  string
	}{
		{"an unknown field is refused with its name", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {nodeNmae: n1}\n",
			true, ErrInvalid, "nodeNmae"},
		{"a duplicate field is refused", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\nmetadata: {name: b}\n",
			true, ErrInvalid, "v1 Namespace"},
		{"a wrongly typed field is refused", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec: {podSelector: []}\n",
			true, ErrInvalid, "networking.k8s.io/v1 NetworkPolicy x/p"},
		{"a List item of another kind is refused, not dropped", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: s}}\n",
			true, ErrUnsupportedKind, "List item 0: v1 Service s"},
		{"a List inside a List is refused", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: List, items: []}\n",
			true, ErrUnsupportedKind, "List item 0"},
		{"a bad List item names its index", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: a}, bogus: 1}\n",
			true, ErrInvalid, "List item 0"},
		{"a document that is not a mapping is an error", "- just\n- a list\n", false, nil, "header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := DecodeKubernetes([]byte(tt.doc))
			if err == nil {
				t.Fatalf("DecodeKubernetes = %v, want an error", got)
			}
			if ok != tt.wantOK {
				t.Errorf("ok = %v, want %v", ok, tt.wantOK)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("error %v does not wrap %v", err, tt.sentinel)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}

// decodeFile reads a testdata file through SplitYAML and DecodeKubernetes,
// as a command reading -f would.
func decodeFile(t *testing.T, name string) []runtime.Object {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var objs []runtime.Object
	for i, doc := range SplitYAML(data) {
		got, ok, err := DecodeKubernetes(doc)
		if err != nil {
			t.Fatalf("%s document %d: %v", name, i, err)
		}
		if !ok {
			t.Fatalf("%s document %d: not a Kubernetes kind this package converts", name, i)
		}
		objs = append(objs, got...)
	}
	return objs
}

func TestSeedExamples(t *testing.T) {
	allowAll := []v3.Rule{{Action: v3.Allow}}
	nginx := func(pod, node, ip string) *v3.WorkloadEndpoint {
		name, err := WorkloadEndpointName(node, pod)
		if err != nil {
			t.Fatal(err)
		}
		return &v3.WorkloadEndpoint{
			TypeMeta: wepMeta(),
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "advanced-policy-demo", Labels: map[string]string{
				"pod-template-hash": "701339712", "run": "nginx",
				"projectcalico.org/namespace": "advanced-policy-demo", "projectcalico.org/orchestrator": "k8s"}},
			Spec: v3.WorkloadEndpointSpec{Orchestrator: "k8s", Node: node, Pod: pod, Endpoint: "eth0",
				InterfaceName: InterfaceName("advanced-policy-demo", pod), IPNetworks: []string{ip + "/32"},
				Profiles: []string{"kns.advanced-policy-demo"}},
		}
	}
	tests := []struct {
		name string
		file string
		want []v3.Object
	}{
		{
			name: "seed 003's tutorial objects become a profile, two endpoints and two order-1000 policies",
			file: "seed003.yaml",
			want: []v3.Object{
				&v3.Profile{TypeMeta: metav1.TypeMeta{APIVersion: "projectcalico.org/v3", Kind: "Profile"},
					ObjectMeta: metav1.ObjectMeta{Name: "kns.advanced-policy-demo"},
					Spec: v3.ProfileSpec{Ingress: allowAll, Egress: allowAll,
						LabelsToApply: map[string]string{"pcns.projectcalico.org/name": "advanced-policy-demo"}}},
				nginx("nginx-701339712-x1uqe", "k8s-node-01", "192.168.44.65"),
				nginx("nginx-701339712-xeeay", "k8s-node-02", "192.168.44.66"),
				// calicoctl showed "calico/k8s_ns == 'advanced-policy-demo'" in
				// Calico v2; v3 scopes by the policy's namespace instead.
				calicoPolicy("advanced-policy-demo", "default-deny", orch, ingressOnly, nil, nil),
				calicoPolicy("advanced-policy-demo", "access-nginx", orch+" && run == 'nginx'", ingressOnly,
					[]v3.Rule{{Action: v3.Allow, Source: v3.EntityRule{Selector: orch}}}, nil),
			},
		},
		{
			name: "seed 002's front-end policy gets both types from its rules, as the API server defaults them",
			file: "seed002-front-end.yaml",
			want: []v3.Object{
				calicoPolicy("staging", "front-end", orch+" && app == 'back-end'", bothTypes,
					[]v3.Rule{{Action: v3.Allow, Protocol: proto("TCP"),
						Source:      v3.EntityRule{Selector: orch + " && app == 'front-end'"},
						Destination: v3.EntityRule{Ports: []v3.Port{v3.SinglePort(443)}}}},
					[]v3.Rule{{Action: v3.Allow, Protocol: proto("TCP"),
						Destination: v3.EntityRule{Selector: orch + " && app == 'database'", Ports: []v3.Port{v3.SinglePort(27017)}}}}),
			},
		},
		{
			name: "a default deny with a DNS exception allows DNS over TCP and UDP in protocol order",
			file: "default-deny-allow-dns.yaml",
			want: []v3.Object{
				calicoPolicy("advanced-policy-demo", "default-deny", orch, bothTypes, nil, nil),
				calicoPolicy("advanced-policy-demo", "allow-dns", orch, egressOnly, nil, []v3.Rule{
					{Action: v3.Allow, Protocol: proto("TCP"), Destination: v3.EntityRule{
						Selector: orch + " && k8s-app == 'kube-dns'", NamespaceSelector: "kubernetes.io/metadata.name == 'kube-system'",
						Ports: []v3.Port{v3.SinglePort(53)}}},
					{Action: v3.Allow, Protocol: proto("UDP"), Destination: v3.EntityRule{
						Selector: orch + " && k8s-app == 'kube-dns'", NamespaceSelector: "kubernetes.io/metadata.name == 'kube-system'",
						Ports: []v3.Port{v3.SinglePort(53)}}},
				}),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Convert(decodeFile(t, tt.file))
			if len(res.Reports) != 0 {
				t.Errorf("reports: %v", res.Reports)
			}
			if diff := cmp.Diff(tt.want, res.Objects); diff != "" {
				t.Errorf("Convert (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSeed002AsPublishedDoesNotParse(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "seed002-front-end-as-published.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = DecodeKubernetes(data)
	if err == nil || !strings.Contains(err.Error(), "line 14") {
		t.Fatalf("DecodeKubernetes = %v, want a YAML error at line 14, where ports is outdented", err)
	}
}
