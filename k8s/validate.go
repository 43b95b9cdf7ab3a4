package k8s

import (
	"fmt"
	"net"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The checks here are the Kubernetes API server's, for the fields this
// package converts (k8s.io/kubernetes pkg/apis/networking/validation and
// pkg/apis/core/validation). Calico relies on them having run: without them
// a bad CIDR would turn a peer into "any endpoint" and an unknown selector
// operator would drop a term, both widening what a policy allows.

var selectorOpts = metav1validation.LabelSelectorValidationOptions{}

var supportedProtocols = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

// validateMeta checks the metadata of an object, with its namespace
// already defaulted to ns (ignored for cluster-scoped kinds).
func validateMeta(m metav1.ObjectMeta, ns string, namespaced bool, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	if namespaced {
		m.Namespace = ns
	}
	return apivalidation.ValidateObjectMeta(&m, namespaced, nameFn, field.NewPath("metadata"))
}

func validateNetworkPolicy(np *networkingv1.NetworkPolicy, ns string) field.ErrorList {
	errs := validateMeta(np.ObjectMeta, ns, true, apivalidation.NameIsDNSSubdomain)
	spec := field.NewPath("spec")
	errs = append(errs, metav1validation.ValidateLabelSelector(&np.Spec.PodSelector, selectorOpts, spec.Child("podSelector"))...)
	for i, r := range np.Spec.Ingress {
		p := spec.Child("ingress").Index(i)
		errs = append(errs, validatePorts(r.Ports, p.Child("ports"))...)
		errs = append(errs, validatePeers(r.From, p.Child("from"))...)
	}
	for i, r := range np.Spec.Egress {
		p := spec.Child("egress").Index(i)
		errs = append(errs, validatePorts(r.Ports, p.Child("ports"))...)
		errs = append(errs, validatePeers(r.To, p.Child("to"))...)
	}
	typesPath := spec.Child("policyTypes")
	if len(np.Spec.PolicyTypes) > 2 {
		errs = append(errs, field.Invalid(typesPath, np.Spec.PolicyTypes, "may not specify more than two policyTypes"))
	}
	for i, t := range np.Spec.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			errs = append(errs, field.NotSupported(typesPath.Index(i), t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}))
		}
	}
	return errs
}

func validatePorts(ports []networkingv1.NetworkPolicyPort, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, port := range ports {
		p := path.Index(i)
		if port.Protocol != nil && !supportedProtocol(*port.Protocol) {
			errs = append(errs, field.NotSupported(p.Child("protocol"), *port.Protocol, supportedProtocols))
		}
		switch {
		case port.Port == nil:
			if port.EndPort != nil {
				errs = append(errs, field.Invalid(p.Child("endPort"), *port.EndPort, "may not be specified when `port` is not specified"))
			}
		case port.Port.Type == intstr.Int:
			for _, msg := range validation.IsValidPortNum(int(port.Port.IntVal)) {
				errs = append(errs, field.Invalid(p.Child("port"), port.Port.IntVal, msg))
			}
			if port.EndPort != nil {
				if *port.EndPort < port.Port.IntVal {
					errs = append(errs, field.Invalid(p.Child("endPort"), *port.EndPort, "must be greater than or equal to `port`"))
				}
				for _, msg := range validation.IsValidPortNum(int(*port.EndPort)) {
					errs = append(errs, field.Invalid(p.Child("endPort"), *port.EndPort, msg))
				}
			}
		default:
			if port.EndPort != nil {
				errs = append(errs, field.Invalid(p.Child("endPort"), *port.EndPort, "may not be specified when `port` is non-numeric"))
			}
			for _, msg := range validation.IsValidPortName(port.Port.StrVal) {
				errs = append(errs, field.Invalid(p.Child("port"), port.Port.StrVal, msg))
			}
		}
	}
	return errs
}

func validatePeers(peers []networkingv1.NetworkPolicyPeer, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, peer := range peers {
		p := path.Index(i)
		n := 0
		if peer.PodSelector != nil {
			n++
			errs = append(errs, metav1validation.ValidateLabelSelector(peer.PodSelector, selectorOpts, p.Child("podSelector"))...)
		}
		if peer.NamespaceSelector != nil {
			n++
			errs = append(errs, metav1validation.ValidateLabelSelector(peer.NamespaceSelector, selectorOpts, p.Child("namespaceSelector"))...)
		}
		if peer.IPBlock != nil {
			n++
			errs = append(errs, validateIPBlock(peer.IPBlock, p.Child("ipBlock"))...)
		}
		switch {
		case n == 0:
			errs = append(errs, field.Required(p, "must specify a peer"))
		case peer.IPBlock != nil && n > 1:
			errs = append(errs, field.Forbidden(p, "may not specify both ipBlock and another peer"))
		}
	}
	return errs
}

func validateIPBlock(b *networkingv1.IPBlock, path *field.Path) field.ErrorList {
	if b.CIDR == "" {
		return field.ErrorList{field.Required(path.Child("cidr"), "")}
	}
	_, cidr, err := net.ParseCIDR(b.CIDR)
	if err != nil {
		return field.ErrorList{field.Invalid(path.Child("cidr"), b.CIDR, "must be a valid CIDR")}
	}
	cidrOnes, _ := cidr.Mask.Size()
	var errs field.ErrorList
	for i, ex := range b.Except {
		p := path.Child("except").Index(i)
		_, exNet, err := net.ParseCIDR(ex)
		if err != nil {
			errs = append(errs, field.Invalid(p, ex, "must be a valid CIDR"))
			continue
		}
		exOnes, _ := exNet.Mask.Size()
		if !cidr.Contains(exNet.IP) || exOnes <= cidrOnes || (cidr.IP.To4() == nil) != (exNet.IP.To4() == nil) {
			errs = append(errs, field.Invalid(p, ex, "must be a strict subset of `cidr`"))
		}
	}
	return errs
}

func supportedProtocol(p corev1.Protocol) bool {
	for _, s := range supportedProtocols {
		if p == s {
			return true
		}
	}
	return false
}

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	return validateMeta(ns.ObjectMeta, "", false, apivalidation.ValidateNamespaceName)
}

func validateServiceAccount(sa *corev1.ServiceAccount, ns string) field.ErrorList {
	return validateMeta(sa.ObjectMeta, ns, true, apivalidation.NameIsDNSSubdomain)
}

func validatePod(pod *corev1.Pod, ns string) field.ErrorList {
	errs := validateMeta(pod.ObjectMeta, ns, true, apivalidation.NameIsDNSSubdomain)
	spec := field.NewPath("spec")
	errs = append(errs, validateContainerPorts(pod.Spec.Containers, spec.Child("containers"))...)
	errs = append(errs, validateContainerPorts(pod.Spec.InitContainers, spec.Child("initContainers"))...)
	return errs
}

func validateContainerPorts(containers []corev1.Container, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, c := range containers {
		for j, port := range c.Ports {
			p := path.Index(i).Child("ports").Index(j)
			if port.Name != "" {
				for _, msg := range validation.IsValidPortName(port.Name) {
					errs = append(errs, field.Invalid(p.Child("name"), port.Name, msg))
				}
			}
			for _, msg := range validation.IsValidPortNum(int(port.ContainerPort)) {
				errs = append(errs, field.Invalid(p.Child("containerPort"), port.ContainerPort, msg))
			}
			if port.HostPort != 0 {
				for _, msg := range validation.IsValidPortNum(int(port.HostPort)) {
					errs = append(errs, field.Invalid(p.Child("hostPort"), port.HostPort, msg))
				}
			}
			if port.Protocol != "" && !supportedProtocol(port.Protocol) {
				errs = append(errs, field.NotSupported(p.Child("protocol"), port.Protocol, supportedProtocols))
			}
			if port.HostIP != "" && net.ParseIP(port.HostIP) == nil {
				errs = append(errs, field.Invalid(p.Child("hostIP"), port.HostIP, "must be a valid IP address"))
			}
		}
	}
	return errs
}

// invalid wraps a validation error list as an ErrInvalid naming the object.
func invalid(kind, ns, name string, errs field.ErrorList) error {
	id := name
	if ns != "" {
		id = ns + "/" + name
	}
	return fmt.Errorf("%w: %s %s: %w", ErrInvalid, kind, id, errs.ToAggregate())
}
