package openstack

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v3 "github.com/tabby-project/tabby/api/v3"
)

// Calico's names for OpenStack resources (networking-calico).
const (
	// NamespaceNoRegion is the namespace of a deployment with no region.
	NamespaceNoRegion = "openstack"
	// NamespaceRegionPrefix followed by the region is a region's namespace.
	NamespaceRegionPrefix = "openstack-region-"
	// PolicyPrefix followed by the group ID names a security group's
	// NetworkPolicy.
	PolicyPrefix = "ossg.default."

	// LabelProjectID is the port's project (tenant) ID.
	LabelProjectID = "projectcalico.org/openstack-project-id"
	// LabelProjectName is the project's name in Keystone, sanitised.
	LabelProjectName = "projectcalico.org/openstack-project-name"
	// LabelProjectParentID is the project's parent (its domain for a
	// top-level project).
	LabelProjectParentID = "projectcalico.org/openstack-project-parent-id"
	// LabelNetworkName is the name of the port's network, sanitised.
	LabelNetworkName = "projectcalico.org/openstack-network-name"
	// LabelSGPrefix followed by a group ID labels a VM in that group; the
	// value is the group's name.
	LabelSGPrefix = "sg.projectcalico.org/openstack-"
	// LabelSGNamePrefix followed by a group name labels a VM in that
	// group; the value is the group's ID.
	LabelSGNamePrefix = "sg-name.projectcalico.org/openstack-"
	// AnnotationNetworkID records the port's Neutron network.
	AnnotationNetworkID = "openstack.projectcalico.org/network-id"

	// AnnotationManagedBy marks every resource the sync writes, with value
	// ManagedByValue; the sync updates and deletes nothing without it.
	AnnotationManagedBy = "openstack.tabby-project.github.io/managed-by"
	// ManagedByValue is the value of AnnotationManagedBy.
	ManagedByValue = "tabby-openstack"
)

// Label length limits, as networking-calico sanitises.
const (
	maxLabelValue  = 63
	maxSGNameLabel = maxLabelValue - len(LabelSGNamePrefix)
)

// Namespace returns the Calico namespace of a region: openstack-region-<region>,
// or openstack when region is empty.
func Namespace(region string) string {
	if region == "" {
		return NamespaceNoRegion
	}
	return NamespaceRegionPrefix + region
}

// EndpointName is the WorkloadEndpoint name Calico gives a port:
// <host>-openstack-<device id>-<port id>, each part with "-" doubled.
func EndpointName(p *Port) string {
	esc := func(s string) string { return strings.ReplaceAll(s, "-", "--") }
	return esc(p.HostID) + "-openstack-" + esc(p.DeviceID) + "-" + esc(p.ID)
}

// InterfaceName is the host-side tap interface Nova creates for a port:
// "tap" and the first 11 characters of the port ID.
func InterfaceName(portID string) string {
	if len(portID) > 11 {
		portID = portID[:11]
	}
	return "tap" + portID
}

// PolicyName is the NetworkPolicy name of a security group.
func PolicyName(sgID string) string { return PolicyPrefix + sgID }

// IsVMPort reports whether a port is a bound VM (or Kuryr container) port
// that becomes a WorkloadEndpoint: device_owner compute:* (or
// kuryr:container*) and a binding host.
func IsVMPort(p *Port) bool {
	return (strings.HasPrefix(p.DeviceOwner, "compute:") || strings.HasPrefix(p.DeviceOwner, "kuryr:container")) &&
		p.HostID != ""
}

var unsafeLabelChars = regexp.MustCompile(`[^-_.A-Za-z0-9]`)

// sanitizeLabel makes s a valid label value as networking-calico does:
// truncate, replace other characters by '_', trim non-alphanumerics at both
// ends.
func sanitizeLabel(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	s = unsafeLabelChars.ReplaceAllString(s, "_")
	isAlnum := func(r rune) bool {
		return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
	}
	return strings.TrimFunc(s, func(r rune) bool { return !isAlnum(r) })
}

// Problem is a Neutron object, or part of one, that could not be translated;
// the sync skips it and leaves what it wrote before in place.
type Problem struct {
	// Key is the resource concerned.
	Key v3.Key
	// Reason says what was wrong.
	Reason string
}

// String prints the resource and the reason.
func (p Problem) String() string { return p.Key.String() + ": " + p.Reason }

// Translation is the Calico form of a snapshot.
type Translation struct {
	// Objects are the WorkloadEndpoints and NetworkPolicies, defaulted,
	// valid and marked with AnnotationManagedBy.
	Objects []v3.Object
	// Problems lists what was skipped. A Problem with the key of a whole
	// resource means it was not produced; the sync keeps its old version.
	Problems []Problem
	// Keep are the keys of resources that could not be produced and whose
	// stored version must therefore be kept.
	Keep map[v3.Key]bool
}

// Translate converts a snapshot into the resources of namespace: one
// WorkloadEndpoint per VM port and one NetworkPolicy per security group.
func Translate(s *Snapshot, namespace string) *Translation {
	t := &Translation{Keep: map[v3.Key]bool{}}
	sgNames := make(map[string]string, len(s.SecurityGroups))
	for i := range s.SecurityGroups {
		sg := &s.SecurityGroups[i]
		sgNames[sg.ID] = sanitizeLabel(sg.Name, maxSGNameLabel)
		np, probs := SecurityGroupPolicy(sg, namespace)
		t.add(np, probs)
	}
	ctx := newPortContext(s, sgNames)
	for i := range s.Ports {
		p := &s.Ports[i]
		if !IsVMPort(p) {
			continue
		}
		t.add(ctx.endpoint(p, namespace))
	}
	return t
}

func (t *Translation) add(obj v3.Object, probs []Problem) {
	t.Problems = append(t.Problems, probs...)
	v3.Default(obj)
	if err := v3.Validate(obj); err != nil {
		key := v3.KeyOf(obj)
		t.Problems = append(t.Problems, Problem{Key: key, Reason: err.Error()})
		t.Keep[key] = true
		return
	}
	t.Objects = append(t.Objects, obj)
}

func managedAnnotations(extra map[string]string) map[string]string {
	a := map[string]string{AnnotationManagedBy: ManagedByValue}
	for k, v := range extra {
		a[k] = v
	}
	return a
}

// portContext indexes what ports refer to.
type portContext struct {
	sgNames   map[string]string
	networks  map[string]string  // id → sanitised name
	gateways  map[string]string  // subnet id → gateway
	projects  map[string]Project // id → project
	floatings map[string][]FloatingIP
}

func newPortContext(s *Snapshot, sgNames map[string]string) *portContext {
	c := &portContext{sgNames: sgNames, networks: map[string]string{}, gateways: map[string]string{},
		projects: map[string]Project{}, floatings: map[string][]FloatingIP{}}
	for _, n := range s.Networks {
		c.networks[n.ID] = sanitizeLabel(n.Name, maxLabelValue)
	}
	for _, sn := range s.Subnets {
		if sn.GatewayIP != nil {
			c.gateways[sn.ID] = *sn.GatewayIP
		}
	}
	for _, p := range s.Projects {
		c.projects[p.ID] = p
	}
	for _, f := range s.FloatingIPs {
		if f.PortID != nil && f.FixedIPAddress != nil {
			c.floatings[*f.PortID] = append(c.floatings[*f.PortID], f)
		}
	}
	return c
}

func (c *portContext) endpoint(p *Port, namespace string) (*v3.WorkloadEndpoint, []Problem) {
	w := &v3.WorkloadEndpoint{TypeMeta: metaType(v3.KindWorkloadEndpoint)}
	w.Name, w.Namespace = EndpointName(p), namespace
	key := v3.KeyOf(w)
	var probs []Problem
	labels := map[string]string{
		v3.LabelNamespace:    namespace,
		v3.LabelOrchestrator: v3.OrchestratorOpenStack,
	}
	sgs := append([]string(nil), p.SecurityGroups...)
	sort.Strings(sgs)
	for _, id := range sgs {
		name := c.sgNames[id]
		labels[LabelSGPrefix+id] = name
		if name != "" {
			labels[LabelSGNamePrefix+name] = id
		}
	}
	if proj := p.Project(); proj != "" {
		labels[LabelProjectID] = proj
		if pr, ok := c.projects[proj]; ok {
			labels[LabelProjectName] = sanitizeLabel(pr.Name, maxLabelValue)
			parent := ""
			if pr.ParentID != nil {
				parent = *pr.ParentID
			}
			labels[LabelProjectParentID] = parent
		} else {
			probs = append(probs, Problem{Key: key, Reason: fmt.Sprintf("project %s is not in Keystone's project list: no name or parent labels", proj)})
		}
	}
	if name, ok := c.networks[p.NetworkID]; ok {
		labels[LabelNetworkName] = name
	}
	w.Labels = labels
	w.Annotations = managedAnnotations(map[string]string{AnnotationNetworkID: p.NetworkID})
	spec := &w.Spec
	spec.Orchestrator = v3.OrchestratorOpenStack
	spec.Workload = p.DeviceID
	spec.Node = p.HostID
	spec.Endpoint = p.ID
	spec.InterfaceName = InterfaceName(p.ID)
	spec.MAC = p.MACAddress
	owned := map[netip.Addr]bool{}
	for _, ip := range p.FixedIPs {
		a, err := netip.ParseAddr(ip.IPAddress)
		if err != nil {
			probs = append(probs, Problem{Key: key, Reason: fmt.Sprintf("fixed IP %q is not an address", ip.IPAddress)})
			continue
		}
		owned[a] = true
		spec.IPNetworks = append(spec.IPNetworks, netip.PrefixFrom(a, a.BitLen()).String())
		if gw, ok := c.gateways[ip.SubnetID]; ok {
			if a.Is4() {
				spec.IPv4Gateway = gw
			} else {
				spec.IPv6Gateway = gw
			}
		}
	}
	// A single-address pair is an address the VM owns as Calico models it;
	// a wider one is a range it may send from.
	for _, pair := range p.AllowedAddressPairs {
		pfx, ok := parsePrefix(pair.IPAddress)
		switch {
		case !ok:
			probs = append(probs, Problem{Key: key, Reason: fmt.Sprintf("allowed address pair %q is not an address or CIDR", pair.IPAddress)})
		case pfx.IsSingleIP():
			if !owned[pfx.Addr()] {
				owned[pfx.Addr()] = true
				spec.IPNetworks = append(spec.IPNetworks, pfx.String())
			}
		default:
			spec.AllowSpoofedSourcePrefixes = append(spec.AllowSpoofedSourcePrefixes, pfx.Masked().String())
		}
	}
	fips := c.floatings[p.ID]
	sort.Slice(fips, func(i, j int) bool { return fips[i].FloatingIPAddress < fips[j].FloatingIPAddress })
	for _, f := range fips {
		spec.IPNATs = append(spec.IPNATs, v3.IPNAT{InternalIP: *f.FixedIPAddress, ExternalIP: f.FloatingIPAddress})
	}
	return w, probs
}

func metaType(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: v3.APIVersion, Kind: kind}
}

// parsePrefix reads a CIDR or a bare address (as a full-length prefix).
func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// SecurityGroupPolicy converts a security group to the NetworkPolicy Calico
// writes for it: named PolicyName(sg.ID) in namespace, selecting the VMs
// labelled with the group, one Allow rule per Neutron rule, in the default
// tier with no order (so that it sorts after every ordered policy). A rule
// that cannot be expressed is left out (so its traffic stays denied) and
// reported.
func SecurityGroupPolicy(sg *SecurityGroup, namespace string) (*v3.NetworkPolicy, []Problem) {
	np := &v3.NetworkPolicy{TypeMeta: metaType(v3.KindNetworkPolicy)}
	np.Name, np.Namespace = PolicyName(sg.ID), namespace
	np.Annotations = managedAnnotations(nil)
	np.Spec.Selector = "has(" + LabelSGPrefix + sg.ID + ")"
	var probs []Problem
	rules := append([]SecurityGroupRule(nil), sg.Rules...)
	sort.SliceStable(rules, func(i, j int) bool { return rules[i].ID < rules[j].ID })
	for i := range rules {
		r, err := convertRule(&rules[i])
		if err != nil {
			probs = append(probs, Problem{Key: v3.KeyOf(np), Reason: fmt.Sprintf("rule %s left out: %v", rules[i].ID, err)})
			continue
		}
		if rules[i].Direction == "ingress" {
			np.Spec.Ingress = append(np.Spec.Ingress, r)
		} else {
			np.Spec.Egress = append(np.Spec.Egress, r)
		}
	}
	return np, probs
}

// Neutron's protocol names with their IANA numbers (neutron_lib constants).
var neutronProtocols = map[string]int{
	"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "icmp": 1, "icmpv6": 58, "igmp": 2,
	"ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "ipv6-nonxt": 59,
	"ipv6-opts": 60, "ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132,
	"tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112,
}

// calicoProtocolNames are the numbers Calico has names for.
var calicoProtocolNames = map[int]string{
	1: v3.ProtocolICMP, 6: v3.ProtocolTCP, 17: v3.ProtocolUDP, 58: v3.ProtocolICMPv6,
	132: v3.ProtocolSCTP, 136: v3.ProtocolUDPLite,
}

// protocolNumber resolves a Neutron protocol: 0 means any.
func protocolNumber(p Protocol, ipVersion int) (int, error) {
	s := strings.ToLower(string(p))
	var n int
	switch {
	case s == "" || s == "any" || s == "-1":
		return 0, nil
	case neutronProtocols[s] != 0:
		n = neutronProtocols[s]
	default:
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > 255 {
			return 0, fmt.Errorf("protocol %q is not a Neutron protocol name or a number 0-255", string(p))
		}
		n = v
	}
	// Neutron (and Calico) read icmp in an IPv6 rule as ICMPv6.
	if n == 1 && ipVersion == 6 {
		n = 58
	}
	return n, nil
}

func convertRule(nr *SecurityGroupRule) (v3.Rule, error) {
	r := v3.Rule{Action: v3.Allow}
	var version int
	switch nr.Ethertype {
	case "IPv4":
		version = 4
	case "IPv6":
		version = 6
	default:
		return r, fmt.Errorf("ethertype %q is neither IPv4 nor IPv6", nr.Ethertype)
	}
	if nr.Direction != "ingress" && nr.Direction != "egress" {
		return r, fmt.Errorf("direction %q is neither ingress nor egress", nr.Direction)
	}
	r.IPVersion = &version
	proto, err := protocolNumber(nr.Protocol, version)
	if err != nil {
		return r, err
	}
	if proto == 58 && version == 4 {
		return r, fmt.Errorf("protocol ICMPv6 in an IPv4 rule")
	}
	if proto != 0 {
		p := v3.ProtocolFromInt(proto)
		if name, ok := calicoProtocolNames[proto]; ok {
			p = v3.ProtocolFromString(name)
		}
		r.Protocol = &p
	}
	var ports []v3.Port
	switch {
	case proto == 1 || proto == 58:
		// Neutron keeps the ICMP type in port_range_min and the code in
		// port_range_max.
		typ, code := nr.PortRangeMin, nr.PortRangeMax
		if typ != nil && *typ >= 0 {
			if *typ > 254 {
				return r, fmt.Errorf("ICMP type %d: Calico matches types 0-254", *typ)
			}
			icmp := &v3.ICMPFields{Type: intPtr(*typ)}
			if code != nil && *code >= 0 {
				icmp.Code = intPtr(*code)
			}
			r.ICMP = icmp
		} else if code != nil && *code >= 0 {
			return r, fmt.Errorf("ICMP code %d without a type", *code)
		}
	case nr.PortRangeMin != nil || nr.PortRangeMax != nil:
		lo, hi := 1, 65535
		if nr.PortRangeMin != nil && *nr.PortRangeMin > 0 {
			lo = *nr.PortRangeMin
		}
		if nr.PortRangeMax != nil {
			hi = *nr.PortRangeMax
		} else {
			hi = lo
		}
		if lo > hi || hi > 65535 {
			return r, fmt.Errorf("port range %d-%d", lo, hi)
		}
		if proto != 6 && proto != 17 && proto != 132 {
			return r, fmt.Errorf("a port range with protocol %q: Calico matches ports for TCP, UDP and SCTP only", string(nr.Protocol))
		}
		if lo == hi {
			ports = []v3.Port{v3.SinglePort(lo)}
		} else {
			ports = []v3.Port{v3.PortRange(lo, hi)}
		}
	}
	var peer v3.EntityRule
	if nr.RemoteAddressGroupID != nil && *nr.RemoteAddressGroupID != "" {
		return r, fmt.Errorf("remote address group %s: address groups are not supported", *nr.RemoteAddressGroupID)
	}
	if nr.RemoteGroupID != nil && *nr.RemoteGroupID != "" {
		peer.Selector = "has(" + LabelSGPrefix + *nr.RemoteGroupID + ")"
	}
	if nr.RemoteIPPrefix != nil && *nr.RemoteIPPrefix != "" {
		pfx, ok := parsePrefix(*nr.RemoteIPPrefix)
		if !ok {
			return r, fmt.Errorf("remote IP prefix %q is not a CIDR", *nr.RemoteIPPrefix)
		}
		if (pfx.Addr().Is4() && version != 4) || (pfx.Addr().Is6() && version != 6) {
			return r, fmt.Errorf("remote IP prefix %s does not match ethertype %s", pfx, nr.Ethertype)
		}
		peer.Nets = []string{pfx.Masked().String()}
	}
	// Unlike networking-calico, the port range applies whether or not the
	// rule names a remote: Neutron's "TCP 22 from anywhere" must not
	// become "TCP from anywhere".
	if nr.Direction == "ingress" {
		r.Source = peer
		r.Destination.Ports = ports
	} else {
		peer.Ports = ports
		r.Destination = peer
	}
	return r, nil
}

func intPtr(n int) *int { return &n }
