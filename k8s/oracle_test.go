package k8s

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	calicov3 "github.com/projectcalico/api/pkg/apis/projectcalico/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// TestOutputDecodesIntoCalicosTypes writes each converted policy and
// profile as JSON and reads it strictly into Calico's own Go types: every
// field must be one Calico knows, and Calico's re-encoding must say the same
// thing. (Calico's WorkloadEndpoint type lives in libcalico-go, not in the
// published API module, so endpoints are not checked here.)
func TestOutputDecodesIntoCalicosTypes(t *testing.T) {
	var objs []v3.Object
	for _, f := range []string{"seed003.yaml", "seed002-front-end.yaml", "default-deny-allow-dns.yaml"} {
		objs = append(objs, Convert(decodeFile(t, f)).Objects...)
	}
	cross, _, err := NetworkPolicy(knp("ns1", "cross", crossSpec()))
	if err != nil {
		t.Fatal(err)
	}
	objs = append(objs, cross, ServiceAccountProfile(&corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "shop", Labels: map[string]string{"role": "backend"}}}))

	checked := 0
	for _, o := range objs {
		var calico any
		switch o.(type) {
		case *v3.NetworkPolicy:
			calico = &calicov3.NetworkPolicy{}
		case *v3.Profile:
			calico = &calicov3.Profile{}
		default:
			continue
		}
		t.Run(v3.KeyOf(o).String()+" reads back unchanged through Calico's type", func(t *testing.T) {
			ours, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(ours))
			dec.DisallowUnknownFields()
			if err := dec.Decode(calico); err != nil {
				t.Fatalf("Calico's type refuses %s: %v", ours, err)
			}
			theirs, err := json.Marshal(calico)
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			if err := json.Unmarshal(ours, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(theirs, &b); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(a, b); diff != "" {
				t.Errorf("Calico re-encodes differently (-ours +calico):\n%s", diff)
			}
		})
		checked++
	}
	if checked < 8 {
		t.Errorf("checked %d objects, want at least 8", checked)
	}
}
