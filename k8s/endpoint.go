package k8s

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// Pod annotations Calico reads (libcalico-go/lib/backend/k8s/conversion).
const (
	annotationPodIP                 = "cni.projectcalico.org/podIP"
	annotationPodIPs                = "cni.projectcalico.org/podIPs"
	annotationAWSPodIPs             = "vpc.amazonaws.com/pod-ips"
	annotationContainerID           = "cni.projectcalico.org/containerID"
	annotationFloatingIPs           = "cni.projectcalico.org/floatingIPs"
	annotationAllowedSourcePrefixes = "cni.projectcalico.org/allowedSourcePrefixes"
	annotationNetworkStatus         = "k8s.v1.cni.cncf.io/network-status"
)

// podCompleted is a phase Calico also treats as finished, although the
// Kubernetes API does not define it.
const podCompleted corev1.PodPhase = "Completed"

// WorkloadEndpoint converts a pod into the WorkloadEndpoint Calico makes of
// it (PodToWorkloadEndpoints): name <node>-k8s-<pod>-eth0 (see
// WorkloadEndpointName); the pod's labels plus projectcalico.org/namespace,
// projectcalico.org/orchestrator=k8s and, for a service account name shorter
// than 63 characters, projectcalico.org/serviceaccount; profiles kns.<ns>
// and, with a service account, ksa.<ns>.<sa>; the addresses of status.podIPs
// (else status.podIP, else Calico's and AWS's IP annotations) as /32 or /128
// networks; interface InterfaceName(ns, pod); and the container and init
// container ports that have a name or a host port (protocol tcp, udp or
// sctp in Calico's lower-case spelling, TCP when unset).
//
// Calico gives no endpoint to a pod on the host network, one not scheduled
// to a node, one that has finished, or one without an address: those return
// an error wrapping ErrHostNetwork, ErrNotScheduled, ErrFinished or ErrNoIP,
// all of which wrap ErrNotEndpoint, so that callers can skip the pod and say
// why. A pod the API server would refuse, or whose addresses or Calico
// annotations do not parse, is an error wrapping ErrInvalid.
func WorkloadEndpoint(pod *corev1.Pod) (*v3.WorkloadEndpoint, error) {
	if pod == nil {
		return nil, fmt.Errorf("%w: nil Pod", ErrInvalid)
	}
	ns := namespaceOrDefault(pod.Namespace)
	if errs := validatePod(pod, ns); len(errs) > 0 {
		return nil, invalid("Pod", ns, pod.Name, errs)
	}
	switch {
	case pod.Spec.HostNetwork:
		return nil, fmt.Errorf("pod %s/%s: %w", ns, pod.Name, ErrHostNetwork)
	case pod.Spec.NodeName == "":
		return nil, fmt.Errorf("pod %s/%s: %w", ns, pod.Name, ErrNotScheduled)
	case finished(pod):
		return nil, fmt.Errorf("pod %s/%s: %w", ns, pod.Name, ErrFinished)
	case !hasIP(pod):
		return nil, fmt.Errorf("pod %s/%s: %w", ns, pod.Name, ErrNoIP)
	}

	name, err := WorkloadEndpointName(pod.Spec.NodeName, pod.Name)
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", ns, pod.Name, err)
	}
	nets, err := podIPNets(pod)
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", ns, pod.Name, err)
	}
	natIPs, err := floatingIPs(pod.Annotations, nets)
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", ns, pod.Name, err)
	}
	spoofable, err := allowedSourcePrefixes(pod.Annotations)
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", ns, pod.Name, err)
	}

	sa := pod.Spec.ServiceAccountName
	profiles := []string{NamespaceProfileName(ns)}
	if sa != "" {
		profiles = append(profiles, ServiceAccountProfileName(ns, sa))
	}

	labels := make(map[string]string, len(pod.Labels)+3)
	for k, v := range pod.Labels {
		labels[k] = v
	}
	labels[v3.LabelNamespace] = ns
	labels[v3.LabelOrchestrator] = v3.OrchestratorKubernetes
	// Longer names are not valid label values; Calico leaves the label out.
	if sa != "" && len(sa) < 63 {
		labels[v3.LabelServiceAccount] = sa
	}

	ipNetworks := make([]string, len(nets))
	for i, n := range nets {
		ipNetworks[i] = n.String()
	}

	wep := &v3.WorkloadEndpoint{
		TypeMeta:   metav1.TypeMeta{APIVersion: v3.APIVersion, Kind: v3.KindWorkloadEndpoint},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: v3.WorkloadEndpointSpec{
			Orchestrator:               v3.OrchestratorKubernetes,
			Node:                       pod.Spec.NodeName,
			Pod:                        pod.Name,
			ContainerID:                pod.Annotations[annotationContainerID],
			Endpoint:                   EndpointName,
			InterfaceName:              InterfaceName(ns, pod.Name),
			Profiles:                   profiles,
			IPNetworks:                 ipNetworks,
			Ports:                      endpointPorts(pod),
			IPNATs:                     natIPs,
			ServiceAccountName:         sa,
			AllowSpoofedSourcePrefixes: spoofable,
		},
	}
	if v, ok := pod.Annotations[annotationNetworkStatus]; ok {
		wep.Annotations = map[string]string{annotationNetworkStatus: v}
	}
	return wep, nil
}

// finished reports whether the pod no longer owns its addresses: it has
// succeeded or failed, or it is being deleted and the CNI plugin has
// cleared its IP annotation (Calico's IsFinished).
func finished(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil {
		if ip, ok := pod.Annotations[annotationPodIP]; ok && ip == "" {
			return true
		}
		if ips, ok := pod.Annotations[annotationAWSPodIPs]; ok && ips == "" {
			return true
		}
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed, podCompleted:
		return true
	}
	return false
}

// hasIP is Calico's HasIPAddress: the plural fields are only ever set
// together with their singular ones.
func hasIP(pod *corev1.Pod) bool {
	return pod.Status.PodIP != "" || pod.Annotations[annotationPodIP] != "" || pod.Annotations[annotationAWSPodIPs] != ""
}

// podIPNets returns the pod's addresses from the first source that has
// any, in Calico's order of preference, each as a network: an address
// becomes a /32 or /128, a CIDR is masked to its network.
func podIPNets(pod *corev1.Pod) ([]*net.IPNet, error) {
	var raw []string
	switch {
	case len(pod.Status.PodIPs) > 0:
		for _, ip := range pod.Status.PodIPs {
			raw = append(raw, ip.IP)
		}
	case pod.Status.PodIP != "":
		raw = []string{pod.Status.PodIP}
	case pod.Annotations[annotationPodIPs] != "":
		raw = strings.Split(pod.Annotations[annotationPodIPs], ",")
	case pod.Annotations[annotationPodIP] != "":
		raw = []string{pod.Annotations[annotationPodIP]}
	case pod.Annotations[annotationAWSPodIPs] != "":
		raw = strings.Split(pod.Annotations[annotationAWSPodIPs], ",")
	}
	nets := make([]*net.IPNet, 0, len(raw))
	for _, s := range raw {
		n, err := parseCIDROrIP(s)
		if err != nil {
			return nil, fmt.Errorf("%w: pod IP %q is neither an IP address nor a CIDR", ErrInvalid, s)
		}
		nets = append(nets, n)
	}
	return nets, nil
}

func parseCIDROrIP(s string) (*net.IPNet, error) {
	if _, n, err := net.ParseCIDR(s); err == nil {
		return n, nil
	}
	ip := net.ParseIP(s)
	if ip == nil {
		return nil, fmt.Errorf("invalid IP address %q", s)
	}
	if v4 := ip.To4(); v4 != nil {
		return &net.IPNet{IP: v4, Mask: net.CIDRMask(32, 32)}, nil
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(128, 128)}, nil
}

// floatingIPs maps each address of the floatingIPs annotation (a JSON list)
// to the pod's address of the same family, as Calico does; an address with
// no pod address of its family is left out.
func floatingIPs(annotations map[string]string, nets []*net.IPNet) ([]v3.IPNAT, error) {
	a, ok := annotations[annotationFloatingIPs]
	if !ok || len(nets) == 0 {
		return nil, nil
	}
	var ips []string
	if err := json.Unmarshal([]byte(a), &ips); err != nil {
		return nil, fmt.Errorf("%w: annotation %s: %q is not a JSON list of addresses: %w", ErrInvalid, annotationFloatingIPs, a, err)
	}
	var v4, v6 *net.IPNet
	for _, n := range nets {
		ones, _ := n.Mask.Size()
		if n.IP.To4() != nil {
			if ones != 32 {
				return nil, fmt.Errorf("%w: pod IP %s is not a valid IPv4 address: mask size is %d, not 32", ErrInvalid, n, ones)
			}
			v4 = n
		} else {
			if ones != 128 {
				return nil, fmt.Errorf("%w: pod IP %s is not a valid IPv6 address: mask size is %d, not 128", ErrInvalid, n, ones)
			}
			v6 = n
		}
	}
	var out []v3.IPNAT
	for _, ip := range ips {
		target := v4
		if strings.Contains(ip, ":") {
			target = v6
		}
		if target != nil {
			out = append(out, v3.IPNAT{InternalIP: target.IP.String(), ExternalIP: ip})
		}
	}
	return out, nil
}

// allowedSourcePrefixes reads the JSON list of CIDRs the pod may send from,
// each masked to its network.
func allowedSourcePrefixes(annotations map[string]string) ([]string, error) {
	a := annotations[annotationAllowedSourcePrefixes]
	if a == "" {
		return nil, nil
	}
	var prefixes []string
	if err := json.Unmarshal([]byte(a), &prefixes); err != nil {
		return nil, fmt.Errorf("%w: annotation %s: %q is not a JSON list of CIDRs: %w", ErrInvalid, annotationAllowedSourcePrefixes, a, err)
	}
	var out []string
	for _, p := range prefixes {
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			return nil, fmt.Errorf("%w: annotation %s: %q is not a CIDR", ErrInvalid, annotationAllowedSourcePrefixes, p)
		}
		out = append(out, n.String())
	}
	return out, nil
}

// endpointPorts lists the ports of containers, then init containers, that
// have a name or a host port; named ports in policy resolve against them.
func endpointPorts(pod *corev1.Pod) []v3.WorkloadEndpointPort {
	var out []v3.WorkloadEndpointPort
	for _, containers := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range containers {
			for _, p := range c.Ports {
				if p.ContainerPort == 0 || (p.HostPort == 0 && p.Name == "") {
					continue
				}
				out = append(out, v3.WorkloadEndpointPort{
					Name:     p.Name,
					Protocol: v3.ProtocolFromString(endpointProtocol(p.Protocol)),
					Port:     uint16(p.ContainerPort),
					HostPort: uint16(p.HostPort),
					HostIP:   p.HostIP,
				})
			}
		}
	}
	return out
}

// endpointProtocol spells a validated container port protocol as Calico
// writes it on endpoints: lower case, TCP when unset.
func endpointProtocol(p corev1.Protocol) string {
	switch p {
	case corev1.ProtocolUDP:
		return "udp"
	case corev1.ProtocolSCTP:
		return "sctp"
	default:
		return "tcp"
	}
}
