package v3

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Action is what a rule does with a packet it matches.
type Action string

// The rule actions. Allow and Deny end evaluation of the tier walk; Log
// records and continues; Pass skips the rest of the tier.
const (
	Allow Action = "Allow"
	Deny  Action = "Deny"
	Log   Action = "Log"
	Pass  Action = "Pass"
)

// PolicyType is a direction a policy governs.
type PolicyType string

// The policy types.
const (
	PolicyTypeIngress PolicyType = "Ingress"
	PolicyTypeEgress  PolicyType = "Egress"
)

// PolicyPerformanceHint is an optional hint to the dataplane.
type PolicyPerformanceHint string

// AssumeNeededOnEveryNode tells the dataplane to program the policy on every
// node whether or not a local endpoint needs it.
const AssumeNeededOnEveryNode PolicyPerformanceHint = "AssumeNeededOnEveryNode"

// StagedAction says whether a staged policy would set or delete its live
// counterpart.
type StagedAction string

// The staged actions. Learn and Ignore exist because Calico's API accepts
// them (its open-source releases give them no behaviour of their own), so
// that Calico data decodes and validates here too.
const (
	StagedActionSet    StagedAction = "Set"
	StagedActionDelete StagedAction = "Delete"
	StagedActionLearn  StagedAction = "Learn"
	StagedActionIgnore StagedAction = "Ignore"
)

// Rule is one ingress or egress rule. All of its match fields are ANDed.
type Rule struct {
	Action      Action        `json:"action"`
	IPVersion   *int          `json:"ipVersion,omitempty"`
	Protocol    *Protocol     `json:"protocol,omitempty"`
	ICMP        *ICMPFields   `json:"icmp,omitempty"`
	NotProtocol *Protocol     `json:"notProtocol,omitempty"`
	NotICMP     *ICMPFields   `json:"notICMP,omitempty"`
	Source      EntityRule    `json:"source,omitempty"`
	Destination EntityRule    `json:"destination,omitempty"`
	HTTP        *HTTPMatch    `json:"http,omitempty"`
	Metadata    *RuleMetadata `json:"metadata,omitempty"`
}

// RuleMetadata carries user annotations on a rule.
type RuleMetadata struct {
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ICMPFields matches an ICMP type and, optionally, code.
type ICMPFields struct {
	Type *int `json:"type,omitempty"`
	Code *int `json:"code,omitempty"`
}

// EntityRule matches the source or destination of a packet.
type EntityRule struct {
	Nets              []string             `json:"nets,omitempty"`
	Selector          string               `json:"selector,omitempty"`
	NamespaceSelector string               `json:"namespaceSelector,omitempty"`
	Services          *ServiceMatch        `json:"services,omitempty"`
	Ports             []Port               `json:"ports,omitempty"`
	NotNets           []string             `json:"notNets,omitempty"`
	NotSelector       string               `json:"notSelector,omitempty"`
	NotPorts          []Port               `json:"notPorts,omitempty"`
	ServiceAccounts   *ServiceAccountMatch `json:"serviceAccounts,omitempty"`
}

// ServiceAccountMatch matches endpoints by their service account.
type ServiceAccountMatch struct {
	Names    []string `json:"names,omitempty"`
	Selector string   `json:"selector,omitempty"`
}

// ServiceMatch matches the endpoints of a Kubernetes Service.
type ServiceMatch struct {
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// HTTPMatch matches attributes of an HTTP request (application layer policy).
type HTTPMatch struct {
	Methods []string   `json:"methods,omitempty"`
	Paths   []HTTPPath `json:"paths,omitempty"`
}

// HTTPPath matches a request path exactly or by prefix; exactly one is set.
type HTTPPath struct {
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
}

// NetworkPolicySpec is the spec of a namespaced policy.
type NetworkPolicySpec struct {
	Tier                   string                  `json:"tier,omitempty"`
	Order                  *float64                `json:"order,omitempty"`
	Ingress                []Rule                  `json:"ingress,omitempty"`
	Egress                 []Rule                  `json:"egress,omitempty"`
	Selector               string                  `json:"selector,omitempty"`
	Types                  []PolicyType            `json:"types,omitempty"`
	ServiceAccountSelector string                  `json:"serviceAccountSelector,omitempty"`
	PerformanceHints       []PolicyPerformanceHint `json:"performanceHints,omitempty"`
}

// GlobalNetworkPolicySpec is the spec of a cluster-wide policy. Only global
// policies may apply to host traffic before conntrack (DoNotTrack), before DNAT
// (PreDNAT) or to forwarded traffic (ApplyOnForward).
type GlobalNetworkPolicySpec struct {
	Tier                   string                  `json:"tier,omitempty"`
	Order                  *float64                `json:"order,omitempty"`
	Ingress                []Rule                  `json:"ingress,omitempty"`
	Egress                 []Rule                  `json:"egress,omitempty"`
	Selector               string                  `json:"selector,omitempty"`
	Types                  []PolicyType            `json:"types,omitempty"`
	DoNotTrack             bool                    `json:"doNotTrack,omitempty"`
	PreDNAT                bool                    `json:"preDNAT,omitempty"`
	ApplyOnForward         bool                    `json:"applyOnForward,omitempty"`
	ServiceAccountSelector string                  `json:"serviceAccountSelector,omitempty"`
	NamespaceSelector      string                  `json:"namespaceSelector,omitempty"`
	PerformanceHints       []PolicyPerformanceHint `json:"performanceHints,omitempty"`
}

// StagedNetworkPolicySpec is a NetworkPolicySpec that is evaluated and
// reported but never enforced.
type StagedNetworkPolicySpec struct {
	StagedAction           StagedAction            `json:"stagedAction,omitempty"`
	Tier                   string                  `json:"tier,omitempty"`
	Order                  *float64                `json:"order,omitempty"`
	Ingress                []Rule                  `json:"ingress,omitempty"`
	Egress                 []Rule                  `json:"egress,omitempty"`
	Selector               string                  `json:"selector,omitempty"`
	Types                  []PolicyType            `json:"types,omitempty"`
	ServiceAccountSelector string                  `json:"serviceAccountSelector,omitempty"`
	PerformanceHints       []PolicyPerformanceHint `json:"performanceHints,omitempty"`
}

// StagedGlobalNetworkPolicySpec is a GlobalNetworkPolicySpec that is
// evaluated and reported but never enforced.
type StagedGlobalNetworkPolicySpec struct {
	StagedAction           StagedAction            `json:"stagedAction,omitempty"`
	Tier                   string                  `json:"tier,omitempty"`
	Order                  *float64                `json:"order,omitempty"`
	Ingress                []Rule                  `json:"ingress,omitempty"`
	Egress                 []Rule                  `json:"egress,omitempty"`
	Selector               string                  `json:"selector,omitempty"`
	Types                  []PolicyType            `json:"types,omitempty"`
	DoNotTrack             bool                    `json:"doNotTrack,omitempty"`
	PreDNAT                bool                    `json:"preDNAT,omitempty"`
	ApplyOnForward         bool                    `json:"applyOnForward,omitempty"`
	ServiceAccountSelector string                  `json:"serviceAccountSelector,omitempty"`
	NamespaceSelector      string                  `json:"namespaceSelector,omitempty"`
	PerformanceHints       []PolicyPerformanceHint `json:"performanceHints,omitempty"`
}

// TierSpec orders a group of policies. DefaultAction (Deny or Pass) applies to
// traffic that a policy of the tier selected but no rule decided.
type TierSpec struct {
	Order         *float64 `json:"order,omitempty"`
	DefaultAction *Action  `json:"defaultAction,omitempty"`
}

// NetworkPolicy is a namespaced, ordered set of rules for the endpoints its
// selector matches in its namespace.
type NetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              NetworkPolicySpec `json:"spec,omitempty"`
}

// GlobalNetworkPolicy is a cluster-wide, ordered set of rules.
type GlobalNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              GlobalNetworkPolicySpec `json:"spec,omitempty"`
}

// StagedNetworkPolicy is a NetworkPolicy under evaluation.
type StagedNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              StagedNetworkPolicySpec `json:"spec,omitempty"`
}

// StagedGlobalNetworkPolicy is a GlobalNetworkPolicy under evaluation.
type StagedGlobalNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              StagedGlobalNetworkPolicySpec `json:"spec,omitempty"`
}

// Tier is an ordered group of policies.
type Tier struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              TierSpec `json:"spec,omitempty"`
}
