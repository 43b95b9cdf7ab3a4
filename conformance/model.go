package conformance

import (
	"fmt"
	"strings"
)

// Peer is a pod of the model, written "ns/name".
type Peer struct {
	Namespace string
	Name      string
}

func (p Peer) String() string { return p.Namespace + "/" + p.Name }

// ParsePeer parses "ns/name".
func ParsePeer(s string) (Peer, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" {
		return Peer{}, fmt.Errorf("peer %q: want namespace/name", s)
	}
	return Peer{Namespace: ns, Name: name}, nil
}

// Model is the cluster every case runs in.
type Model struct {
	Namespaces []string
	Pods       []string
	Ports      []int
	Protocols  []string // TCP, UDP, SCTP
	// Nodes the pods are spread over, so that cases also cross hosts.
	Nodes []string
}

// NewModel returns the upstream model: namespaces x, y, z; pods a, b, c;
// ports 80 and 81; TCP, UDP and SCTP; two nodes.
func NewModel() Model {
	return Model{
		Namespaces: []string{"x", "y", "z"},
		Pods:       []string{"a", "b", "c"},
		Ports:      []int{80, 81},
		Protocols:  []string{"TCP", "UDP", "SCTP"},
		Nodes:      []string{"node-1", "node-2"},
	}
}

// Peers returns every pod of the model in a fixed order (x/a, x/b, ... z/c).
func (m Model) Peers() []Peer {
	var out []Peer
	for _, ns := range m.Namespaces {
		for _, p := range m.Pods {
			out = append(out, Peer{ns, p})
		}
	}
	return out
}

func (m Model) index(p Peer) (ns, pod int) {
	ns, pod = -1, -1
	for i, n := range m.Namespaces {
		if n == p.Namespace {
			ns = i
		}
	}
	for i, n := range m.Pods {
		if n == p.Name {
			pod = i
		}
	}
	return ns, pod
}

// IP returns the pod's IPv4 address: 10.100.<namespace index+1>.<pod index+1>,
// so that each namespace is one /24 and ipBlock cases can name them.
func (m Model) IP(p Peer) string {
	ns, pod := m.index(p)
	return fmt.Sprintf("10.100.%d.%d", ns+1, pod+1)
}

// NamespaceCIDR returns the /24 holding a namespace's pods.
func (m Model) NamespaceCIDR(ns string) string {
	ins, _ := m.index(Peer{Namespace: ns})
	return fmt.Sprintf("10.100.%d.0/24", ins+1)
}

// Node returns the node a pod runs on; neighbours in the model alternate.
func (m Model) Node(p Peer) string {
	ns, pod := m.index(p)
	return m.Nodes[(ns+pod)%len(m.Nodes)]
}

// PortName is the name of the container port serving port over proto.
func PortName(port int, proto string) string {
	return fmt.Sprintf("serve-%d-%s", port, strings.ToLower(proto))
}

// KubernetesYAML returns the model as Kubernetes v1 YAML documents: the
// namespaces (labelled ns=<name> and kubernetes.io/metadata.name=<name>, as
// the API server does) and the pods with their labels, node, IP and named
// container ports. Names and label values are quoted: Kubernetes decodes
// YAML 1.1, in which a bare y would be the boolean true.
func (m Model) KubernetesYAML() string {
	var b strings.Builder
	for _, ns := range m.Namespaces {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %q\n  labels:\n    ns: %q\n    kubernetes.io/metadata.name: %q\n", ns, ns, ns)
	}
	for _, p := range m.Peers() {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %q\n  namespace: %q\n  labels:\n    pod: %q\n", p.Name, p.Namespace, p.Name)
		fmt.Fprintf(&b, "spec:\n  nodeName: %q\n  containers:\n", m.Node(p))
		for _, port := range m.Ports {
			for _, proto := range m.Protocols {
				name := PortName(port, proto)
				fmt.Fprintf(&b, "  - name: cont-%d-%s\n    image: agnhost\n    ports:\n    - name: %s\n      containerPort: %d\n      protocol: %s\n",
					port, strings.ToLower(proto), name, port, proto)
			}
		}
		ip := m.IP(p)
		fmt.Fprintf(&b, "status:\n  phase: Running\n  podIP: %s\n  podIPs:\n  - ip: %s\n", ip, ip)
	}
	return b.String()
}
