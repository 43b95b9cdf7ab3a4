package k8s

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// Names, prefixes and values Calico gives Kubernetes-derived objects
// (libcalico-go/lib/backend/k8s/conversion/constants.go and
// kube-controllers/pkg/converter).
const (
	// PolicyNamePrefix starts the name of every NetworkPolicy converted from
	// a Kubernetes NetworkPolicy (kube-controllers'
	// KubernetesNetworkPolicyEtcdPrefix), keeping it apart from Calico
	// policies of the same name.
	PolicyNamePrefix = "knp.default."
	// PolicyOrder is the order of every converted Kubernetes NetworkPolicy.
	PolicyOrder = 1000.0
	// NamespaceProfilePrefix starts the name of a namespace's profile.
	NamespaceProfilePrefix = "kns."
	// ServiceAccountProfilePrefix starts the name of a service account's
	// profile.
	ServiceAccountProfilePrefix = "ksa."
	// NamespaceLabelPrefix starts every label a namespace profile applies.
	NamespaceLabelPrefix = "pcns."
	// ServiceAccountLabelPrefix starts every label a service account profile
	// applies.
	ServiceAccountLabelPrefix = "pcsa."
	// EndpointName is the endpoint of every pod's WorkloadEndpoint.
	EndpointName = "eth0"
	// InterfacePrefix starts the host-side interface name of a pod: Calico's
	// default FELIX_INTERFACEPREFIX.
	InterfacePrefix = "cali"
	// DefaultNamespace is the namespace of an object that names none.
	DefaultNamespace = "default"
)

// Sentinel errors callers branch on.
var (
	// ErrInvalid reports an object the Kubernetes API server would refuse,
	// or one whose fields cannot be converted.
	ErrInvalid = errors.New("k8s: invalid object")
	// ErrUnsupportedKind reports an object or document of a kind this
	// package does not convert.
	ErrUnsupportedKind = errors.New("k8s: unsupported kind")
	// ErrNotEndpoint reports a pod that Calico does not represent as a
	// WorkloadEndpoint. Each reason below wraps it.
	ErrNotEndpoint = errors.New("k8s: pod is not a workload endpoint")
	// ErrHostNetwork: the pod uses the host's network namespace.
	ErrHostNetwork = fmt.Errorf("%w: it uses the host network", ErrNotEndpoint)
	// ErrNotScheduled: the pod has no spec.nodeName.
	ErrNotScheduled = fmt.Errorf("%w: it is not scheduled to a node", ErrNotEndpoint)
	// ErrFinished: the pod has succeeded or failed, so it no longer owns an
	// address.
	ErrFinished = fmt.Errorf("%w: it has finished", ErrNotEndpoint)
	// ErrNoIP: the pod has no address yet.
	ErrNoIP = fmt.Errorf("%w: it has no IP address", ErrNotEndpoint)
)

// PolicyName returns the Calico name of the Kubernetes NetworkPolicy name.
func PolicyName(name string) string { return PolicyNamePrefix + name }

// NamespaceProfileName returns the name of the profile of namespace ns.
func NamespaceProfileName(ns string) string { return NamespaceProfilePrefix + ns }

// ServiceAccountProfileName returns the name of the profile of service
// account sa in namespace ns; an empty ns is "default", as in Calico.
func ServiceAccountProfileName(ns, sa string) string {
	return ServiceAccountProfilePrefix + namespaceOrDefault(ns) + "." + sa
}

// WorkloadEndpointName returns the name Calico gives the WorkloadEndpoint of
// pod on node: "<node>-k8s-<pod>-eth0", each part with its dashes doubled
// (libcalico-go/lib/names WorkloadEndpointIdentifiers). A part that is empty
// or begins or ends with a dash cannot be encoded unambiguously; that is an
// error wrapping ErrInvalid.
func WorkloadEndpointName(node, pod string) (string, error) {
	parts := []struct{ field, value string }{
		{"node", node}, {"orchestrator", v3.OrchestratorKubernetes}, {"pod", pod}, {"endpoint", EndpointName},
	}
	escaped := make([]string, len(parts))
	for i, p := range parts {
		switch {
		case p.value == "":
			return "", fmt.Errorf("%w: workload endpoint name: %s must be set", ErrInvalid, p.field)
		case p.value[0] == '-':
			return "", fmt.Errorf("%w: workload endpoint name: %s %q must not begin with a '-'", ErrInvalid, p.field, p.value)
		case p.value[len(p.value)-1] == '-':
			return "", fmt.Errorf("%w: workload endpoint name: %s %q must not end with a '-'", ErrInvalid, p.field, p.value)
		}
		escaped[i] = strings.ReplaceAll(p.value, "-", "--")
	}
	return strings.Join(escaped, "-"), nil
}

// InterfaceName returns the host-side interface name Calico's CNI plugin
// gives the pod: "cali" and the first 11 hex digits of the SHA-1 of
// "<namespace>.<pod>" (VethNameForWorkload), 15 characters, the Linux limit.
func InterfaceName(namespace, pod string) string {
	sum := sha1.Sum([]byte(namespace + "." + pod))
	return InterfacePrefix + hex.EncodeToString(sum[:])[:11]
}

func namespaceOrDefault(ns string) string {
	if ns == "" {
		return DefaultNamespace
	}
	return ns
}
