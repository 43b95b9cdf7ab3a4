package v3

import (
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group and version of every kind in this package.
const (
	Group      = "projectcalico.org"
	Version    = "v3"
	APIVersion = Group + "/" + Version
)

// Kind names.
const (
	KindNetworkPolicy             = "NetworkPolicy"
	KindGlobalNetworkPolicy       = "GlobalNetworkPolicy"
	KindStagedNetworkPolicy       = "StagedNetworkPolicy"
	KindStagedGlobalNetworkPolicy = "StagedGlobalNetworkPolicy"
	KindTier                      = "Tier"
	KindNetworkSet                = "NetworkSet"
	KindGlobalNetworkSet          = "GlobalNetworkSet"
	KindProfile                   = "Profile"
	KindWorkloadEndpoint          = "WorkloadEndpoint"
	KindHostEndpoint              = "HostEndpoint"
	KindFelixConfiguration        = "FelixConfiguration"
)

// Labels and annotations Calico gives meaning to.
const (
	LabelNamespace      = "projectcalico.org/namespace"
	LabelOrchestrator   = "projectcalico.org/orchestrator"
	LabelServiceAccount = "projectcalico.org/serviceaccount"
	LabelTier           = "projectcalico.org/tier"
	LabelName           = "projectcalico.org/name"
	// AnnotationMetadata records a policy's name as the user gave it, so
	// that names survive Calico 3.29-3.31's tier-prefixed etcd keys.
	AnnotationMetadata = "projectcalico.org/metadata"

	OrchestratorKubernetes = "k8s"
	OrchestratorOpenStack  = "openstack"

	DefaultTierName = "default"
)

// Object is implemented by a pointer to every top-level kind of this package.
// It gives access to the kind (via TypeMeta) and the metadata (via ObjectMeta).
type Object interface {
	metav1.Object
	GetObjectKind() schema.ObjectKind
}

// KindInfo describes a kind: how calicoctl names it, whether it lives in a
// namespace, its etcd plural, and how to make an empty one.
type KindInfo struct {
	Kind       string
	Plural     string // lower-case plural used in etcd keys
	Namespaced bool
	// Aliases are the names calicoctl accepts for the kind, lower case.
	Aliases []string
	// New returns an empty object of the kind with TypeMeta set.
	New func() Object
}

// kinds is the fixed table of kinds; see calico-facts §2.1 for the aliases.
var kinds = []KindInfo{
	{KindNetworkPolicy, "networkpolicies", true,
		[]string{"networkpolicy", "networkpolicies", "policy", "np", "policies", "pol", "pols"},
		func() Object { return &NetworkPolicy{TypeMeta: typeMeta(KindNetworkPolicy)} }},
	{KindGlobalNetworkPolicy, "globalnetworkpolicies", false,
		[]string{"globalnetworkpolicy", "globalnetworkpolicies", "gnp", "gnps"},
		func() Object { return &GlobalNetworkPolicy{TypeMeta: typeMeta(KindGlobalNetworkPolicy)} }},
	{KindStagedNetworkPolicy, "stagednetworkpolicies", true,
		[]string{"stagednetworkpolicy", "stagednetworkpolicies", "stagedpolicy", "snp", "stagedpolicies", "spol", "spols"},
		func() Object { return &StagedNetworkPolicy{TypeMeta: typeMeta(KindStagedNetworkPolicy)} }},
	{KindStagedGlobalNetworkPolicy, "stagedglobalnetworkpolicies", false,
		[]string{"stagedglobalnetworkpolicy", "stagedglobalnetworkpolicies", "sgnp", "sgnps"},
		func() Object { return &StagedGlobalNetworkPolicy{TypeMeta: typeMeta(KindStagedGlobalNetworkPolicy)} }},
	{KindTier, "tiers", false,
		[]string{"tier", "tiers"},
		func() Object { return &Tier{TypeMeta: typeMeta(KindTier)} }},
	{KindNetworkSet, "networksets", true,
		[]string{"networkset", "networksets", "netsets"},
		func() Object { return &NetworkSet{TypeMeta: typeMeta(KindNetworkSet)} }},
	{KindGlobalNetworkSet, "globalnetworksets", false,
		[]string{"globalnetworkset", "globalnetworksets", "gnetsets"},
		func() Object { return &GlobalNetworkSet{TypeMeta: typeMeta(KindGlobalNetworkSet)} }},
	{KindProfile, "profiles", false,
		[]string{"profile", "profiles", "pro", "pros"},
		func() Object { return &Profile{TypeMeta: typeMeta(KindProfile)} }},
	{KindWorkloadEndpoint, "workloadendpoints", true,
		[]string{"workloadendpoint", "workloadendpoints", "wep", "weps"},
		func() Object { return &WorkloadEndpoint{TypeMeta: typeMeta(KindWorkloadEndpoint)} }},
	{KindHostEndpoint, "hostendpoints", false,
		[]string{"hostendpoint", "hostendpoints", "hep", "heps"},
		func() Object { return &HostEndpoint{TypeMeta: typeMeta(KindHostEndpoint)} }},
	{KindFelixConfiguration, "felixconfigurations", false,
		[]string{"felixconfiguration", "felixconfigurations", "felixconfig", "felixconfigs"},
		func() Object { return &FelixConfiguration{TypeMeta: typeMeta(KindFelixConfiguration)} }},
}

func typeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: APIVersion, Kind: kind}
}

// Kinds returns every kind this package knows, in a fixed order.
func Kinds() []KindInfo { return append([]KindInfo(nil), kinds...) }

// LookupKind finds a kind by its name or any calicoctl alias, ignoring case.
func LookupKind(name string) (KindInfo, bool) {
	n := strings.ToLower(name)
	for _, k := range kinds {
		if strings.ToLower(k.Kind) == n {
			return k, true
		}
		for _, a := range k.Aliases {
			if a == n {
				return k, true
			}
		}
	}
	return KindInfo{}, false
}

// KindOf returns the kind of an object, from its Go type (TypeMeta may be
// empty on an object built in code).
func KindOf(o Object) string {
	switch o.(type) {
	case *NetworkPolicy:
		return KindNetworkPolicy
	case *GlobalNetworkPolicy:
		return KindGlobalNetworkPolicy
	case *StagedNetworkPolicy:
		return KindStagedNetworkPolicy
	case *StagedGlobalNetworkPolicy:
		return KindStagedGlobalNetworkPolicy
	case *Tier:
		return KindTier
	case *NetworkSet:
		return KindNetworkSet
	case *GlobalNetworkSet:
		return KindGlobalNetworkSet
	case *Profile:
		return KindProfile
	case *WorkloadEndpoint:
		return KindWorkloadEndpoint
	case *HostEndpoint:
		return KindHostEndpoint
	case *FelixConfiguration:
		return KindFelixConfiguration
	}
	return o.GetObjectKind().GroupVersionKind().Kind
}

// SortObjects sorts objects by kind order of Kinds, then namespace, then name.
func SortObjects(objs []Object) {
	rank := make(map[string]int, len(kinds))
	for i, k := range kinds {
		rank[k.Kind] = i
	}
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		if ra, rb := rank[KindOf(a)], rank[KindOf(b)]; ra != rb {
			return ra < rb
		}
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		return a.GetName() < b.GetName()
	})
}

// Key identifies a resource: its kind, its namespace (empty for global
// kinds) and its name.
type Key struct {
	Kind      string
	Namespace string
	Name      string
}

// KeyOf returns the key of an object.
func KeyOf(o Object) Key {
	return Key{Kind: KindOf(o), Namespace: o.GetNamespace(), Name: o.GetName()}
}

// String prints the key as Calico prints a resource identifier.
func (k Key) String() string {
	if k.Namespace != "" {
		return k.Kind + "(" + k.Namespace + "/" + k.Name + ")"
	}
	return k.Kind + "(" + k.Name + ")"
}
