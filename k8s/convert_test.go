package k8s

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v3 "github.com/tabby-project/tabby/api/v3"
)

func TestConvert(t *testing.T) {
	hostPod := runningPod("x", "host", "n1", "192.0.2.1")
	hostPod.Spec.HostNetwork = true
	warned := knp("x", "odd", networkingv1.NetworkPolicySpec{
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		Egress:      []networkingv1.NetworkPolicyEgressRule{{}},
	})
	in := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sa"}},
		runningPod("x", "a", "n1", "10.0.0.1"),
		hostPod,
		&corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "x"}},
		warned,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "bad/name", Namespace: "x"}},
		(*corev1.Pod)(nil),
		(*corev1.ConfigMap)(nil),
		nil,
	}
	res := Convert(in)

	var gotNames []string
	for _, o := range res.Objects {
		gotNames = append(gotNames, v3.KeyOf(o).String())
	}
	wantNames := []string{
		"Profile(kns.x)",
		"Profile(ksa.default.sa)",
		"WorkloadEndpoint(x/n1-k8s-a-eth0)",
		"NetworkPolicy(x/knp.default.odd)",
	}
	if diff := cmp.Diff(wantNames, gotNames); diff != "" {
		t.Errorf("converted objects (-want +got):\n%s", diff)
	}

	type report struct {
		Kind, Namespace, Name string
		Sentinel              error
		Warning               bool
	}
	want := []report{
		{"Pod", "x", "host", ErrHostNetwork, false},
		{"Service", "x", "svc", ErrUnsupportedKind, false},
		{"NetworkPolicy", "x", "odd", nil, true},
		{"Namespace", "", "Bad_Name", ErrInvalid, false},
		{"ServiceAccount", "x", "bad/name", ErrInvalid, false},
		{"Pod", "", "", ErrInvalid, false},
		{"*v1.ConfigMap", "", "", ErrUnsupportedKind, false},
		{"<nil>", "", "", ErrUnsupportedKind, false},
	}
	if len(res.Reports) != len(want) {
		t.Fatalf("got %d reports, want %d: %v", len(res.Reports), len(want), res.Reports)
	}
	for i, w := range want {
		r := res.Reports[i]
		if r.Kind != w.Kind || r.Namespace != w.Namespace || r.Name != w.Name {
			t.Errorf("report %d is about %s %s/%s, want %s %s/%s", i, r.Kind, r.Namespace, r.Name, w.Kind, w.Namespace, w.Name)
		}
		if w.Warning {
			if r.Skipped() || r.Warning == "" || !strings.HasPrefix(r.String(), "warning: ") {
				t.Errorf("report %d = %+v, want a warning", i, r)
			}
			continue
		}
		if !r.Skipped() || !errors.Is(r.Err, w.Sentinel) || !strings.HasPrefix(r.String(), "skipped: ") {
			t.Errorf("report %d = %+v, want a skip wrapping %v", i, r, w.Sentinel)
		}
	}
	if !strings.Contains(res.Reports[0].String(), "pod x/host") {
		t.Errorf("report %q does not name the pod", res.Reports[0])
	}
}

func TestConvertNeverDropsAnInput(t *testing.T) {
	objs := decodeFile(t, "seed003.yaml")
	objs = append(objs, runningPod("x", "pending", "n1"), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "e"}})
	res := Convert(objs)
	skipped := 0
	for _, r := range res.Reports {
		if r.Skipped() {
			skipped++
		}
	}
	if got := len(res.Objects) + skipped; got != len(objs) {
		t.Errorf("%d objects and %d skips for %d inputs", len(res.Objects), skipped, len(objs))
	}
}
