package v3

import (
	"encoding/json"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Well-known tiers and their fixed settings (Calico HEAD; see calico-facts
// §3.2). Calico creates them when missing; Validate insists on these
// settings.
const (
	KubeAdminTierName    = "kube-admin"
	KubeBaselineTierName = "kube-baseline"

	DefaultTierOrder      = 1_000_000.0
	KubeAdminTierOrder    = 1_000.0
	KubeBaselineTierOrder = 10_000_000.0
)

// Name prefixes Calico gives to policies it derives from other APIs.
const (
	// KubernetesNetworkPolicyPrefix names a Kubernetes NetworkPolicy stored
	// as a Calico NetworkPolicy (kube-controllers in etcd mode).
	KubernetesNetworkPolicyPrefix = "knp.default."
	// AdminNetworkPolicyPrefix names a Kubernetes AdminNetworkPolicy.
	AdminNetworkPolicyPrefix = "kanp.adminnetworkpolicy."
	// BaselineAdminNetworkPolicyPrefix names a Kubernetes
	// BaselineAdminNetworkPolicy.
	BaselineAdminNetworkPolicyPrefix = "kbanp.baselineadminnetworkpolicy."
	// OpenStackSecurityGroupPrefix names a policy derived from an OpenStack
	// security group.
	OpenStackSecurityGroupPrefix = "ossg."
)

// Default fills in what Calico's client fills in before it validates and
// stores a resource. It is idempotent and changes nothing else.
//
//   - Every kind: apiVersion and kind.
//   - (Staged)(Global)NetworkPolicy: spec.tier "" becomes "default"; the
//     label projectcalico.org/tier is set to the tier; spec.types, when
//     empty, becomes [Ingress] if there are no egress rules, [Egress] if
//     there are egress rules and no ingress rules, and [Ingress, Egress]
//     if both (not for a staged policy whose stagedAction is Delete, whose
//     spec must stay empty).
//   - Tier: a nil defaultAction becomes Deny.
//   - WorkloadEndpoint: the labels projectcalico.org/namespace and
//     projectcalico.org/orchestrator are set from the namespace and
//     spec.orchestrator, when those are set.
//   - FelixConfiguration: a failsafe port without a protocol gets TCP, the
//     documented default.
//
// Default does not set a namespace: calicoctl decides that ("default", or
// its -n flag).
func Default(o Object) {
	if o == nil {
		return
	}
	gvk := o.GetObjectKind().GroupVersionKind()
	if kind := KindOf(o); kind != "" && (gvk.Kind == "" || gvk.Version == "") {
		o.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{Group: Group, Version: Version, Kind: kind})
	}
	switch r := o.(type) {
	case *NetworkPolicy:
		defaultPolicy(o, &r.Spec.Tier, &r.Spec.Types, r.Spec.Ingress, r.Spec.Egress)
	case *GlobalNetworkPolicy:
		defaultPolicy(o, &r.Spec.Tier, &r.Spec.Types, r.Spec.Ingress, r.Spec.Egress)
	case *StagedNetworkPolicy:
		types := &r.Spec.Types
		if r.Spec.StagedAction == StagedActionDelete {
			types = nil
		}
		defaultPolicy(o, &r.Spec.Tier, types, r.Spec.Ingress, r.Spec.Egress)
	case *StagedGlobalNetworkPolicy:
		types := &r.Spec.Types
		if r.Spec.StagedAction == StagedActionDelete {
			types = nil
		}
		defaultPolicy(o, &r.Spec.Tier, types, r.Spec.Ingress, r.Spec.Egress)
	case *Tier:
		if r.Spec.DefaultAction == nil {
			deny := Deny
			r.Spec.DefaultAction = &deny
		}
	case *WorkloadEndpoint:
		if r.Namespace != "" {
			setLabel(o, LabelNamespace, r.Namespace)
		}
		if r.Spec.Orchestrator != "" {
			setLabel(o, LabelOrchestrator, r.Spec.Orchestrator)
		}
	case *FelixConfiguration:
		defaultProtoPorts(r.Spec.FailsafeInboundHostPorts)
		defaultProtoPorts(r.Spec.FailsafeOutboundHostPorts)
	}
}

func defaultPolicy(o Object, tier *string, types *[]PolicyType, ingress, egress []Rule) {
	if *tier == "" {
		*tier = DefaultTierName
	}
	setLabel(o, LabelTier, *tier)
	if types == nil || len(*types) > 0 {
		return
	}
	switch {
	case len(egress) == 0:
		*types = []PolicyType{PolicyTypeIngress}
	case len(ingress) == 0:
		*types = []PolicyType{PolicyTypeEgress}
	default:
		*types = []PolicyType{PolicyTypeIngress, PolicyTypeEgress}
	}
}

func setLabel(o Object, key, value string) {
	labels := o.GetLabels()
	if labels[key] == value {
		return
	}
	if labels == nil {
		labels = make(map[string]string, 1)
	}
	labels[key] = value
	o.SetLabels(labels)
}

func defaultProtoPorts(ports *[]ProtoPort) {
	if ports == nil {
		return
	}
	for i := range *ports {
		if (*ports)[i].Protocol == "" {
			(*ports)[i].Protocol = ProtocolTCP
		}
	}
}

// TierOrDefault returns tier, or "default" if tier is empty.
func TierOrDefault(tier string) string {
	if tier == "" {
		return DefaultTierName
	}
	return tier
}

// LegacyPolicyName returns the name under which Calico 3.29 to 3.31 stored a
// (Staged)(Global)NetworkPolicy (its etcd key and metadata.name): names of
// policies derived from Kubernetes or OpenStack (prefixes knp.default.,
// kanp.adminnetworkpolicy., kbanp.baselineadminnetworkpolicy., ossg.) and
// names that already contain a dot are unchanged; any other name gets its
// tier as a prefix, "default." for the default tier.
//
// Those releases refused a dotless name outside the default tier; giving it
// the "<tier>." prefix is what they would have required of the user.
func LegacyPolicyName(name, tier string) string {
	if hasDerivedPolicyPrefix(name) || strings.Contains(name, ".") {
		return name
	}
	return TierOrDefault(tier) + "." + name
}

func hasDerivedPolicyPrefix(name string) bool {
	for _, p := range []string{KubernetesNetworkPolicyPrefix, AdminNetworkPolicyPrefix,
		BaselineAdminNetworkPolicyPrefix, OpenStackSecurityGroupPrefix} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// PolicyNameFromStored returns the name a user gave a policy stored under
// name by any Calico release: the name recorded in the
// projectcalico.org/metadata annotation wins; otherwise a leading "default."
// is removed when tier is "default" or empty (the migration path Calico
// HEAD applies to data written by 3.29 to 3.31).
func PolicyNameFromStored(name, tier string, annotations map[string]string) string {
	if n, ok := annotatedPolicyName(annotations); ok {
		return n
	}
	if TierOrDefault(tier) == DefaultTierName {
		if rest, ok := strings.CutPrefix(name, DefaultTierName+"."); ok && rest != "" {
			return rest
		}
	}
	return name
}

func annotatedPolicyName(annotations map[string]string) (string, bool) {
	v, ok := annotations[AnnotationMetadata]
	if !ok {
		return "", false
	}
	var meta struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(v), &meta); err != nil || meta.Name == "" {
		return "", false
	}
	return meta.Name, true
}

// PolicyMetadataAnnotation returns the value Calico writes in the
// projectcalico.org/metadata annotation of a stored policy: {"name":"<name>"}.
func PolicyMetadataAnnotation(name string) string {
	b, err := json.Marshal(struct {
		Name string `json:"name"`
	}{name})
	if err != nil {
		// Marshalling a struct of one string cannot fail.
		panic(err)
	}
	return string(b)
}

// TierFromPolicyName returns the tier a Calico 3.29 to 3.31 policy name
// implies: "default" for knp.default. and ossg. names and for names without
// a dot, "adminnetworkpolicy" and "baselineadminnetworkpolicy" for the
// Kubernetes admin policy prefixes, and otherwise the text before the first
// dot.
func TierFromPolicyName(name string) string {
	switch {
	case strings.HasPrefix(name, KubernetesNetworkPolicyPrefix), strings.HasPrefix(name, OpenStackSecurityGroupPrefix):
		return DefaultTierName
	case strings.HasPrefix(name, AdminNetworkPolicyPrefix):
		return "adminnetworkpolicy"
	case strings.HasPrefix(name, BaselineAdminNetworkPolicyPrefix):
		return "baselineadminnetworkpolicy"
	}
	tier, _, found := strings.Cut(name, ".")
	if !found {
		return DefaultTierName
	}
	return tier
}
