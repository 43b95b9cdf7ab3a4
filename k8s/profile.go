package k8s

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// NamespaceProfile returns the profile Calico keeps for a namespace:
// kns.<name>, applying each namespace label as pcns.<key> and the name as
// pcns.projectcalico.org/name, with rules that allow all ingress and egress
// (which is why a pod no policy selects is open). ns is assumed valid;
// Convert checks it first.
func NamespaceProfile(ns *corev1.Namespace) *v3.Profile {
	labels := make(map[string]string, len(ns.Labels)+1)
	for k, v := range ns.Labels {
		labels[NamespaceLabelPrefix+k] = v
	}
	labels[NamespaceLabelPrefix+v3.LabelName] = ns.Name
	return &v3.Profile{
		TypeMeta:   metav1.TypeMeta{APIVersion: v3.APIVersion, Kind: v3.KindProfile},
		ObjectMeta: metav1.ObjectMeta{Name: NamespaceProfileName(ns.Name)},
		Spec: v3.ProfileSpec{
			Ingress:       []v3.Rule{{Action: v3.Allow}},
			Egress:        []v3.Rule{{Action: v3.Allow}},
			LabelsToApply: labels,
		},
	}
}

// ServiceAccountProfile returns the profile Calico keeps for a service
// account: ksa.<namespace>.<name> (namespace "default" if empty), applying
// each label as pcsa.<key> and the name as pcsa.projectcalico.org/name, with
// no rules. sa is assumed valid; Convert checks it first.
func ServiceAccountProfile(sa *corev1.ServiceAccount) *v3.Profile {
	labels := make(map[string]string, len(sa.Labels)+1)
	for k, v := range sa.Labels {
		labels[ServiceAccountLabelPrefix+k] = v
	}
	labels[ServiceAccountLabelPrefix+v3.LabelName] = sa.Name
	return &v3.Profile{
		TypeMeta:   metav1.TypeMeta{APIVersion: v3.APIVersion, Kind: v3.KindProfile},
		ObjectMeta: metav1.ObjectMeta{Name: ServiceAccountProfileName(sa.Namespace, sa.Name)},
		Spec:       v3.ProfileSpec{LabelsToApply: labels},
	}
}
