package datastore

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// DefaultAllowProfileName is the name of the profile every Calico datastore
// provides: it allows all ingress and egress, and exists without being
// stored.
const DefaultAllowProfileName = "projectcalico-default-allow"

// DefaultAllowProfile returns a new copy of the static profile as Calico
// returns it: ingress and egress allow all, resourceVersion "1", no uid and
// no creationTimestamp.
func DefaultAllowProfile() *v3.Profile {
	return &v3.Profile{
		TypeMeta: metav1.TypeMeta{APIVersion: v3.APIVersion, Kind: v3.KindProfile},
		ObjectMeta: metav1.ObjectMeta{
			Name:            DefaultAllowProfileName,
			ResourceVersion: "1",
		},
		Spec: v3.ProfileSpec{
			Ingress: []v3.Rule{{Action: v3.Allow}},
			Egress:  []v3.Rule{{Action: v3.Allow}},
		},
	}
}

// IsStatic reports whether key names a resource the datastore provides
// without storing it; writes to such a resource fail with ErrNotSupported.
func IsStatic(key v3.Key) bool {
	return key.Kind == v3.KindProfile && key.Namespace == "" && key.Name == DefaultAllowProfileName
}
