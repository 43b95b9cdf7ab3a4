package k8s

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
)

func TestNamespaceProfile(t *testing.T) {
	profileMeta := metav1.TypeMeta{APIVersion: "projectcalico.org/v3", Kind: "Profile"}
	allowAll := []v3.Rule{{Action: v3.Allow}}
	tests := []struct {
		name string
		in   *corev1.Namespace
		want *v3.Profile
	}{
		{
			name: "a namespace without labels applies only its name",
			in:   &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "advanced-policy-demo"}},
			want: &v3.Profile{TypeMeta: profileMeta, ObjectMeta: metav1.ObjectMeta{Name: "kns.advanced-policy-demo"},
				Spec: v3.ProfileSpec{Ingress: allowAll, Egress: allowAll,
					LabelsToApply: map[string]string{"pcns.projectcalico.org/name": "advanced-policy-demo"}}},
		},
		{
			name: "every namespace label is applied with the pcns. prefix",
			in: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x", UID: "c0ffee00-0000-4000-8000-000000000000",
				Labels: map[string]string{"ns": "x", "kubernetes.io/metadata.name": "x", "team": "blue"}}},
			want: &v3.Profile{TypeMeta: profileMeta, ObjectMeta: metav1.ObjectMeta{Name: "kns.x"},
				Spec: v3.ProfileSpec{Ingress: allowAll, Egress: allowAll, LabelsToApply: map[string]string{
					"pcns.ns": "x", "pcns.kubernetes.io/metadata.name": "x", "pcns.team": "blue",
					"pcns.projectcalico.org/name": "x"}}},
		},
		{
			name: "a namespace label projectcalico.org/name cannot override the name",
			in: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "real",
				Labels: map[string]string{"projectcalico.org/name": "fake"}}},
			want: &v3.Profile{TypeMeta: profileMeta, ObjectMeta: metav1.ObjectMeta{Name: "kns.real"},
				Spec: v3.ProfileSpec{Ingress: allowAll, Egress: allowAll,
					LabelsToApply: map[string]string{"pcns.projectcalico.org/name": "real"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.in.DeepCopy()
			if diff := cmp.Diff(tt.want, NamespaceProfile(tt.in)); diff != "" {
				t.Errorf("NamespaceProfile (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tt.in); diff != "" {
				t.Errorf("NamespaceProfile modified its input:\n%s", diff)
			}
		})
	}
}

func TestServiceAccountProfile(t *testing.T) {
	profileMeta := metav1.TypeMeta{APIVersion: "projectcalico.org/v3", Kind: "Profile"}
	tests := []struct {
		name string
		in   *corev1.ServiceAccount
		want *v3.Profile
	}{
		{
			name: "a service account profile applies its labels with the pcsa. prefix and has no rules",
			in: &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "shop",
				Labels: map[string]string{"role": "backend"}}},
			want: &v3.Profile{TypeMeta: profileMeta, ObjectMeta: metav1.ObjectMeta{Name: "ksa.shop.api"},
				Spec: v3.ProfileSpec{LabelsToApply: map[string]string{
					"pcsa.role": "backend", "pcsa.projectcalico.org/name": "api"}}},
		},
		{
			name: "a service account without a namespace is in default",
			in:   &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}},
			want: &v3.Profile{TypeMeta: profileMeta, ObjectMeta: metav1.ObjectMeta{Name: "ksa.default.builder"},
				Spec: v3.ProfileSpec{LabelsToApply: map[string]string{"pcsa.projectcalico.org/name": "builder"}}},
		},
		{
			name: "a dotted service account name is kept whole",
			in:   &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "test.foo", Namespace: "default"}},
			want: &v3.Profile{TypeMeta: profileMeta, ObjectMeta: metav1.ObjectMeta{Name: "ksa.default.test.foo"},
				Spec: v3.ProfileSpec{LabelsToApply: map[string]string{"pcsa.projectcalico.org/name": "test.foo"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ServiceAccountProfile(tt.in)); diff != "" {
				t.Errorf("ServiceAccountProfile (-want +got):\n%s", diff)
			}
		})
	}
}
