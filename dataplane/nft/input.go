package nft

import (
	"errors"
	"fmt"
	"net/netip"

	v3 "github.com/tabby-project/tabby/api/v3"
	"github.com/tabby-project/tabby/engine"
)

// ErrNoInterface is returned by HostEndpointOf for a host endpoint that
// names no interface (only expectedIPs): the caller must find the
// interface holding one of those addresses and set Endpoint.Interface.
var ErrNoInterface = errors.New("nft: host endpoint without an interface name")

// AllInterfaces is the Interface of a host endpoint that covers every
// host interface (Calico's interfaceName "*") except loopback, workload
// interfaces and the interfaces of other host endpoints.
const AllInterfaces = "*"

// Input is everything the renderer needs: the local endpoints with their
// computed policy, the profiles they use, and the members of the rule
// selector sets. The agent keeps one Input up to date from the engine
// (DrainSets, then Drain) and passes it to Dataplane.Sync.
type Input struct {
	// Endpoints are the endpoints of this host, workload and host
	// endpoints alike, by key.
	Endpoints map[v3.Key]Endpoint
	// Profiles are the compiled profiles by name. An endpoint's profile
	// that is missing here is skipped, as the engine skips a profile that
	// does not exist.
	Profiles map[string]Profile
	// Sets are the members of the rule selector sets by set ID
	// (engine.Entity.SelectorSet, engine.Engine.SetMembers). A set a rule
	// refers to that is missing here is rendered empty.
	Sets map[string][]engine.SetMember
	// RemotePorts are the named ports of endpoints on other hosts. They are
	// needed only for named ports that refer to remote peers (an egress
	// rule's destination, an ingress rule's source); local endpoints'
	// ports come from Endpoints.
	RemotePorts map[v3.Key]EndpointPorts
}

// Endpoint is a local workload or host endpoint (by Key.Kind) and the
// policy computed for it.
type Endpoint struct {
	Key v3.Key
	// Interface is the host-side interface: a workload endpoint's
	// interfaceName (cali…), a host endpoint's interfaceName, or
	// AllInterfaces.
	Interface string
	// Addrs are the endpoint's addresses; Ports its named ports.
	Addrs []netip.Addr
	Ports []NamedPort
	// Policy is the engine's computed policy; nil is no policy and no
	// profile, which denies everything.
	Policy *engine.EndpointPolicy
}

// NamedPort is a port an endpoint declares by name.
type NamedPort struct {
	Name     string
	Protocol int
	Port     uint16
}

// EndpointPorts are an endpoint's addresses and named ports.
type EndpointPorts struct {
	Addrs []netip.Addr
	Ports []NamedPort
}

// Profile is a compiled profile: its rules per direction.
type Profile struct {
	Ingress []engine.Rule
	Egress  []engine.Rule
}

// WorkloadEndpointOf returns the Endpoint of a workload endpoint and its
// computed policy.
func WorkloadEndpointOf(w *v3.WorkloadEndpoint, pol *engine.EndpointPolicy) (Endpoint, error) {
	key := v3.KeyOf(w)
	if w.Spec.InterfaceName == "" {
		return Endpoint{}, fmt.Errorf("workload endpoint %s: %w", key, ErrNoInterface)
	}
	ports, err := PortsOf(w)
	if err != nil {
		return Endpoint{}, err
	}
	return Endpoint{Key: key, Interface: w.Spec.InterfaceName, Addrs: ports.Addrs, Ports: ports.Ports, Policy: pol}, nil
}

// PortsOf returns the addresses and named ports of a workload endpoint,
// for Input.RemotePorts.
func PortsOf(w *v3.WorkloadEndpoint) (EndpointPorts, error) {
	var out EndpointPorts
	var err error
	if out.Addrs, err = addrsOf(w.Spec.IPNetworks); err != nil {
		return EndpointPorts{}, fmt.Errorf("workload endpoint %s: spec.ipNetworks: %w", v3.KeyOf(w), err)
	}
	for i, p := range w.Spec.Ports {
		np, err := namedPort(p.Name, p.Protocol, p.Port)
		if err != nil {
			return EndpointPorts{}, fmt.Errorf("workload endpoint %s: spec.ports[%d]: %w", v3.KeyOf(w), i, err)
		}
		out.Ports = append(out.Ports, np)
	}
	return out, nil
}

// HostEndpointOf returns the Endpoint of a host endpoint and its computed
// policy. A host endpoint with no interfaceName gives ErrNoInterface (with
// the Endpoint otherwise filled in): the caller resolves its expectedIPs to
// an interface and sets Interface.
func HostEndpointOf(h *v3.HostEndpoint, pol *engine.EndpointPolicy) (Endpoint, error) {
	ep := Endpoint{Key: v3.KeyOf(h), Interface: h.Spec.InterfaceName, Policy: pol}
	var err error
	if ep.Addrs, err = addrsOf(h.Spec.ExpectedIPs); err != nil {
		return Endpoint{}, fmt.Errorf("host endpoint %s: spec.expectedIPs: %w", ep.Key, err)
	}
	for i, p := range h.Spec.Ports {
		np, err := namedPort(p.Name, p.Protocol, p.Port)
		if err != nil {
			return Endpoint{}, fmt.Errorf("host endpoint %s: spec.ports[%d]: %w", ep.Key, i, err)
		}
		ep.Ports = append(ep.Ports, np)
	}
	if ep.Interface == "" {
		return ep, fmt.Errorf("host endpoint %s: %w", ep.Key, ErrNoInterface)
	}
	return ep, nil
}

func addrsOf(nets []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for i, s := range nets {
		p, err := parseNet(s)
		if err != nil {
			return nil, fmt.Errorf("[%d] %q: %w", i, s, err)
		}
		out = append(out, p.Addr())
	}
	return out, nil
}

func namedPort(name string, proto v3.Protocol, port uint16) (NamedPort, error) {
	n, ok := proto.Number()
	if !ok {
		return NamedPort{}, fmt.Errorf("protocol %q: not a protocol", proto)
	}
	return NamedPort{Name: name, Protocol: n, Port: port}, nil
}
