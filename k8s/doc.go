// Package k8s converts Kubernetes objects into the projectcalico.org/v3
// objects Calico makes of them, so that Tabby sees a Kubernetes cluster
// exactly as Calico running on etcd does (kube-controllers writing policies
// and profiles, the CNI plugin writing workload endpoints, both through
// libcalico-go's conversion code).
//
//	Namespace          → Profile kns.<ns>, labelsToApply pcns.<k>: v, allow-all rules
//	ServiceAccount     → Profile ksa.<ns>.<sa>, labelsToApply pcsa.<k>: v, no rules
//	Pod                → WorkloadEndpoint <node>-k8s-<pod>-eth0, interface cali<sha1>
//	NetworkPolicy      → NetworkPolicy knp.default.<name>, tier default, order 1000
//
// Inputs are the upstream types of k8s.io/api (core/v1, networking/v1);
// DecodeKubernetes reads them strictly from YAML or JSON documents and
// Convert turns a batch of them into Calico objects plus a Report for every
// object it could not convert or converted with a warning.
//
// # Fidelity to Calico
//
// Names, selector strings, rule order and field contents are Calico's to the
// byte, as read from libcalico-go/lib/backend/k8s/conversion (conversion.go,
// workload_endpoint_default.go, constants.go), libcalico-go/lib/names
// (workloadendpoint.go) and kube-controllers/pkg/converter:
//
//   - A policy selector is "projectcalico.org/orchestrator == 'k8s'" followed
//     by the matchLabels in sorted key order and the matchExpressions in the
//     order given, joined with " && ". Namespace selectors lack the
//     orchestrator term; an empty one is "all()" and a missing one is "".
//   - One Kubernetes rule becomes one Calico rule per protocol (sorted by
//     name) per peer (in order); each carries every port of its protocol,
//     with numeric ports merged into the fewest ranges as Calico's
//     SimplifyPorts does. A port without a protocol is TCP: the API server
//     defaults it, and Calico's rule conversion also does. A rule without
//     ports has no protocol; a port with no number allows its whole protocol.
//   - An ipBlock peer gives only nets (the CIDR, masked to its network) and
//     notNets (the exceptions); any other peer gives a pod selector (always
//     with the orchestrator term) and a namespace selector.
//   - Egress rules in a policy whose policyTypes lack Egress are kept, as
//     Calico keeps them, and reported as a warning.
//   - Metadata is what kube-controllers writes in etcd mode: name and
//     namespace for policies, name alone for profiles. Workload endpoints
//     carry name, namespace, labels and the network-status annotation;
//     UIDs, timestamps and resource versions, which the datastore assigns,
//     are left out.
//
// # Where Tabby differs, and why
//
// Calico reads objects the Kubernetes API server has already defaulted and
// validated. Tabby reads files, so this package does the API server's part
// first:
//
//   - An empty namespace is "default", as kubectl and calicoctl assume.
//   - A port without a protocol is TCP.
//   - A policy without policyTypes gets [Ingress], plus Egress when it has
//     egress rules. So Calico's own fallback, [Ingress] for a policy naming
//     neither type, is never reached, and the egress-rules warning only
//     arises when policyTypes is given without Egress.
//   - An object the API server would refuse (a bad selector operator or
//     label value, a port out of range, an except outside its CIDR, a peer
//     naming nothing) is an error wrapping ErrInvalid, never a silently
//     widened or dropped rule as Calico's converter would make of it.
//
// The spec.tier of converted policies is set to "default", which Calico's
// client fills in when it reads a knp.default. policy back. The QoS-control
// annotations of pods have no field in Tabby's WorkloadEndpoint and are not
// read. The interface name always uses Calico's default prefix "cali"
// (Calico reads FELIX_INTERFACEPREFIX from the environment; this package
// does no I/O).
//
// # Invariants
//
//   - Every function is pure: no I/O, no global mutable state, inputs are
//     never modified and outputs share no memory with them.
//   - Every selector string produced parses with the selector package.
//   - Convert never drops an object silently: each input yields a Calico
//     object, a Report saying why not, or both (a warning).
package k8s
