package v3

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NetworkSetSpec lists the networks of a NetworkSet.
type NetworkSetSpec struct {
	Nets []string `json:"nets,omitempty"`
}

// GlobalNetworkSetSpec lists the networks of a GlobalNetworkSet.
type GlobalNetworkSetSpec struct {
	Nets []string `json:"nets,omitempty"`
}

// NetworkSet is a namespaced, labelled group of networks that rule selectors
// can match as if they were endpoints.
type NetworkSet struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              NetworkSetSpec `json:"spec,omitempty"`
}

// GlobalNetworkSet is a cluster-wide, labelled group of networks.
type GlobalNetworkSet struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              GlobalNetworkSetSpec `json:"spec,omitempty"`
}

// ProfileSpec holds the rules applied to an endpoint when no tier decides,
// and labels every endpoint using the profile inherits.
type ProfileSpec struct {
	Ingress       []Rule            `json:"ingress,omitempty"`
	Egress        []Rule            `json:"egress,omitempty"`
	LabelsToApply map[string]string `json:"labelsToApply,omitempty"`
}

// Profile is a named set of rules and labels shared by endpoints.
type Profile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ProfileSpec `json:"spec,omitempty"`
}

// IPNAT is a one-to-one NAT mapping of a workload address.
type IPNAT struct {
	InternalIP string `json:"internalIP"`
	ExternalIP string `json:"externalIP"`
	// Source is what created the mapping ("openstack" for a floating IP).
	// Calico releases before 3.30 always wrote it, so it is kept to read
	// their data; Tabby gives it no meaning.
	Source string `json:"source,omitempty"`
}

// WorkloadEndpointPort is a named port a workload declares, used to resolve
// named ports in rules.
type WorkloadEndpointPort struct {
	Name     string   `json:"name"`
	Protocol Protocol `json:"protocol"`
	Port     uint16   `json:"port"`
	HostPort uint16   `json:"hostPort,omitempty"`
	HostIP   string   `json:"hostIP,omitempty"`
}

// WorkloadEndpointSpec describes one network interface of a workload (a pod,
// a VM, a container).
type WorkloadEndpointSpec struct {
	Orchestrator               string                 `json:"orchestrator,omitempty"`
	Workload                   string                 `json:"workload,omitempty"`
	Node                       string                 `json:"node,omitempty"`
	ContainerID                string                 `json:"containerID,omitempty"`
	Pod                        string                 `json:"pod,omitempty"`
	Endpoint                   string                 `json:"endpoint,omitempty"`
	ServiceAccountName         string                 `json:"serviceAccountName,omitempty"`
	IPNetworks                 []string               `json:"ipNetworks,omitempty"`
	IPNATs                     []IPNAT                `json:"ipNATs,omitempty"`
	IPv4Gateway                string                 `json:"ipv4Gateway,omitempty"`
	IPv6Gateway                string                 `json:"ipv6Gateway,omitempty"`
	Profiles                   []string               `json:"profiles,omitempty"`
	InterfaceName              string                 `json:"interfaceName,omitempty"`
	MAC                        string                 `json:"mac,omitempty"`
	Ports                      []WorkloadEndpointPort `json:"ports,omitempty"`
	AllowSpoofedSourcePrefixes []string               `json:"allowSpoofedSourcePrefixes,omitempty"`
}

// WorkloadEndpoint is a workload's network interface as Calico models it.
type WorkloadEndpoint struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              WorkloadEndpointSpec `json:"spec,omitempty"`
}

// EndpointPort is a named port a host endpoint declares.
type EndpointPort struct {
	Name     string   `json:"name"`
	Protocol Protocol `json:"protocol"`
	Port     uint16   `json:"port"`
}

// HostEndpointSpec describes a host interface that policy protects.
type HostEndpointSpec struct {
	Node          string         `json:"node,omitempty"`
	InterfaceName string         `json:"interfaceName,omitempty"`
	ExpectedIPs   []string       `json:"expectedIPs,omitempty"`
	Profiles      []string       `json:"profiles,omitempty"`
	Ports         []EndpointPort `json:"ports,omitempty"`
}

// HostEndpoint is one of a host's own interfaces under policy.
type HostEndpoint struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              HostEndpointSpec `json:"spec,omitempty"`
}

// ProtoPort is a failsafe port: a protocol (TCP, UDP or SCTP; Default fills
// in TCP when it is empty), a port and an optional network.
type ProtoPort struct {
	Protocol string `json:"protocol,omitempty"`
	Port     uint16 `json:"port"`
	Net      string `json:"net,omitempty"`
}

// FelixConfigurationSpec holds the FelixConfiguration fields Tabby acts on.
// Calico's resource has many more (BPF, BGP, IPIP...) that have no meaning
// here; decoding is strict, so a configuration using them is refused with the
// field named rather than silently half-applied.
type FelixConfigurationSpec struct {
	FailsafeInboundHostPorts    *[]ProtoPort `json:"failsafeInboundHostPorts,omitempty"`
	FailsafeOutboundHostPorts   *[]ProtoPort `json:"failsafeOutboundHostPorts,omitempty"`
	DefaultEndpointToHostAction string       `json:"defaultEndpointToHostAction,omitempty"`
	LogPrefix                   string       `json:"logPrefix,omitempty"`
	PolicySyncPathPrefix        string       `json:"policySyncPathPrefix,omitempty"`
	PrometheusMetricsEnabled    *bool        `json:"prometheusMetricsEnabled,omitempty"`
	PrometheusMetricsPort       *int         `json:"prometheusMetricsPort,omitempty"`
	NFTablesMode                *string      `json:"nftablesMode,omitempty"`
	// DropActionOverride is Drop, Accept, LogAndDrop or LogAndAccept; the
	// LogAnd... values make end-of-tier drops visible in the flow log.
	DropActionOverride string `json:"dropActionOverride,omitempty"`
	// BPFLogLevel (Debug, Info or Off) has no effect in Tabby, which has no
	// eBPF dataplane. It is here because Calico always writes it, empty or
	// not, in every FelixConfiguration it stores or prints, and such data
	// must decode.
	BPFLogLevel string `json:"bpfLogLevel,omitempty"`
}

// FelixConfiguration configures the per-host agent (tabby-node), cluster-wide
// when named "default" or for one node when named "node.<nodename>".
type FelixConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              FelixConfigurationSpec `json:"spec,omitempty"`
}
