package lab

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// ErrInvalidTopology is wrapped by every error Validate and ParseTopology
// return for a topology that cannot be built.
var ErrInvalidTopology = errors.New("lab: invalid topology")

// Protocol is a transport protocol of a port or a probe, written as Calico
// writes it.
type Protocol string

// The protocols a topology port may serve (TCP, UDP, SCTP) and the one a
// probe may additionally use (ICMP, answered by the kernel).
const (
	TCP  Protocol = "TCP"
	UDP  Protocol = "UDP"
	SCTP Protocol = "SCTP"
	ICMP Protocol = "ICMP"
)

// Topology describes a lab: its hosts and what runs on them. It is decoded
// from YAML (or JSON) with ParseTopology and is independent of the Calico API:
// the caller maps workloads to WorkloadEndpoints and host endpoints to
// HostEndpoints. The YAML is read as YAML 1.1, as kubectl reads it, so names
// such as y, n, yes, no, on and off must be quoted or they become "true" or
// "false".
type Topology struct {
	Hosts []Host `json:"hosts"`
}

// Host is one simulated node. Its name is the Calico node name.
type Host struct {
	Name          string         `json:"name"`
	Workloads     []Workload     `json:"workloads,omitempty"`
	HostEndpoints []HostEndpoint `json:"hostEndpoints,omitempty"`
}

// Workload is a pod or VM on a host: one network namespace with one
// interface, the given IPs and listeners on the given ports.
type Workload struct {
	Namespace      string            `json:"namespace"`
	Name           string            `json:"name"`
	Labels         map[string]string `json:"labels,omitempty"`
	IPs            []string          `json:"ips"`
	Ports          []Port            `json:"ports,omitempty"`
	ServiceAccount string            `json:"serviceAccount,omitempty"`
	// InterfaceName is the host-side interface; empty means the name Calico
	// derives for a Kubernetes pod (see CalicoInterfaceName).
	InterfaceName string `json:"interfaceName,omitempty"`
}

// HostEndpoint is a Calico host endpoint on a host. The lab's hosts have one
// interface of their own, HostInterface, so InterfaceName is HostInterface,
// "*" (all interfaces) or empty (matched by expected IPs: the caller takes
// them from the Fabric's HostInfo). Listeners serve Ports on the host's
// fabric addresses.
type HostEndpoint struct {
	Name          string            `json:"name"`
	InterfaceName string            `json:"interfaceName,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Ports         []Port            `json:"ports,omitempty"`
}

// Port is a port a workload or host endpoint serves. Name, if set, is the
// named port policies may refer to.
type Port struct {
	Port     uint16   `json:"port"`
	Protocol Protocol `json:"protocol"`
	Name     string   `json:"name,omitempty"`
}

// WorkloadRef names a workload by its namespace and name, which are unique in
// a topology.
type WorkloadRef struct {
	Namespace string
	Name      string
}

// String returns "namespace/name".
func (r WorkloadRef) String() string { return r.Namespace + "/" + r.Name }

// Ref returns the workload's reference.
func (w *Workload) Ref() WorkloadRef { return WorkloadRef{Namespace: w.Namespace, Name: w.Name} }

// Interface returns the host-side interface name of the workload: its
// InterfaceName if set, else CalicoInterfaceName(Namespace, Name).
func (w *Workload) Interface() string {
	if w.InterfaceName != "" {
		return w.InterfaceName
	}
	return CalicoInterfaceName(w.Namespace, w.Name)
}

// CalicoInterfaceName returns the host-side veth name Calico's CNI plugin
// gives a Kubernetes pod: "cali" and the first 11 hex digits of the SHA-1 of
// "<namespace>.<name>", 15 characters, the longest a Linux interface name may
// be.
func CalicoInterfaceName(namespace, name string) string {
	sum := sha1.Sum([]byte(namespace + "." + name))
	return "cali" + hex.EncodeToString(sum[:])[:11]
}

// ParseTopology decodes a YAML or JSON topology strictly (unknown fields are
// errors) and validates it.
func ParseTopology(data []byte) (*Topology, error) {
	var t Topology
	if err := yaml.UnmarshalStrict(data, &t); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidTopology, err)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// Validate reports every problem of the topology, each error naming the
// field path (hosts[0].workloads[1].ips[0]) and the bad value, all wrapping
// ErrInvalidTopology. IPs are unique across the topology and outside the
// lab's own ranges (FabricIPv4CIDR, FabricIPv6CIDR, link-local); host names,
// workload namespace/name pairs and host endpoint names are unique; host-side
// interface names are unique per host; ports are unique per protocol within a
// workload or host endpoint.
func (t *Topology) Validate() error {
	v := validator{ips: map[netip.Addr]string{}, workloads: map[WorkloadRef]string{}, heps: map[string]string{}}
	if len(t.Hosts) == 0 {
		v.add("hosts", "at least one host is required")
	}
	if len(t.Hosts) > maxHosts {
		v.add("hosts", fmt.Sprintf("%d hosts, the fabric holds at most %d", len(t.Hosts), maxHosts))
	}
	hostNames := map[string]string{}
	for i := range t.Hosts {
		v.host(fmt.Sprintf("hosts[%d]", i), &t.Hosts[i], hostNames)
	}
	return errors.Join(v.errs...)
}

type validator struct {
	errs      []error
	ips       map[netip.Addr]string
	workloads map[WorkloadRef]string
	heps      map[string]string
}

func (v *validator) add(path, detail string) {
	v.errs = append(v.errs, fmt.Errorf("%w: %s: %s", ErrInvalidTopology, path, detail))
}

func (v *validator) host(path string, h *Host, names map[string]string) {
	v.dnsLabel(path+".name", h.Name)
	if prev, ok := names[h.Name]; ok && h.Name != "" {
		v.add(path+".name", fmt.Sprintf("duplicate host %q (also %s)", h.Name, prev))
	}
	names[h.Name] = path + ".name"
	ifaces := map[string]string{}
	for i := range h.Workloads {
		v.workload(fmt.Sprintf("%s.workloads[%d]", path, i), &h.Workloads[i], ifaces)
	}
	for i := range h.HostEndpoints {
		v.hostEndpoint(fmt.Sprintf("%s.hostEndpoints[%d]", path, i), &h.HostEndpoints[i])
	}
}

func (v *validator) workload(path string, w *Workload, ifaces map[string]string) {
	v.dnsLabel(path+".namespace", w.Namespace)
	v.subdomain(path+".name", w.Name)
	if w.Namespace != "" && w.Name != "" {
		if prev, ok := v.workloads[w.Ref()]; ok {
			v.add(path, fmt.Sprintf("duplicate workload %q (also %s)", w.Ref(), prev))
		}
		v.workloads[w.Ref()] = path
	}
	v.labels(path+".labels", w.Labels)
	if w.ServiceAccount != "" {
		v.subdomain(path+".serviceAccount", w.ServiceAccount)
	}
	if w.InterfaceName != "" {
		v.interfaceName(path+".interfaceName", w.InterfaceName)
	}
	iface := w.Interface()
	if prev, ok := ifaces[iface]; ok {
		v.add(path+".interfaceName", fmt.Sprintf("interface %q already used on this host by %s", iface, prev))
	}
	ifaces[iface] = path
	if len(w.IPs) == 0 {
		v.add(path+".ips", "at least one IP is required")
	}
	for i, s := range w.IPs {
		v.ip(fmt.Sprintf("%s.ips[%d]", path, i), s)
	}
	v.ports(path+".ports", w.Ports)
}

func (v *validator) hostEndpoint(path string, h *HostEndpoint) {
	v.subdomain(path+".name", h.Name)
	if prev, ok := v.heps[h.Name]; ok && h.Name != "" {
		v.add(path+".name", fmt.Sprintf("duplicate host endpoint %q (also %s)", h.Name, prev))
	}
	v.heps[h.Name] = path + ".name"
	switch h.InterfaceName {
	case "", "*", HostInterface:
	default:
		v.add(path+".interfaceName", fmt.Sprintf("%q: a lab host has one interface, so this must be %q, \"*\" or empty", h.InterfaceName, HostInterface))
	}
	v.labels(path+".labels", h.Labels)
	v.ports(path+".ports", h.Ports)
}

func (v *validator) ip(path, s string) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		v.add(path, fmt.Sprintf("%q is not an IP address", s))
		return
	}
	switch {
	case a.Zone() != "":
		v.add(path, fmt.Sprintf("%q: zones are not allowed", s))
	case a.Is4In6():
		v.add(path, fmt.Sprintf("%q: write IPv4 addresses in dotted form", s))
	case a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast():
		v.add(path, fmt.Sprintf("%q: must be a global or private unicast address", s))
	case fabricIPv4.Contains(a) || fabricIPv6.Contains(a):
		v.add(path, fmt.Sprintf("%q: inside the lab's fabric range %s", s, FabricIPv4CIDR+" / "+FabricIPv6CIDR))
	default:
		if prev, ok := v.ips[a]; ok {
			v.add(path, fmt.Sprintf("duplicate IP %q (also %s)", s, prev))
		}
		v.ips[a] = path
	}
}

func (v *validator) ports(path string, ports []Port) {
	type key struct {
		port  uint16
		proto Protocol
	}
	seen := map[key]string{}
	names := map[string]string{}
	for i, p := range ports {
		pp := fmt.Sprintf("%s[%d]", path, i)
		if p.Port == 0 {
			v.add(pp+".port", "must be between 1 and 65535")
		}
		switch p.Protocol {
		case TCP, UDP, SCTP:
		case "":
			v.add(pp+".protocol", "required (TCP, UDP or SCTP)")
		default:
			v.add(pp+".protocol", fmt.Sprintf("%q: must be TCP, UDP or SCTP", p.Protocol))
		}
		k := key{p.Port, p.Protocol}
		if prev, ok := seen[k]; ok {
			v.add(pp, fmt.Sprintf("duplicate port %s/%d (also %s)", p.Protocol, p.Port, prev))
		}
		seen[k] = pp
		if p.Name == "" {
			continue
		}
		for _, msg := range validation.IsValidPortName(p.Name) {
			v.add(pp+".name", fmt.Sprintf("%q: %s", p.Name, msg))
		}
		if prev, ok := names[p.Name]; ok {
			v.add(pp+".name", fmt.Sprintf("duplicate port name %q (also %s)", p.Name, prev))
		}
		names[p.Name] = pp
	}
}

func (v *validator) labels(path string, labels map[string]string) {
	for k, val := range labels {
		for _, msg := range content.IsLabelKey(k) {
			v.add(path, fmt.Sprintf("key %q: %s", k, msg))
		}
		for _, msg := range content.IsLabelValue(val) {
			v.add(fmt.Sprintf("%s[%s]", path, k), fmt.Sprintf("%q: %s", val, msg))
		}
	}
}

func (v *validator) dnsLabel(path, s string) {
	if s == "" {
		v.add(path, "required")
		return
	}
	for _, msg := range content.IsDNS1123Label(s) {
		v.add(path, fmt.Sprintf("%q: %s", s, msg))
	}
}

func (v *validator) subdomain(path, s string) {
	if s == "" {
		v.add(path, "required")
		return
	}
	for _, msg := range content.IsDNS1123Subdomain(s) {
		v.add(path, fmt.Sprintf("%q: %s", s, msg))
	}
}

// interfaceName checks what the kernel accepts (dev_valid_name) and keeps the
// names the lab itself uses free.
func (v *validator) interfaceName(path, s string) {
	switch {
	case len(s) > 15:
		v.add(path, fmt.Sprintf("%q: longer than 15 characters", s))
	case s == "." || s == ".." || strings.ContainsAny(s, "/: \t\n"):
		v.add(path, fmt.Sprintf("%q: not a valid interface name", s))
	case s == HostInterface || s == "lo":
		v.add(path, fmt.Sprintf("%q: reserved for the host's own interfaces", s))
	}
}
